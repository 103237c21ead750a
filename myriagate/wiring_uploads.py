"""The composition root of uploads into file areas (docs/files.md), beside ``wiring_files``.

``file_uploads(gateway)`` gives the upload use cases of a gateway: each login's writes as that
login, through the same runners as the file browser (``wiring_files.ClusterFileAccess``: the
cluster's SSH pool, or this host as that login for a ``runner = "local"`` cluster), plus a
command fed as a stream for the bytes (``runners.feeds``). Building it opens nothing, so a
request builds its own; tests pass ``uploads_factory``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from myriagate.domain.file_uploads import ticket_key
from myriagate.ports import CommandRunner, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.runners.feeds import LocalFeeds, SshFeeds
from myriagate.services.files.upload_ports import ClusterUploads, ClusterUploadsFactory
from myriagate.services.files.uploads import FileUploads
from myriagate.settings import Settings
from myriagate.staging.cluster_uploads import CommandFeeds, HelperClusterUploads
from myriagate.wiring import ClusterBackends, Gateway
from myriagate.wiring_logins import login_commands

UploadsFactory = Callable[[ClusterProfile, Settings, SlurmBackendFactory], ClusterUploadsFactory]


class ClusterUploadAccess:
    """A ``ClusterUploadsFactory`` for one cluster: each login's uploads as that login."""

    def __init__(self, profile: ClusterProfile, settings: Settings, backends: SlurmBackendFactory) -> None:
        self._profile = profile
        self._settings = settings
        self._pool = backends.pool if isinstance(backends, ClusterBackends) else None

    def for_login(self, login: str) -> ClusterUploads:
        commands: tuple[CommandRunner, CommandFeeds] = login_commands(
            self._profile, self._pool, login, SshFeeds, LocalFeeds
        )
        runner, feeds = commands
        return HelperClusterUploads(
            runner,
            feeds,
            python=self._settings.staging_remote_python,
            timeout_s=self._profile.connection.command_timeout_s,
        )


def file_uploads(gateway: Gateway, uploads_factory: UploadsFactory = ClusterUploadAccess) -> FileUploads:
    """The upload use cases on every cluster of ``gateway``, as each caller's own login."""

    def uploads_for(cluster: str) -> ClusterUploadsFactory:
        profile = gateway.profile(cluster)
        return uploads_factory(profile, gateway.settings, gateway.backends(profile.name))

    return FileUploads(
        profile=gateway.profile,
        uploads_for=uploads_for,
        key=ticket_key(gateway.settings.secret_key),
        max_bytes=gateway.settings.upload_max_bytes,
        now=time.time,
    )
