"""How one login's commands reach a cluster, for the file browser and the uploads roots.

Both pair a ``CommandRunner`` with a streaming companion (``SshStreams``/``LocalStreams`` for
reads, ``SshFeeds``/``LocalFeeds`` for writes) on the same path: the cluster's SSH pool (the
connections its Slurm commands use), or this host as that login for a ``runner = "local"``
cluster. The choice, and the refusal when a cluster has neither, is made here once.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from myriagate.errors import ConfigError
from myriagate.ports import CommandRunner
from myriagate.profiles.logins import check_personal_login
from myriagate.profiles.models import ClusterProfile
from myriagate.runners.local import LocalRunner
from myriagate.runners.pool import SshConnectionPool
from myriagate.runners.ssh import SshRunner

Companion = TypeVar("Companion", covariant=True)


class OverSsh(Protocol[Companion]):
    """Builds the companion on the SSH pool (``SshStreams``, ``SshFeeds``)."""

    def __call__(self, pool: SshConnectionPool, login: str, *, path: str) -> Companion: ...


class OnThisHost(Protocol[Companion]):
    """Builds the companion on a local runner (``LocalStreams``, ``LocalFeeds``)."""

    def __call__(self, runner: LocalRunner) -> Companion: ...


def login_commands(
    profile: ClusterProfile,
    pool: SshConnectionPool | None,
    login: str,
    over_ssh: OverSsh[Companion],
    on_this_host: OnThisHost[Companion],
) -> tuple[CommandRunner, Companion]:
    """``login``'s runner on ``profile``'s cluster and its companion, on the same path."""
    check_personal_login(profile, login)  # never into the service account's home
    conn = profile.connection
    if pool is not None:
        return SshRunner(pool, login, path=conn.command_path), over_ssh(pool, login, path=conn.command_path)
    if conn.runner == "local":
        local = LocalRunner(as_login=login, path=conn.command_path)
        return local, on_this_host(local)
    raise ConfigError(
        f"cluster {profile.name!r} has no command runner for its files: its file areas "
        'need backend = "cli" (or a rest backend with files = "runner")'
    )
