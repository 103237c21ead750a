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
from myriagate.domain.interactive import IDLE_PARAM, Connection, SessionState
from myriagate.domain.states import JobState
from myriagate.errors import (
    BackendError,
    Conflict,
    FieldError,
    InvalidRequest,
    JobSpecInvalid,
    NotFound,
    PermissionDenied,
    SchedulerUnavailable,
    Text,
)
from myriagate.ports import Clock, SlurmBackendFactory
from myriagate.scripts.interactive_apps import GATEWAY_PARAMS, InteractiveApps
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.common import audit
from myriagate.services.interactive.views import SessionView, views_of
from myriagate.services.jobs.cancel import cancel_job
from myriagate.services.submission.preview import SubmitPreview
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
        session_id = uuid.uuid4()
        script, idle = self._script(request, session_id)
        # The connection file's absolute path, known before anything is written: an unreachable
        # cluster refuses the start with nothing held.
        home = self.backends(request.cluster).for_login(user.cluster_login).home_dir()
        job = self.submission.submit(session, user, self._submit_request(request, script), None).job
        now = self.clock.now()
        file = self.apps.get(request.app).connection.file
        path = f"{interactive.session_dir(home, str(session_id))}/{file}"
        row = _new_row(session_id, user, job, request.app, path, now)
        row.idle_timeout_s = idle * 60 if idle else None
        session.add(row)
        audit.record(session, user.id, "interactive.start", ("interactive_session", session_id),
                     {"app": request.app, "job_id": str(job.id)}, request.source, at=now)  # fmt: skip
        session.commit()
        log.info("interactive.started", session_id=str(session_id), job_id=str(job.id), app=request.app)
        return views_of(session, user, [(row, job)], now)[0]

    def preview(self, session: Session, user: User, request: StartRequest) -> SubmitPreview:
        """What ``start`` would submit (the estimate: hours held, the project's balance), with
        nothing written or sent; raises what ``start`` would raise for the same request."""
        script, _ = self._script(request, uuid.uuid4())
        return self.submission.preview(session, user, self._submit_request(request, script))

    def idle_choice(self, cluster: str) -> tuple[int, int]:
        """The cluster's idle timeout in minutes: the default a session gets and the most one
        may ask for (0: none, and no maximum)."""
        section = self.submission.profile(cluster).interactive
        return section.idle_timeout_minutes, section.max_idle_timeout_minutes

    def _script(self, request: StartRequest, session_id: uuid.UUID) -> tuple[str, int | None]:
        """The app's job script and the idle timeout (minutes) it was given, if it takes one."""
        params = _checked_params(self.apps, request)
        idle = None
        if IDLE_PARAM in {p.name for p in self.apps.get(request.app).parameters}:
            default, maximum = self.idle_choice(request.cluster)
            idle = interactive.idle_minutes(_asked_idle(params), default=default, maximum=maximum)
            params[IDLE_PARAM] = idle
        return self.apps.render(request.app, {**params, "session_id": str(session_id)}), idle

    @staticmethod
    def _submit_request(request: StartRequest, script: str) -> SubmitRequest:
        return SubmitRequest(
            script_text=script, cluster=request.cluster, overrides=request.overrides,
            source=request.source, template_name=request.app,
        )  # fmt: skip

    def get(self, session: Session, user: User, session_id: uuid.UUID) -> SessionView:
        """The session as it stands, reading the app's connection file once its job runs."""
        row, job = _own(session, user, session_id)
        self._read_connection(session, row, job)
        return views_of(session, user, [(row, job)], self.clock.now())[0]

    def list(self, session: Session, user: User) -> list[SessionView]:
        """The user's sessions, newest first (no cluster call: states as last tracked)."""
        return views_of(session, user, sessions_repo.of_user(session, user.id), self.clock.now())

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
        return views_of(session, user, [(row, job)], self.clock.now())[0]

    def target(self, session: Session, user: User, session_id: uuid.UUID) -> ProxyTarget:
        """Where to proxy the owner's requests to; NotFound for anybody else (or no session),
        Conflict while the app is not running (yet, or any more)."""
        row, job = _own(session, user, session_id)
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
        if rule.tls and row.tls_sha256 is None:  # connected before the gateway pinned certificates
            raise Conflict(Text("the session's app has no pinned certificate: stop it and start a new one"))
        secret = self.sealer.unseal(row.sealed_secret)
        connection = Connection(host=row.host, port=row.port, secret=secret, tls_sha256=row.tls_sha256)
        return ProxyTarget(
            row.cluster, row.cluster_login, connection, (rule.header, rule.header_value(secret))
        )

    def _read_connection(self, session: Session, row: InteractiveSession, job: Job) -> None:
        if row.host is not None and interactive.run_after(job.started_at, row.connected_at):
            # The job ran again (requeued: a node failure, preemption, scontrol requeue): the
            # file read named the app of a run that is gone; its new run writes its own.
            row.host = row.port = row.sealed_secret = row.tls_sha256 = row.connected_at = None
            row.updated_at = self.clock.now()
            session.commit()
            log.info("interactive.job_ran_again", session_id=str(row.id))
        if row.host is not None or job.state not in (JobState.RUNNING, JobState.SUSPENDED):
            return
        backend = self.backends(row.cluster).for_login(row.cluster_login)
        release_connection(session)  # not held through the SSH call
        try:
            # A directory, a fifo, a link loop or an unreadable file at the name: the login's
            # doing, as a malformed file is, and said the same way (not a failure of the read).
            # Read only if the file and every directory down to it from the home are the login's
            # and writable by nobody else (as OpenSSH checks its files): where homes are
            # group-writable, another login could otherwise write the file the proxy trusts.
            raw = backend.read_private(
                row.connection_path, interactive.home_of(row.connection_path),
                interactive.MAX_CONNECTION_FILE_BYTES + 1,
            )  # fmt: skip
            found = interactive.parse_connection(raw, tls=self.apps.get(row.app).connection.tls)
        except (BackendError, PermissionDenied) as exc:  # the login's file: never connected to
            if isinstance(exc, SchedulerUnavailable):
                raise
            log.warning("interactive.bad_connection_file", session_id=str(row.id), detail=exc.detail)
            if row.problem != str(exc.detail)[:300]:
                row.problem, row.updated_at = str(exc.detail)[:300], self.clock.now()
                session.commit()
            return
        if found is None:
            return
        now = self.clock.now()
        row.host, row.port, row.sealed_secret = found.host, found.port, self.sealer.seal(found.secret)
        row.tls_sha256 = found.tls_sha256
        row.connected_at = row.updated_at = now
        row.problem = None
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
    if "array" in request.overrides:  # found trying it: an array of apps, one connection file
        raise InvalidRequest(
            Text("an interactive session is one job: --array is not allowed"),
            fields=[FieldError(("options", "array"), Text("not allowed for an interactive session"))],
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


def _asked_idle(params: dict[str, object]) -> int | None:
    """The idle timeout asked for, in minutes (None: the profile's); a whole number or nothing."""
    given = params.pop(IDLE_PARAM, None)
    if given is None or (isinstance(given, str) and not given.strip()):
        return None
    if isinstance(given, int) and not isinstance(given, bool):
        return given
    if isinstance(given, str) and given.strip().isdigit() and len(given.strip()) <= 6:
        return int(given.strip())
    raise JobSpecInvalid(
        Text("%(where)s: %(problem)s", where=IDLE_PARAM, problem=Text("must be a whole number")),
        fields=[FieldError(("params", IDLE_PARAM), Text("must be a whole number"))],
    )
