"""Starting, following and stopping interactive sessions (docs/interactive.md).

A session is a normal submission (held and charged through the ledger like any job, tracked
by the worker) of an app's template, plus a row that says where the app announces itself.
Reading a session whose job runs reads the app's connection file, once, as the job's login;
from then on the proxy can reach the app. Stop is a cancel of the job. Another user's
session reads as missing, exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import interactive as sessions_repo
from myriagate.db.session import release_connection
from myriagate.domain import interactive
from myriagate.domain.interactive import Connection, SessionState
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, Conflict, FieldError, InvalidRequest, NotFound, Text
from myriagate.ports import Clock, SlurmBackendFactory
from myriagate.scripts.interactive_apps import GATEWAY_PARAMS, InteractiveApps
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.common import audit
from myriagate.services.jobs.cancel import cancel_job
from myriagate.services.submission.submission import Submission
from myriagate.services.submission.submit import SubmitRequest

log = structlog.get_logger(__name__)

INTERACTIVE_SECRETS = b"myriagate/interactive-secrets/v1"


def sealer_for(secret_key: str) -> SecretSealer:
    """Seals the apps' secrets in the database, under a key of their own."""
    return SecretSealer(secret_key, INTERACTIVE_SECRETS, what="an interactive app's secret")


@dataclass(frozen=True)
class StartRequest:
    """A session as a researcher asks for it: an app, its parameters, sbatch-style options."""

    app: str
    cluster: str
    params: Mapping[str, str | int]
    overrides: Mapping[str, str | bool]
    source: str = "api"


@dataclass(frozen=True)
class SessionView:
    """A session as its owner sees it."""

    id: uuid.UUID
    app: str
    cluster: str
    state: SessionState
    job_id: uuid.UUID
    slurm_job_id: str | None
    job_state: JobState
    reason: str | None  # why it waits (Slurm's pending reason), while queued
    created_at: datetime
    started_at: datetime | None
    time_limit_s: int | None
    remaining_s: int | None
    url: str  # where Connect goes (the proxy), meaningful once running


@dataclass(frozen=True)
class ProxyTarget:
    """Where the proxy sends a running session's requests, and the header it adds."""

    cluster: str
    login: str
    connection: Connection
    header: tuple[str, str]


@dataclass(frozen=True)
class InteractiveSessions:
    """The interactive-session use cases of the gateway."""

    apps: InteractiveApps
    submission: Submission
    backends: Callable[[str], SlurmBackendFactory]
    sealer: SecretSealer
    clock: Clock

    def start(self, session: Session, user: User, request: StartRequest) -> SessionView:
        """Submit the app's job; the session starts ``queued``. Nothing is written on bad input."""
        params = _checked_params(self.apps, request)
        session_id = uuid.uuid4()
        script = self.apps.render(request.app, {**params, "session_id": str(session_id)})
        # The connection file's absolute path, known before anything is written: an unreachable
        # cluster refuses the start with nothing held.
        home = self.backends(request.cluster).for_login(user.cluster_login).home_dir()
        submit = SubmitRequest(
            script_text=script, cluster=request.cluster, overrides=request.overrides,
            source=request.source, template_name=request.app,
        )  # fmt: skip
        job = self.submission.submit(session, user, submit, None).job
        now = self.clock.now()
        file = self.apps.get(request.app).connection.file
        path = f"{interactive.session_dir(home, str(session_id))}/{file}"
        row = _new_row(session_id, user, job, request.app, path, now)
        session.add(row)
        audit.record(session, user.id, "interactive.start", ("interactive_session", session_id),
                     {"app": request.app, "job_id": str(job.id)}, request.source, at=now)  # fmt: skip
        session.commit()
        log.info("interactive.started", session_id=str(session_id), job_id=str(job.id), app=request.app)
        return _view(row, job, now)

    def get(self, session: Session, user: User, session_id: uuid.UUID) -> SessionView:
        """The session as it stands, reading the app's connection file once its job runs."""
        row, job = _own(session, user, session_id)
        self._read_connection(session, row, job)
        return _view(row, job, self.clock.now())

    def list(self, session: Session, user: User) -> list[SessionView]:
        """The user's sessions, newest first (no cluster call: states as last tracked)."""
        now = self.clock.now()
        return [_view(row, job, now) for row, job in sessions_repo.of_user(session, user.id)]

    def stop(self, session: Session, user: User, session_id: uuid.UUID, source: str = "api") -> SessionView:
        """Cancel the session's job (idempotent); it ends once Slurm confirms."""
        row, job = _own(session, user, session_id)
        if not job.state.is_final:
            now = self.clock.now()
            row.stop_requested_at = row.stop_requested_at or now
            row.updated_at = now
            session.commit()
            job = cancel_job(session, job_id=job.id, user=user, backends=self.backends(row.cluster),
                             clock=self.clock, source=source)  # fmt: skip
        return _view(row, job, self.clock.now())

    def target(self, session: Session, user: User, session_id: uuid.UUID) -> ProxyTarget:
        """Where to proxy the owner's requests to; NotFound for anybody else (or no session),
        Conflict while the app is not running (yet, or any more)."""
        row, job = _own(session, user, session_id)
        if row.host is None:
            self._read_connection(session, row, job)
        state = interactive.session_state(job.state, connected=row.host is not None)
        if (
            state is not SessionState.RUNNING
            or row.host is None
            or row.port is None
            or row.sealed_secret is None
        ):
            raise Conflict(Text("the session is %(state)s, not running", state=state.value))
        rule = self.apps.get(row.app).connection
        secret = self.sealer.unseal(row.sealed_secret)
        connection = Connection(host=row.host, port=row.port, secret=secret)
        return ProxyTarget(
            row.cluster, row.cluster_login, connection, (rule.header, rule.header_value(secret))
        )

    def _read_connection(self, session: Session, row: InteractiveSession, job: Job) -> None:
        if row.host is not None or job.state not in (JobState.RUNNING, JobState.SUSPENDED):
            return
        backend = self.backends(row.cluster).for_login(row.cluster_login)
        release_connection(session)  # not held through the SSH call
        raw = backend.tail(row.connection_path, interactive.MAX_CONNECTION_FILE_BYTES + 1)
        try:
            found = interactive.parse_connection(raw)
        except BackendError as exc:  # the login's file, not the app's: never connected to
            log.warning("interactive.bad_connection_file", session_id=str(row.id), detail=exc.detail)
            return
        if found is None:
            return
        now = self.clock.now()
        row.host, row.port, row.sealed_secret = found.host, found.port, self.sealer.seal(found.secret)
        row.connected_at = row.updated_at = now
        session.commit()
        log.info("interactive.connected", session_id=str(row.id), host=found.host, port=found.port)


def _own(session: Session, user: User, session_id: uuid.UUID) -> tuple[InteractiveSession, Job]:
    found = sessions_repo.own_with_job(session, session_id, user.id)
    if found is None:
        raise NotFound(Text("no interactive session %(session)s", session=str(session_id)))
    return found


def _checked_params(apps: InteractiveApps, request: StartRequest) -> dict[str, object]:
    if request.app not in apps.names():
        raise InvalidRequest(
            Text(
                "unknown app %(app)s; available: %(apps)s",
                app=repr(request.app),
                apps=", ".join(apps.names()),
            ),
            fields=[FieldError(("app",), Text("unknown app"))],
        )
    reserved = sorted(set(request.params) & set(GATEWAY_PARAMS))
    if reserved:
        raise InvalidRequest(
            Text("%(params)s is set by the gateway", params=", ".join(reserved)),
            fields=[FieldError(("params", name), Text("set by the gateway")) for name in reserved],
        )
    return dict(request.params)


def _new_row(
    session_id: uuid.UUID, user: User, job: Job, app: str, connection_path: str, now: datetime
) -> InteractiveSession:
    return InteractiveSession(
        id=session_id, user_id=user.id, job_id=job.id, app=app, cluster=job.cluster,
        cluster_login=job.cluster_login, connection_path=connection_path, host=None, port=None,
        sealed_secret=None, connected_at=None, stop_requested_at=None, created_at=now, updated_at=now,
    )  # fmt: skip


def _asked_limit(job: Job) -> int | None:
    asked = job.spec.get("time_limit_s") if isinstance(job.spec, dict) else None
    return asked if isinstance(asked, int) else None


def _view(row: InteractiveSession, job: Job, now: datetime) -> SessionView:
    state = interactive.session_state(job.state, connected=row.host is not None)
    # Slurm's own limit once tracked, else the one asked for (the profile's default filled in).
    limit = job.time_limit_s or _asked_limit(job)
    left = None if state is SessionState.ENDED else interactive.remaining(job.started_at, limit, now)
    return SessionView(
        id=row.id, app=row.app, cluster=row.cluster, state=state, job_id=job.id,
        slurm_job_id=job.slurm_job_id, job_state=job.state,
        reason=job.reason if state is SessionState.QUEUED else None,
        created_at=row.created_at, started_at=job.started_at, time_limit_s=limit,
        remaining_s=None if left is None else int(left.total_seconds()), url=f"/interactive/{row.id}/",
    )  # fmt: skip
