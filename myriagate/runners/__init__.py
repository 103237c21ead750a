"""Command runners: the only code that starts processes on a cluster host.

``LocalRunner`` (subprocess, ``shell=False``) and ``SshRunner`` (paramiko, pooled per login,
short-lived user certificates, pinned host keys) both implement ``ports.CommandRunner``.

What a caller can rely on, whichever runner:
- argv only, never a shell string; an argument holding a NUL byte is refused (UnsafeValue);
- ``check=True`` and a non-zero exit → SchedulerRejected whose detail is the trimmed stderr;
- the command certainly did not start (unreachable host, no channel, no executable)
  → SchedulerUnavailable (transient);
- the command was started and then timed out or lost its connection → SubmissionUncertain
  (a transient SchedulerUnavailable): for sbatch, look the job's tag up before retrying;
- more than ``max_output_bytes`` (16 MiB) on stdout or stderr → the command is stopped and
  BackendError is raised (not transient);
- an unknown or changed host key → ConfigError; a refused certificate → PermissionDenied;
- the command's environment is the gateway's (``environment``: HOME, USER, LOGNAME, PATH,
  LANG), never inherited from the gateway's process or the login's start-up files.
"""

from myriagate.runners.certificates import CertificateAuthority, UserKey
from myriagate.runners.hostkeys import PinnedHostKeys, load_pinned_host_keys
from myriagate.runners.local import IdentitySwitch, LocalRunner
from myriagate.runners.outcome import DEFAULT_MAX_OUTPUT_BYTES
from myriagate.runners.pool import PoolStats, SshConnectionPool, UserKeySource
from myriagate.runners.ssh import SshRunner

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "CertificateAuthority",
    "IdentitySwitch",
    "LocalRunner",
    "PinnedHostKeys",
    "PoolStats",
    "SshConnectionPool",
    "SshRunner",
    "UserKey",
    "UserKeySource",
    "load_pinned_host_keys",
]
