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
from myriagate.errors import ConfigError
from myriagate.ports import CommandRunner, SlurmBackendFactory
from myriagate.profiles.logins import check_personal_login
from myriagate.profiles.models import ClusterProfile
from myriagate.runners.feeds import LocalFeeds, SshFeeds
from myriagate.runners.local import LocalRunner
from myriagate.runners.ssh import SshRunner
from myriagate.services.files.upload_ports import ClusterUploads, ClusterUploadsFactory
from myriagate.services.files.uploads import FileUploads
from myriagate.settings import Settings
from myriagate.staging.cluster_uploads import HelperClusterUploads
from myriagate.wiring import ClusterBackends, Gateway

UploadsFactory = Callable[[ClusterProfile, Settings, SlurmBackendFactory], ClusterUploadsFactory]


class ClusterUploadAccess:
    """A ``ClusterUploadsFactory`` for one cluster: each login's uploads as that login."""

    def __init__(self, profile: ClusterProfile, settings: Settings, backends: SlurmBackendFactory) -> None:
        self._profile = profile
        self._settings = settings
        self._pool = backends.pool if isinstance(backends, ClusterBackends) else None

    def for_login(self, login: str) -> ClusterUploads:
        check_personal_login(self._profile, login)  # never into the service account's home
        conn = self._profile.connection
        feeds: SshFeeds | LocalFeeds
        if self._pool is not None:
            runner: CommandRunner = SshRunner(self._pool, login, path=conn.command_path)
            feeds = SshFeeds(self._pool, login, path=conn.command_path)
        elif conn.runner == "local":
            local = LocalRunner(as_login=login, path=conn.command_path)
            runner, feeds = local, LocalFeeds(local)
        else:
            raise ConfigError(
                f"cluster {self._profile.name!r} has no command runner for its files: its file areas "
                'need backend = "cli" (or a rest backend with files = "runner")'
            )
        return HelperClusterUploads(
            runner, feeds, python=self._settings.staging_remote_python, timeout_s=conn.command_timeout_s
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
