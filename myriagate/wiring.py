"""The one place that picks concrete implementations from the settings and the cluster profiles.

Entry points (CLI, worker, web) call ``build_gateway()``; the ``Gateway`` it returns builds the
use cases once (``submission``, ``worker_runtime()``) and hands out the ports the other
services take. Nothing else imports runners or Slurm backends. Tests plug fake Slurm backends
in through ``build_gateway(backend_factory=…)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from functools import cached_property
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.session import PoolOptions, make_engine, make_session_factory
from myriagate.errors import ConfigError, MyriagateError, NotFound
from myriagate.logs import hide_values
from myriagate.notifications.channels import mailer_from, webhook_poster_from
from myriagate.ports import Clock, CommandRunner, LedgerFactory, SlurmBackend, SlurmBackendFactory, Stager
from myriagate.profiles.loader import load_all_profiles
from myriagate.profiles.logins import check_personal_login
from myriagate.profiles.models import ClusterProfile
from myriagate.runners.certificates import CertificateAuthority
from myriagate.runners.local import LocalRunner
from myriagate.runners.metered import MeteredRunner
from myriagate.runners.pool import SshConnectionPool
from myriagate.runners.ssh import SshRunner
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.allocations.policy import Allocations
from myriagate.services.allocations.settling_ledger import LedgerFactory as SettlingLedgerFactory
from myriagate.services.common.leases import holder_id
from myriagate.services.notifications.sender import Channels
from myriagate.services.people.credentials import CredentialWatch
from myriagate.services.runtime.runtime import NotificationsLoop, WorkerRuntime
from myriagate.services.runtime.worker import build_poller
from myriagate.services.staging import step as staging_step
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.plan import ResidencyContext
from myriagate.services.submission.submission import Submission
from myriagate.settings import Settings, get_settings
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_tokens import JwtMinter
from myriagate.slurm.sacctmgr import SacctmgrAccounts
from myriagate.slurm.scontrol import ScontrolClusterConfig
from myriagate.slurm.usage import SacctUsage
from myriagate.staging.metered import MeteredStager

log = structlog.get_logger(__name__)

# Builds the Slurm backends of one cluster; tests pass one that returns fakes.
BackendFactory = Callable[[ClusterProfile, Settings], SlurmBackendFactory]


class ClusterBackends:
    """A ``SlurmBackendFactory`` for one cluster: one backend per login, sharing one SSH pool."""

    def __init__(self, profile: ClusterProfile, settings: Settings) -> None:
        self.profile = profile
        self._settings = settings
        self._lock = threading.Lock()
        self._backends: dict[str, SlurmBackend] = {}
        self._pool: SshConnectionPool | None = None
        self._ca: CertificateAuthority | None = None
        conn = profile.connection
        if conn.backend == "pyslurm":
            # Checked now so a missing or mismatched pyslurm fails at startup, not mid-request.
            from myriagate.slurm.pyslurm_backend import PyslurmBackend

            PyslurmBackend(profile.slurm_version)  # fails now if pyslurm is absent or mismatched
        self._use_pyslurm = conn.backend == "pyslurm"
        self._rest = rest_client(profile) if conn.rest is not None else None
        files_over_runner = conn.backend == "cli" or (conn.rest is not None and conn.rest.files == "runner")
        if files_over_runner and conn.runner == "ssh":
            if settings.ssh_ca_key_path is None:
                raise ConfigError(
                    f"cluster {profile.name!r} is reached over SSH: set MYRIAGATE_SSH_CA_KEY_PATH "
                    "to the gateway's SSH user CA private key"
                )
            assert conn.host is not None and conn.known_hosts is not None  # checked by the profile
            self._ca = ca = CertificateAuthority(  # forwarding: the interactive proxy's tunnels
                settings.ssh_ca_key_path, settings.ssh_cert_validity_s, permit_port_forwarding=True
            )
            self._pool = SshConnectionPool(
                conn.host, conn.port, conn.known_hosts, ca, connect_timeout=conn.connect_timeout_s
            )

    @property
    def pool(self) -> SshConnectionPool | None:
        return self._pool

    def for_login(self, login: str) -> SlurmBackend:
        check_personal_login(self.profile, login)  # a person never acts as the gateway's login
        return self._backend(login)

    def for_service(self) -> SlurmBackend:
        return self._backend(self.profile.connection.service_login)

    def _backend(self, login: str) -> SlurmBackend:
        with self._lock:
            if login not in self._backends:
                self._backends[login] = self._build(login)
            return self._backends[login]

    def check_tag_lookup(self) -> None:
        """ConfigError now (``myriagate worker`` exits 78) when slurmdbd keeps no job comments,
        so a lost submission could not be found by its tag; a cluster that does not answer is
        checked again at the first lookup."""
        backend = self.for_service()
        if not isinstance(backend, SlurmCliBackend):
            return
        try:
            backend.require_stored_comments()
        except ConfigError:
            raise
        except MyriagateError as exc:  # unreachable, refused…: not a reason to stay stopped
            log.warning("worker.tag_lookup_unchecked", cluster=self.profile.name, detail=exc.detail)

    def _build(self, login: str) -> SlurmBackend:
        if self._use_pyslurm:
            from myriagate.slurm.pyslurm_backend import PyslurmBackend

            return PyslurmBackend(self.profile.slurm_version, login=login)
        conn = self.profile.connection
        if self._rest is not None and conn.rest is not None:
            files = self._cli_backend(login) if conn.rest.files == "runner" else None
            return SlurmRestBackend(
                self._rest, login, files=files, home=conn.rest.home, command_path=conn.command_path
            )
        return self._cli_backend(login)

    def _cli_backend(self, login: str) -> SlurmCliBackend:
        tz = ZoneInfo(self.profile.timezone) if self.profile.timezone else UTC
        path = self.profile.connection.command_path
        if self._pool is not None:
            runner: SshRunner | LocalRunner = SshRunner(self._pool, login, path=path)
        else:
            runner = LocalRunner(as_login=login, path=path)
        # Every Slurm command's latency and failures are recorded (docs/metrics.md).
        metered = MeteredRunner(runner, self.profile.name)
        return SlurmCliBackend(metered, cluster_tz=tz, timeout_s=self.profile.connection.command_timeout_s)

    def forget(self, login: str) -> int:
        """Close ``login``'s SSH connections and drop its certificate (a disabled user)."""
        if self._ca is not None:
            self._ca.forget(login)
        return self._pool.forget(login) if self._pool is not None else 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._rest is not None:
            self._rest.close()


def rest_client(profile: ClusterProfile) -> SlurmRestClient:
    """The pooled slurmrestd client of a ``backend = "rest"`` cluster; ConfigError now (at
    start-up) when its JWT key is missing or readable by others."""
    rest = profile.connection.rest
    assert rest is not None  # the profile pairs backend = "rest" with [connection.rest]
    minter = JwtMinter.from_file(rest.jwt_key, lifespan_s=rest.jwt_lifespan_min * 60)
    return SlurmRestClient(rest.url, minter.token, timeout_s=rest.timeout_s)


@dataclass
class Gateway:
    """Everything an entry point needs: settings, profiles, database, cluster backends, and the
    use cases built from them."""

    settings: Settings
    profiles: dict[str, ClusterProfile]
    session_factory: sessionmaker[Session]
    backend_factory: BackendFactory = ClusterBackends
    clock: Clock = field(default_factory=SystemClock)
    _backends: dict[str, SlurmBackendFactory] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stager: Stager | None = None
    _stager_ca: CertificateAuthority | None = None
    _credential_watch: CredentialWatch | None = None

    def __post_init__(self) -> None:
        # These secrets have no shape a log filter could recognise: name them (myriagate.logs).
        database_password = urlsplit(self.settings.database_url).password
        hide_values(self.settings.secret_key, self.settings.smtp_password, database_password)

    def profile(self, cluster: str | None = None) -> ClusterProfile:
        name = cluster or self.settings.default_cluster
        try:
            return self.profiles[name]
        except KeyError:
            raise NotFound(f"unknown cluster {name!r}; known: {', '.join(sorted(self.profiles))}") from None

    @property
    def allocations(self) -> Allocations:
        """Whether jobs are held and charged (``MYRIAGATE_ENFORCE_ALLOCATIONS``), and the ledger."""
        return Allocations(enforced=self.settings.enforce_allocations, ledger=SqlLedger)

    @property
    def ledger(self) -> LedgerFactory:
        """Opens the ledger in a session: grants, adjustments, balances and history."""
        return SqlLedger

    @cached_property
    def submission(self) -> Submission:
        """The submission use case (submit, preview) on every cluster of this gateway."""
        return Submission(
            profile=self.profile,
            backends=self.backends,
            clock=self.clock,
            allocations=self.allocations,
            residency=self.residency,
        )

    def worker_runtime(self, clusters: Sequence[str]) -> WorkerRuntime:
        """What ``myriagate worker`` runs for ``clusters``: pollers, transfer loops and (when
        notifications are enabled) the notifications sender."""
        settings, clock = self.settings, self.clock
        pollers = [
            build_poller(
                self.session_factory,
                cluster=name,
                backends=self.backends(name),
                clock=clock,
                settings=settings,
                profile=self.profile(name),
                ledger=worker_ledger(clock),
            )
            for name in clusters
        ]
        staging = {
            name: self.staging_context(name, clock, holder_id())
            for name in clusters
            if staging_step.can_stage(self.profile(name))
        }
        notifications = None
        if settings.notifications_enabled:  # e-mails, webhooks, balance watch (docs/notifications.md)
            notifications = notifications_loop(settings, self.session_factory, clock)
        return WorkerRuntime(pollers, staging, notifications, settings.poll_min_s, settings.poll_max_s)

    def backends(self, cluster: str | None = None) -> SlurmBackendFactory:
        profile = self.profile(cluster)
        with self._lock:
            backends = self._backends.get(profile.name)
            if backends is None:
                backends = self.backend_factory(profile, self.settings)
                self._backends[profile.name] = backends
                if isinstance(backends, ClusterBackends) and backends.pool is not None:
                    self._watch_credentials_locked()
            return backends

    def check_tag_lookup(self, cluster: str) -> None:
        """ConfigError (``myriagate worker`` exits 78) when ``cluster`` cannot find a job by its
        tag (see ``ClusterBackends.check_tag_lookup``)."""
        backends = self.backends(cluster)
        if isinstance(backends, ClusterBackends):
            backends.check_tag_lookup()

    def operator_runner(self, cluster: str | None = None) -> CommandRunner:
        """A runner with Slurm operator rights, for ``admin slurm-sync`` and ``admin reconcile``.

        On the cluster itself as root (local runner, or host 127.0.0.1): root's own runner.
        Otherwise SSH as the profile's ``[connection] operator_login``.
        """
        profile = self.profile(cluster)
        conn = profile.connection
        is_root = os.geteuid() == 0
        if conn.runner == "local" or (conn.host in ("127.0.0.1", "localhost", "::1") and is_root):
            return MeteredRunner(LocalRunner(path=conn.command_path), profile.name)
        if conn.operator_login is None:
            raise ConfigError(
                f"cluster {profile.name!r}: set [connection] operator_login to a login with Slurm "
                "operator rights (sacctmgr) to run slurm-sync or reconcile over SSH"
            )
        backends = self.backends(profile.name)
        pool = backends.pool if isinstance(backends, ClusterBackends) else None
        if pool is None:
            raise ConfigError(f"cluster {profile.name!r} has no SSH connection for the operator login")
        return MeteredRunner(SshRunner(pool, conn.operator_login, path=conn.command_path), profile.name)

    def slurm_accounts(self, cluster: str | None = None) -> SacctmgrAccounts:
        """sacctmgr/sshare as the operator: Slurm's associations, read and changed."""
        profile = self.profile(cluster)
        return SacctmgrAccounts(
            self.operator_runner(profile.name), timeout_s=profile.connection.command_timeout_s
        )

    def slurm_usage(self, cluster: str | None = None) -> SacctUsage:
        """sacct over all users as the operator: what Slurm accounted per job and window."""
        profile = self.profile(cluster)
        tz = ZoneInfo(profile.timezone) if profile.timezone else UTC
        return SacctUsage(self.operator_runner(profile.name), cluster_tz=tz)

    def slurm_config(self, cluster: str | None = None) -> ScontrolClusterConfig:
        """scontrol as the operator: the cluster's partitions, nodes and licenses, read-only."""
        profile = self.profile(cluster)
        return ScontrolClusterConfig(
            self.operator_runner(profile.name), timeout_s=profile.connection.command_timeout_s
        )

    def stager(self) -> Stager:
        """The one stager of this process (OpenSSH, with certificates from the gateway's CA)."""
        with self._lock:
            if self._stager is None:
                settings = self.settings
                if settings.ssh_ca_key_path is None:
                    raise ConfigError("data staging goes over SSH: set MYRIAGATE_SSH_CA_KEY_PATH")
                from myriagate.staging.openssh import OpenSshStager
                from myriagate.staging.session_watch import SessionLimits

                ca = CertificateAuthority(settings.ssh_ca_key_path, settings.ssh_cert_validity_s)
                limits = SessionLimits(
                    start_timeout_s=settings.staging_start_timeout_s,
                    stall_timeout_s=settings.staging_stall_timeout_s,
                    max_session_s=settings.staging_max_session_s,
                    max_reply_bytes=settings.staging_max_reply_bytes,
                )
                stager = OpenSshStager(ca, remote_python=settings.staging_remote_python, limits=limits)
                self._stager, self._stager_ca = MeteredStager(stager), ca
                self._watch_credentials_locked()
            return self._stager

    def forget_login(self, login: str) -> int:
        """Close every SSH connection this process holds as ``login`` (cluster pools, stager
        masters) and drop its cached certificates: its user was disabled. The next use, if
        any, logs in again with a fresh certificate. Returns how many connections closed."""
        closed = sum(
            backends.forget(login)
            for backends in list(self._backends.values())
            if isinstance(backends, ClusterBackends)
        )
        if self._stager_ca is not None:
            self._stager_ca.forget(login)
        forget = getattr(self._stager, "forget", None)
        if forget is not None:
            closed += int(forget(login))
        return closed

    def _watch_credentials_locked(self) -> None:
        """Start watching for disabled users once this process holds SSH credentials."""
        if self._credential_watch is None:
            self._credential_watch = CredentialWatch(
                self.session_factory, self.forget_login, self.settings.credential_check_s
            )
            self._credential_watch.start()

    def residency(self, source: str = "api") -> ResidencyContext:
        """The residency policy the submit service checks staging against."""
        return ResidencyContext(
            allowed_regions=tuple(self.settings.allowed_regions),
            audit_session=self.session_factory,
            source=source,
        )

    def staging_context(self, cluster: str, clock: Clock, holder: str) -> StagingContext:
        """What the worker's staging step needs for ``cluster``."""
        settings = self.settings
        return StagingContext(
            session_factory=self.session_factory,
            profile=self.profile(cluster),
            backends=self.backends(cluster),
            stager=self.stager(),
            clock=clock,
            allowed_regions=tuple(settings.allowed_regions),
            spool_dir=settings.spool_dir,
            holder=holder,
            claim_s=settings.staging_claim_s,
            max_attempts=settings.staging_max_attempts,
            upload_ttl_s=settings.upload_ttl_s,
        )

    def close(self) -> None:
        if self._credential_watch is not None:
            self._credential_watch.stop()
        for backends in self._backends.values():
            if isinstance(backends, ClusterBackends):
                backends.close()
        stager, self._stager = self._stager, None
        close = getattr(stager, "close", None)
        if close is not None:
            close()
        self.session_factory.kw["bind"].dispose()


def worker_ledger(clock: Clock) -> SettlingLedgerFactory:
    """The ledger the worker releases and settles with: its entries are dated by ``clock`` and
    signed ``worker``, so history tells them from the gateway's holds and the operators' grants."""

    def open_ledger(session: Session) -> SqlLedger:
        return SqlLedger(session, clock=clock, author="worker")

    return open_ledger


def notifications_loop(
    settings: Settings, session_factory: sessionmaker[Session], clock: Clock
) -> NotificationsLoop:
    """The worker's notifications sender, with the channels (SMTP, webhooks) of ``settings``."""
    return NotificationsLoop(session_factory, notification_channels(settings), clock)


def notification_channels(settings: Settings) -> Channels:
    """The ways out of ``settings``: the sender's, and the settings page's tests and links."""
    return Channels(
        mailer=mailer_from(settings),
        webhooks=webhook_poster_from(settings),
        webhook_secrets=SecretSealer.for_webhooks(settings.secret_key),
    )


def build_gateway(
    settings: Settings | None = None,
    *,
    backend_factory: BackendFactory = ClusterBackends,
    clock: Clock | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> Gateway:
    """The gateway of ``settings`` (from the environment when None).

    ``backend_factory`` builds each cluster's Slurm backends (tests plug fakes here);
    ``clock`` is the system clock unless given; ``session_factory`` is made from
    ``database_url`` unless given (tests share theirs).
    """
    settings = settings or get_settings()
    profiles = load_all_profiles(settings)
    if settings.default_cluster not in profiles:
        raise ConfigError(
            f"MYRIAGATE_DEFAULT_CLUSTER={settings.default_cluster!r} has no profile; "
            f"known: {', '.join(sorted(profiles))}"
        )
    if session_factory is None:
        engine = make_engine(settings.database_url, pool=PoolOptions.from_settings(settings))
        session_factory = make_session_factory(engine)
    return Gateway(
        settings=settings,
        profiles=profiles,
        session_factory=session_factory,
        backend_factory=backend_factory,
        clock=clock or SystemClock(),
    )
