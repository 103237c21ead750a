"""The composition root of the cluster file browser (docs/files.md), beside ``wiring``.

``file_browser(gateway)`` gives the file use cases of a gateway: each login's files on a
cluster through that login's own runner, on the SSH connections its Slurm commands use
(``ClusterBackends.pool``), or locally as that login for a ``runner = "local"`` cluster. It is
a module of its own because ``wiring.py`` is at its size limit; it picks implementations the
same way and imports nothing above ``wiring``. Building it costs nothing (no connection is
opened until a command runs), so a request builds its own; tests pass ``files_factory``.
"""

from __future__ import annotations

from collections.abc import Callable

from myriagate.ports import CommandRunner, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.runners.streaming import LocalStreams, SshStreams
from myriagate.services.files.browser import FileBrowser
from myriagate.services.files.changes import FileChanges
from myriagate.services.files.ports import ClusterFiles, ClusterFilesFactory
from myriagate.settings import Settings
from myriagate.staging.cluster_file_changes import ClusterFilesWithChanges
from myriagate.staging.cluster_files import CommandStreams
from myriagate.wiring import ClusterBackends, Gateway
from myriagate.wiring_logins import login_commands

# Builds the file access of one cluster from its Slurm backends (whose SSH pool it shares).
FilesFactory = Callable[[ClusterProfile, Settings, SlurmBackendFactory], ClusterFilesFactory]


class ClusterFileAccess:
    """A ``ClusterFilesFactory`` for one cluster: each login's files as that login."""

    def __init__(self, profile: ClusterProfile, settings: Settings, backends: SlurmBackendFactory) -> None:
        self._profile = profile
        self._settings = settings
        self._pool = backends.pool if isinstance(backends, ClusterBackends) else None

    def for_login(self, login: str) -> ClusterFiles:
        commands: tuple[CommandRunner, CommandStreams] = login_commands(
            self._profile, self._pool, login, SshStreams, LocalStreams
        )
        runner, streams = commands
        return ClusterFilesWithChanges(
            # Not a MeteredRunner: its metrics are Slurm commands', and a file the researcher
            # may not read (exit 2) is not a cluster failure to alert on.
            runner,
            streams,
            python=self._settings.staging_remote_python,
            timeout_s=self._profile.connection.command_timeout_s,
        )


def file_browser(gateway: Gateway, files_factory: FilesFactory = ClusterFileAccess) -> FileBrowser:
    """The file use cases on every cluster of ``gateway``, as each caller's own login."""

    def files_for(cluster: str) -> ClusterFilesFactory:
        profile = gateway.profile(cluster)
        return files_factory(profile, gateway.settings, gateway.backends(profile.name))

    return FileBrowser(profile=gateway.profile, files_for=files_for)


def file_changes(gateway: Gateway, files_factory: FilesFactory = ClusterFileAccess) -> FileChanges:
    """The write use cases (mkdir, rename, copy, remove, usage) as each caller's own login."""
    browser = file_browser(gateway, files_factory)
    return FileChanges(profile=browser.profile, files_for=browser.files_for)
