"""Asking for a "save as dataset" or a "copy dataset here" (issue #17): checked, audited, recorded.

Everything a refusal depends on is checked before the record is written, with the rules of
job staging: the store must be one of the cluster's endpoint names (anything else audited as
``staging.refused`` with stage-out's reasons) inside the allowed regions (``other_region``,
403, audited), the directory is a plain path (``area_dir``: the stager's own rule) that the
cluster, as the caller's login, says is a directory reached without a link (a link, or a
path through one, is refused 422 and audited as ``unsafe_path``). A copy goes into a writable
area only, the dataset's cluster must be inside the allowed regions (stage-in's check), and
an existing target is refused (409) unless ``replace`` says otherwise. The worker
(``runner``) checks residency and containment again right before the bytes move.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from myriagate.db.models.dataset_transfers import DatasetTransfer
from myriagate.db.models.users import User
from myriagate.db.repos import dataset_transfers as repo
from myriagate.domain.dataset_transfers import TransferKind, TransferState, area_dir, dataset_name, place
from myriagate.domain.files import FileKind
from myriagate.domain.staging import escaped, store_refusal
from myriagate.errors import (
    AlreadyExists,
    FieldError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Text,
    UnsafeValue,
)
from myriagate.ports import Clock
from myriagate.profiles.file_areas import FileArea
from myriagate.profiles.logins import check_personal_login
from myriagate.profiles.models import ClusterProfile, Storage
from myriagate.services.common import audit
from myriagate.services.dataset_transfers.records import TransferRecord
from myriagate.services.files.browser import FileBrowser, file_area
from myriagate.services.staging import datasets as datasets_service
from myriagate.services.staging.plan import ResidencyContext
from myriagate.services.staging.residency import audit_refusal, cluster_location, storage_location

MAX_LIST = 200


@dataclass(frozen=True)
class SaveRequest:
    cluster: str
    area: str
    path: str
    name: str
    store: str
    account: str | None = None


@dataclass(frozen=True)
class CopyRequest:
    dataset_id: uuid.UUID
    area: str
    path: str
    cluster: str | None = None
    replace: bool = False


@dataclass(frozen=True)
class DatasetTransfers:
    """The use cases; ``files`` checks paths on the cluster as the caller's own login."""

    files: FileBrowser
    residency: ResidencyContext
    clock: Clock

    def save(self, session: Session, user: User, request: SaveRequest) -> TransferRecord:
        """Queue the save of an area's directory to ``request.store`` as a new dataset."""
        now = self.clock.now()
        profile, _area = self._area(user, request.cluster, request.area)
        path = self._path(user, request.path, now, what="save as dataset")
        name = dataset_name(request.name)
        storage = self._store(profile, user, request.store, now)
        self.residency.check(storage_location(storage), actor=user.id, what="save as dataset", at=now)
        account = _account(user, profile, request.account)
        entry = self._stat(user, profile.name, request.area, path, now, what="save as dataset")
        if entry is None:
            raise NotFound(Text("no directory %(path)s", path=repr(place(request.area, path))))
        if entry is not FileKind.DIRECTORY:
            raise InvalidRequest(
                Text("%(path)s is not a directory: save a directory", path=repr(place(request.area, path))),
                fields=[FieldError(("body", "path"), Text("not a directory"))],
            )
        row = self._row(user, TransferKind.SAVE, profile.name, request.area, path, uuid.uuid4(), now)
        row.name, row.endpoint, row.slurm_account = name, storage.name, account
        row.output_dir = uuid.uuid4().hex  # random: nobody can plant a link at a name derived from an id
        return self._record(session, user, row, "dataset.save_requested", now)

    def copy(self, session: Session, user: User, request: CopyRequest) -> TransferRecord:
        """Queue the copy of a visible dataset into a directory of a writable area."""
        now = self.clock.now()
        dataset = datasets_service.get_dataset(session, dataset_id=request.dataset_id, user=user).dataset
        if request.cluster is not None and request.cluster != dataset.cluster:
            raise InvalidRequest(
                Text(
                    "dataset %(dataset)s is stored for %(cluster)s: copy it into an area of that cluster",
                    dataset=dataset.id,
                    cluster=dataset.cluster,
                ),
                fields=[FieldError(("body", "cluster"), Text("not the dataset's cluster"))],
            )
        profile, area = self._area(user, dataset.cluster, request.area)
        if not area.writable:
            raise PermissionDenied(
                Text("the area %(area)s on %(cluster)s is read-only", area=area.name, cluster=profile.name)
            )
        path = self._path(user, request.path, now, what="copy dataset here")
        if profile.storage_endpoint(dataset.endpoint) is None:
            raise InvalidRequest(
                Text(
                    "dataset %(dataset)s is on endpoint %(endpoint)s, no longer declared",
                    dataset=dataset.id,
                    endpoint=repr(dataset.endpoint),
                )
            )
        self.residency.check(cluster_location(profile), actor=user.id, what="copy dataset here", at=now)
        kind = self._stat(user, profile.name, area.name, path, now, what="copy dataset here")
        if kind is not None and (kind is not FileKind.DIRECTORY or not request.replace):
            shown = repr(place(area.name, path))
            raise AlreadyExists(
                Text("%(path)s exists: ask to replace it (replace, --replace)", path=shown)
                if kind is FileKind.DIRECTORY
                else Text("%(path)s exists and is not a directory", path=shown),
                fields=[FieldError(("body", "path"), Text("exists"))],
            )
        row = self._row(user, TransferKind.COPY, profile.name, area.name, path, dataset.id, now)
        row.replace = request.replace
        return self._record(session, user, row, "dataset.copy_requested", now)

    # --- reading -----------------------------------------------------------------------
    def get(self, session: Session, user: User, transfer_id: uuid.UUID) -> TransferRecord:
        row = repo.own(session, transfer_id, user.id)
        if row is None:
            raise NotFound(Text("no dataset transfer %(transfer)s", transfer=transfer_id))
        return TransferRecord.of(row)

    def mine(self, session: Session, user: User, limit: int = 50) -> list[TransferRecord]:
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(
                Text("limit must be between 1 and %(max_limit)s", max_limit=MAX_LIST),
                fields=[FieldError(("query", "limit"), "out of range")],
            )
        return [TransferRecord.of(row) for row in repo.own_list(session, user.id, limit)]

    # --- checks ------------------------------------------------------------------------
    def _area(self, user: User, cluster: str, name: str) -> tuple[ClusterProfile, FileArea]:
        profile = self.files.profile(cluster)
        check_personal_login(profile, user.cluster_login)
        return profile, file_area(profile, name)

    def _path(self, user: User, raw: str, now: datetime, *, what: str) -> str:
        try:
            return area_dir(raw)
        except UnsafeValue:
            self._refused(user, "unsafe_path", raw, now, what=what, field="path")
            raise

    def _stat(
        self, user: User, cluster: str, area: str, path: str, now: datetime, *, what: str
    ) -> FileKind | None:
        """What ``path`` is on the cluster, as the caller's login (None: nothing there). A link,
        or a path through one, is refused by the cluster side (never followed) and audited."""
        try:
            kind = self.files.stat(user, cluster, area, path).entry.kind
            if kind is FileKind.SYMLINK:
                raise UnsafeValue(
                    Text("%(path)s is a symbolic link: never followed", path=repr(place(area, path))),
                    fields=[FieldError(("body", "path"), Text("a symbolic link"))],
                )
        except NotFound:
            return None
        except UnsafeValue as exc:
            self._refused(user, "unsafe_path", place(area, path), now, what=what, field="path",
                          detail=exc.detail)  # fmt: skip
            raise
        return kind

    def _store(self, profile: ClusterProfile, user: User, store: str, now: datetime) -> Storage:
        storage = profile.storage_endpoint(store)
        if storage is None:
            self._refused(user, store_refusal(store), store, now, what="save as dataset", field="store")
            known = ", ".join(s.name for s in profile.storage) or Text("none")
            raise InvalidRequest(
                Text(
                    "unknown storage endpoint %(store)s on %(cluster)s; known: %(known)s",
                    store=repr(store),
                    cluster=profile.name,
                    known=known,
                ),
                fields=[FieldError(("body", "store"), Text("not one of the cluster's endpoints"))],
            )
        return storage

    def _refused(
        self, user: User, reason: str, value: str, now: datetime, *, what: str, field: str, detail: str = ""
    ) -> None:
        audit_refusal(
            self.residency.audit_session, actor=user.id, subject=None, reason=reason, value=value, what=what,
            source=self.residency.source, at=now, field=field,
            extra={"detail": escaped(detail)} if detail else None,
        )  # fmt: skip

    def _row(
        self, user: User, kind: TransferKind, cluster: str, area: str, path: str, dataset_id: uuid.UUID,
        now: datetime,
    ) -> DatasetTransfer:  # fmt: skip
        return DatasetTransfer(
            id=uuid.uuid4(), kind=kind, state=TransferState.QUEUED, user_id=user.id,
            cluster_login=user.cluster_login, cluster=cluster, area=area, path=path, dataset_id=dataset_id,
            replace=False, file_count=0, size_bytes=0, skipped=[], attempts=0, created_at=now, updated_at=now,
        )  # fmt: skip

    def _record(
        self, session: Session, user: User, row: DatasetTransfer, action: str, now: datetime
    ) -> TransferRecord:
        session.add(row)
        audit.record(session, user.id, action, ("dataset_transfer", row.id),
                     {"cluster": row.cluster, "from" if row.kind is TransferKind.SAVE else "to":
                      escaped(place(row.area, row.path)), "dataset_id": str(row.dataset_id),
                      "endpoint": row.endpoint, "replace": row.replace},
                     self.residency.source, at=now)  # fmt: skip
        session.commit()
        return TransferRecord.of(row)


def _account(user: User, profile: ClusterProfile, asked: str | None) -> str | None:
    """The project the saved dataset belongs to (members see it): the one asked, else the
    caller's only project on the cluster; several and none asked is a question back."""
    mine = user.accounts_on(profile.name)
    if asked is not None:
        if asked not in mine:
            raise InvalidRequest(
                Text(
                    "%(account)s is not one of your projects on %(cluster)s: %(known)s",
                    account=repr(asked),
                    cluster=profile.name,
                    known=", ".join(mine) or Text("none"),
                ),
                fields=[FieldError(("body", "account"), Text("not one of your projects"))],
            )
        return asked
    if len(mine) > 1:
        raise InvalidRequest(
            Text(
                "say which project the dataset belongs to (account, --account): %(known)s",
                known=", ".join(mine),
            ),
            fields=[FieldError(("body", "account"), Text("required: you have several projects"))],
        )
    return mine[0] if mine else None
