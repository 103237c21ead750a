"""What a submission asks to stage, checked before anything is written.

Inputs (an upload, datasets already on a regional endpoint) go to the job's directory on the
cluster before sbatch; outputs matching the declared patterns go to a storage endpoint after
the job completes. Residency is checked here, at submit time, for both directions — and again
by the worker right before the bytes move, as profiles may change in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.staging import Dataset, JobStaging, Upload
from myriagate.db.models.users import User
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.staging import Location, escaped, output_pattern, store_refusal
from myriagate.errors import FieldError, InvalidRequest, NotFound, Text, joined
from myriagate.profiles.models import ClusterProfile, Storage
from myriagate.services.common.audit import Actor
from myriagate.services.staging.residency import (
    audit_refusal,
    cluster_location,
    ensure_resident,
    storage_location,
)

MAX_PATTERNS = 32
MAX_INPUT_DATASETS = 16


@dataclass(frozen=True)
class StagingRequest:
    """Staging as a researcher asks for it (API body, CLI flags)."""

    upload_id: uuid.UUID | None = None
    input_dataset_ids: Sequence[uuid.UUID] = ()
    output_patterns: Sequence[str] = ()
    store: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.upload_id or self.input_dataset_ids or self.output_patterns or self.store)


@dataclass(frozen=True)
class ResidencyContext:
    """What the residency check needs: the allowed regions and a session to audit a refusal in."""

    allowed_regions: Collection[str]
    audit_session: Callable[[], Session]
    source: str = "api"

    def check(self, location: Location, *, actor: Actor, what: str, at: datetime) -> None:
        """``ensure_resident`` with this policy (refusals audited, nothing else written)."""
        ensure_resident(
            location, self.allowed_regions, audit_session=self.audit_session, actor=actor, subject=None,
            what=what, source=self.source, at=at,
        )  # fmt: skip

    def refuse(self, first: _Refusal, more: Sequence[_Refusal], *, actor: Actor, at: datetime) -> None:
        """Audit a refused request as one ``staging.refused`` event (its first refusal; the
        others, if any, listed under ``more``), in a transaction of its own."""
        extra = {"more": [{"reason": r.reason, "field": _dotted(r.field), "value": escaped(r.value)}
                          for r in more]} if more else None  # fmt: skip
        audit_refusal(
            self.audit_session, actor=actor, subject=None, reason=first.reason, value=first.value,
            what="job outputs (at submission)", source=self.source, at=at, field=_dotted(first.field),
            extra=extra,
        )  # fmt: skip


def _dotted(field: FieldError) -> str:
    return ".".join(str(part) for part in field.loc)


@dataclass
class StagingPlan:
    """A checked request: what the job will stage, ready to be attached to it."""

    upload: Upload | None
    datasets: list[Dataset]
    patterns: list[str]
    store: Storage | None
    input_paths: list[str] = field(default_factory=list)

    @property
    def has_inputs(self) -> bool:
        return bool(self.input_paths)

    @property
    def needs_own_dir(self) -> bool:
        """Inputs or result patterns: the job runs in a fresh directory of its own, so its
        results never mix with a neighbour's (unless the researcher names a --chdir)."""
        return bool(self.input_paths or self.patterns)


def job_dir_for(job_id: uuid.UUID) -> str:
    """A job's own directory (relative to its login's home) when it stages inputs or results
    and names no --chdir; created 0700 by the stage-in step before sbatch."""
    return f"myriagate-jobs/{job_id}"


def check(
    session: Session,
    *,
    profile: ClusterProfile,
    user: User,
    request: StagingRequest,
    residency: ResidencyContext,
    at: datetime,
) -> StagingPlan | None:
    """The plan for ``request``, or None when it stages nothing; raises before writing anything
    (except the one ``staging.refused`` audit entry of a refused endpoint, address, host, path
    or region, committed on its own)."""
    if request.empty:
        return None
    patterns, store = _outputs(profile, request, residency, actor=user.id, at=at)
    if len(request.input_dataset_ids) > MAX_INPUT_DATASETS:
        raise InvalidRequest(Text("at most %(max)s input datasets per job", max=MAX_INPUT_DATASETS))
    upload = _upload(session, request.upload_id, user)
    datasets = [
        _dataset(session, dataset_id, user, profile)
        for dataset_id in dict.fromkeys(request.input_dataset_ids)
    ]
    input_paths = _input_paths(upload, datasets)
    if (input_paths or patterns) and (profile.connection.runner != "ssh" or profile.connection.host is None):
        raise InvalidRequest(
            Text("cluster %(cluster)s has no SSH connection: data staging needs one", cluster=profile.name)
        )
    if store is not None:
        residency.check(storage_location(store), actor=user.id, what="job outputs (at submission)", at=at)
    if input_paths:
        residency.check(cluster_location(profile), actor=user.id, what="job inputs (at submission)", at=at)
        for dataset in datasets:
            endpoint = profile.storage_endpoint(dataset.endpoint)
            if endpoint is None:
                raise InvalidRequest(
                    Text(
                        "dataset %(dataset)s is on endpoint %(endpoint)s, no longer declared",
                        dataset=dataset.id,
                        endpoint=repr(dataset.endpoint),
                    )
                )
    return StagingPlan(
        upload=upload, datasets=datasets, patterns=patterns, store=store, input_paths=input_paths
    )


def attach(session: Session, job: Job, plan: StagingPlan) -> JobStaging:
    """Record the plan for ``job`` in the submission's transaction."""
    staging = JobStaging(
        job_id=job.id,
        upload_id=plan.upload.id if plan.upload is not None else None,
        input_dataset_ids=[str(d.id) for d in plan.datasets],
        output_patterns=plan.patterns,
        output_endpoint=plan.store.name if plan.store is not None else None,
        # Random, so nobody can prepare a link where the results will go (see JobStaging).
        output_dir=uuid.uuid4().hex if plan.patterns else None,
        staged_inputs=[],
        attempts=0,
    )
    session.add(staging)
    if plan.upload is not None:
        plan.upload.job_id = job.id
    job.stage_out = bool(plan.patterns)
    return staging


@dataclass(frozen=True)
class _Refusal:
    reason: str  # the audit event's stable code
    value: str  # what the researcher sent, raw
    field: FieldError


def _outputs(
    profile: ClusterProfile,
    request: StagingRequest,
    residency: ResidencyContext,
    *,
    actor: Actor,
    at: datetime,
) -> tuple[list[str], Storage | None]:
    """The checked output patterns and storage endpoint. A path trick or a store that is not
    one of the profile's endpoint names (an unknown name, an address, a host or URL) is
    audited once for the whole request, then refused naming each field."""
    if len(request.output_patterns) > MAX_PATTERNS:
        raise InvalidRequest(Text("at most %(max)s output patterns per job", max=MAX_PATTERNS))
    refusals: list[_Refusal] = []
    store = None
    if request.store is not None:
        store = profile.storage_endpoint(request.store)
        if store is None:
            known = ", ".join(s.name for s in profile.storage) or Text("none")
            message = Text(
                "unknown storage endpoint %(store)s on %(cluster)s; known: %(known)s",
                store=repr(request.store),
                cluster=profile.name,
                known=known,
            )
            field = FieldError(("staging", "store"), message)
            refusals.append(_Refusal(store_refusal(request.store), request.store, field))
    patterns: list[str] = []
    for index, raw in enumerate(request.output_patterns):
        try:
            patterns.append(output_pattern(raw))
        except InvalidRequest as exc:
            field = FieldError(("staging", "output_patterns", index), exc.detail)
            refusals.append(_Refusal("unsafe_path", raw, field))
    if refusals:
        first, *more = refusals
        residency.refuse(first, more, actor=actor, at=at)
        details = [r.field.message for r in refusals if r.reason != "unsafe_path"]
        if any(r.reason == "unsafe_path" for r in refusals):
            details.append(Text("an output pattern is not safe"))
        raise InvalidRequest(joined(details), fields=[r.field for r in refusals])
    if patterns and store is None:
        raise InvalidRequest(
            Text(
                "output patterns need a storage endpoint (--store): %(known)s",
                known=", ".join(s.name for s in profile.storage),
            )
        )
    if store is not None and not patterns:
        raise InvalidRequest(
            Text("a storage endpoint was chosen but no output pattern says what to copy there")
        )
    return list(dict.fromkeys(patterns)), store


def _upload(session: Session, upload_id: uuid.UUID | None, user: User) -> Upload | None:
    if upload_id is None:
        return None
    upload = staging_repo.get_upload(session, upload_id)
    if upload is None or upload.user_id != user.id:
        raise NotFound(Text("no upload %(upload)s", upload=upload_id))
    if upload.job_id is not None:
        raise InvalidRequest(
            Text("upload %(upload)s is already used by job %(job)s", upload=upload_id, job=upload.job_id)
        )
    if not upload.files:
        raise InvalidRequest(Text("upload %(upload)s has no file", upload=upload_id))
    return upload


def _dataset(session: Session, dataset_id: uuid.UUID, user: User, profile: ClusterProfile) -> Dataset:
    dataset = session.scalars(
        sa.select(Dataset).where(Dataset.id == dataset_id, staging_repo.visible_datasets_filter(user))
    ).one_or_none()
    if dataset is None:
        raise NotFound(Text("no dataset %(dataset)s", dataset=dataset_id))
    if dataset.cluster != profile.name:
        raise InvalidRequest(
            Text(
                "dataset %(dataset)s belongs to cluster %(cluster)s, not %(this)s",
                dataset=dataset_id,
                cluster=dataset.cluster,
                this=profile.name,
            )
        )
    return dataset


def _input_paths(upload: Upload | None, datasets: list[Dataset]) -> list[str]:
    """Every input's path in the job directory; two inputs with one path are refused."""
    owners: dict[str, str] = {}
    sources: list[tuple[str, list[str]]] = []
    if upload is not None:
        sources.append((Text("upload %(upload)s", upload=upload.id), [f.path for f in upload.files]))
    for dataset in datasets:
        sources.append((Text("dataset %(dataset)s", dataset=dataset.id), [f.path for f in dataset.files]))
    for source, paths in sources:
        for path in paths:
            if path in owners:
                raise InvalidRequest(
                    Text(
                        "%(path)s is both in %(one)s and in %(other)s",
                        path=repr(path),
                        one=owners[path],
                        other=source,
                    )
                )
            owners[path] = source
    return sorted(owners)
