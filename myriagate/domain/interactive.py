"""Interactive sessions (JupyterLab on a compute node): their states and the connection file.

An interactive app is a job-script template plus a connection rule: once the app listens it
writes a small JSON file (host, port, secret) into the session's directory, and the gateway
reads it as the job's login. The file is the job owner's to write, so everything in it is
checked here before the gateway connects anywhere or sends the secret.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from myriagate.domain.states import JobState
from myriagate.errors import BackendError, FieldError, ProfileViolation, Text

# Where the app's script puts its files, relative to the login's home (the template's too).
SESSION_DIR = ".myriagate/interactive"
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?\Z")
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=-]{16,512}\Z")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}\Z")
MAX_CONNECTION_FILE_BYTES = 4096
# A job that has run this long without its app announcing itself is worth a look at its output.
STALLED_AFTER_S = 120
# The apps' parameter for their idle timeout in minutes: the profile gives it (docs/interactive.md).
IDLE_PARAM = "idle_minutes"


class SessionState(StrEnum):
    """Where a session is, as the researcher sees it (stored value = API value)."""

    QUEUED = "queued"  # the job waits in Slurm (or for the gateway to send it)
    STARTING = "starting"  # the job runs; the app has not written its connection file yet
    RUNNING = "running"  # the connection file was read: Connect works
    ENDED = "ended"  # time up, stopped, or the job ended

    @property
    def is_final(self) -> bool:
        return self is SessionState.ENDED


@dataclass(frozen=True)
class Connection:
    """Where the app listens on the compute node, and the secret it expects."""

    host: str
    port: int
    secret: str
    # The SHA-256 of the app's TLS certificate (lower-case hex), pinned by the proxy; None for
    # an app whose rule says it serves plain HTTP.
    tls_sha256: str | None = None

    def __repr__(self) -> str:  # never the secret, in a log line or a traceback
        return f"Connection(host={self.host!r}, port={self.port}, tls={self.tls_sha256 is not None})"


def session_dir(home: str, session_id: str) -> str:
    """The session's directory on the cluster (absolute): its connection file is in it."""
    return f"{home.rstrip('/')}/{SESSION_DIR}/{session_id}"


def home_of(connection_path: str) -> str:
    """The home a session's connection file path was made from (``session_dir``'s ``home``):
    the directory from which the gateway checks who owns the way down to the file."""
    marker = f"/{SESSION_DIR}/"
    at = connection_path.rfind(marker)
    if at <= 0:
        raise ValueError(f"{connection_path!r} is not in a session directory")
    return connection_path[:at]


def parse_connection(raw: bytes, *, tls: bool = True) -> Connection | None:
    """The connection file's content, checked; None while it is empty (not written yet).

    BackendError for anything else that is not exactly what the app's script writes: the file
    could have been replaced by the login, and a made-up host must never be connected to. With
    ``tls`` (the app's rule), the file must name its certificate's SHA-256 (``tls_sha256``).
    """
    if not raw.strip():
        return None
    if len(raw) > MAX_CONNECTION_FILE_BYTES:
        raise BackendError(Text("the app's connection file is too large"))
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackendError(Text("the app's connection file is not JSON")) from exc
    if not isinstance(data, dict):
        raise BackendError(Text("the app's connection file is not a JSON object"))
    host, port, secret = data.get("host"), data.get("port"), data.get("token")
    if not isinstance(host, str) or not _valid_host(host):
        raise BackendError(Text("the app's connection file names no valid host"))
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
        raise BackendError(Text("the app's connection file names no valid port (1024-65535)"))
    if not isinstance(secret, str) or not _SECRET.match(secret):
        raise BackendError(Text("the app's connection file holds no valid token"))
    pin = data.get("tls_sha256")
    if not tls:
        return Connection(host=host, port=port, secret=secret)
    if not isinstance(pin, str) or not _SHA256.match(pin):
        raise BackendError(
            Text("the app's connection file names no valid certificate fingerprint (tls_sha256)")
        )
    return Connection(host=host, port=port, secret=secret, tls_sha256=pin.lower())


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.match(host))
    return True


def session_state(job_state: JobState, *, connected: bool) -> SessionState:
    """A session's state from its job's and whether the connection file was read."""
    if job_state.is_final:
        return SessionState.ENDED
    if job_state in (JobState.RUNNING, JobState.SUSPENDED):
        return SessionState.RUNNING if connected else SessionState.STARTING
    if job_state is JobState.STAGING_OUT:
        return SessionState.ENDED
    return SessionState.QUEUED


# Slurm's start time of a job's run and the gateway's clock may differ by a few seconds; a
# requeued job waits longer than this before it runs again (its BeginTime: ~2 min in 22.05).
RUN_AFTER_MARGIN = timedelta(seconds=30)


def run_after(started_at: datetime | None, connected_at: datetime | None) -> bool:
    """Whether the job's current run started after the connection file was read: the file
    named the app of an earlier run (the job was requeued and ran again)."""
    if started_at is None or connected_at is None:
        return False
    return started_at > connected_at + RUN_AFTER_MARGIN


def remaining(started_at: datetime | None, time_limit_s: int | None, now: datetime) -> timedelta | None:
    """Time left before Slurm ends the session (None before it starts or without a limit)."""
    if started_at is None or time_limit_s is None:
        return None
    left = started_at + timedelta(seconds=time_limit_s) - now
    return max(left, timedelta(0))


def idle_minutes(asked: int | None, *, default: int, maximum: int) -> int:
    """The idle timeout a session gets: the one asked for within the profile's ``maximum``
    (0: no maximum), else the profile's ``default``; 0 is none. ProfileViolation beyond it."""
    if asked is None:
        return default
    if maximum and not 1 <= asked <= maximum:
        raise ProfileViolation(
            Text("the idle timeout must be between 1 and %(max)s minutes on this cluster", max=maximum),
            fields=[FieldError(("params", IDLE_PARAM), Text("between 1 and %(max)s minutes", max=maximum))],
        )
    return asked


@dataclass(frozen=True)
class Trouble:
    """What the researcher should know about a session that does not run as asked."""

    job_state: JobState
    connected: bool
    exit_code: int | None
    started_at: datetime | None
    file_problem: str | None  # why the app's connection file was refused, if it was


def trouble_text(trouble: Trouble, now: datetime) -> Text | None:
    """Why a session failed to start, stopped by itself, or is slow to start; None when all is
    as it should be. Its job's output (the job page, ``myriagate jobs logs``) says more."""
    state = trouble.job_state
    if state.is_final or state is JobState.STAGING_OUT:
        if trouble.connected:
            if state is JobState.COMPLETED:
                return Text("the app stopped itself: idle for its idle timeout, or shut down from its menu")
            return None
        if trouble.exit_code:
            return Text(
                "the job ended before the app announced itself (exit code %(code)s): its output says why",
                code=trouble.exit_code,
            )
        return Text("the job ended before the app announced itself: its output says why")
    if trouble.file_problem:
        return Text("the app's connection file was refused: %(problem)s", problem=trouble.file_problem)
    if state in (JobState.RUNNING, JobState.SUSPENDED) and not trouble.connected and trouble.started_at:
        waited = (now - trouble.started_at).total_seconds()
        if waited >= STALLED_AFTER_S:
            return Text(
                "the job has run for %(minutes)s min and the app has not announced itself yet: "
                "its output may say why",
                minutes=int(waited // 60),
            )
    return None
