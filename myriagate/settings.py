"""Settings from the environment (``MYRIAGATE_*``); nothing is built at import time."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from myriagate.errors import ConfigError

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "dev-insecure-secret", "secret"})
# log2 of scrypt's N for password hashes in production (about 50 ms a hash on one core).
PASSWORD_HASH_COST = 14


class Settings(BaseSettings):
    """Every setting is documented in docs/configuration.md (a test checks it)."""

    model_config = SettingsConfigDict(env_prefix="MYRIAGATE_", extra="ignore")

    dev_mode: bool = False
    database_url: str = "sqlite:///./myriagate.db"
    # Per process (PostgreSQL): each API or worker process keeps up to size + overflow
    # connections; a request waits db_pool_timeout_s for one, then gets 503 service_busy.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_s: float = Field(default=30.0, gt=0)
    # A placeholder on purpose: refused below unless dev_mode is on.
    secret_key: str = "dev-insecure-secret"  # noqa: S105
    # log2 of scrypt's N for the password hashes the gateway writes (each hash records its own
    # parameters, so older hashes stay verifiable). Lower only in dev mode: tests hash cheaply.
    password_hash_cost: int = Field(default=PASSWORD_HASH_COST, ge=1, le=20)
    profiles_dir: Path | None = None
    # The cluster profiles this gateway serves, comma-separated names; empty: every profile
    # found. A dev stack names only its dev cluster, so researchers never see clusters it cannot
    # reach. Plain text rather than JSON: deploy/dev.env is both sourced by sh and read by lines.
    clusters: str = ""
    templates_dir: Path | None = None
    default_cluster: str = "devcluster"
    ssh_ca_key_path: Path | None = None
    ssh_cert_validity_s: int = Field(default=300, ge=30, le=3600)
    poll_min_s: float = Field(default=2.0, gt=0)
    poll_max_s: float = Field(default=30.0, gt=0)
    lease_s: float = Field(default=30.0, gt=0)
    # A submission whose sbatch reply was lost is sent again only when two tag lookups this
    # far apart found nothing: slurmdbd may show a job later than slurmctld forgets it.
    accounting_lag_s: float = Field(default=120.0, ge=0)
    # A job neither squeue nor sacct knows for this long ends failed and its hold is released
    # (docs/allocations.md, "Jobs Slurm lost"); far longer than the accounting lag.
    vanished_job_release_s: float = Field(default=6 * 3600.0, gt=0)
    allowed_regions: list[str] = ["FR-NOR"]
    log_level: str = "INFO"
    log_json: bool = True
    # Authentication (docs/api.md): reverse proxies allowed to assert an identity (IPs or CIDRs).
    trusted_proxies: list[str] = []
    remote_user_header: str = "X-Remote-User"
    # The header in which the trusted proxy sends the user's e-mail address (docs/notifications.md,
    # "The address"); None: not read. Only set it if the proxy always sets or removes it.
    remote_email_header: str | None = None
    # The address researchers reach the gateway at (https://myriagate.criann.fr), for links sent
    # by e-mail; None: the address of the request that asked for the link.
    public_url: str | None = None
    # Interactive sessions' apps each on a host name of their own (docs/interactive.md, "An
    # origin per session"): a URL whose host starts with the label {session}, e.g.
    # https://{session}.apps.myriagate.example; empty: under the gateway's own origin.
    interactive_origin: str = ""
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    token_max_days: int = Field(default=365, ge=1)
    # None: Secure cookies unless dev_mode (dev servers run on plain http://localhost).
    cookie_secure: bool | None = None
    # Allocations (docs/allocations.md): hold at submit, settle from sacct, sweep outside jobs.
    enforce_allocations: bool = True
    # An outside-the-gateway charge above this is made only once a second, narrow sacct
    # (the job id, its account) confirms it (docs/slurm.md).
    outside_confirm_core_seconds: int = Field(default=3600, ge=0)
    # Data staging (docs/staging.md): uploads wait here until their job's stage-in; stage-out
    # relays results through here. Shared by every API process and worker of one gateway.
    spool_dir: Path = Path("./myriagate-spool")
    upload_max_bytes: int = Field(default=100 * 1024**3, ge=1)
    # How long a worker owns a job's transfer before another may take it over (renewed while
    # bytes move).
    staging_claim_s: float = Field(default=600.0, gt=0)
    staging_max_attempts: int = Field(default=5, ge=1)
    # The far side of a transfer runs as a login whose shell and start-up files it controls
    # (docs/staging.md, "Hostile logins"): an absolute Python, and bounds on every session.
    staging_remote_python: str = "/usr/bin/python3"
    staging_start_timeout_s: float = Field(default=30.0, gt=0)
    staging_stall_timeout_s: float = Field(default=120.0, gt=0)
    staging_max_session_s: float = Field(default=6 * 3600.0, gt=0)
    staging_max_reply_bytes: int = Field(default=64 * 1024**2, ge=1024)
    # A user disabled in another process has their SSH connections closed within this long.
    credential_check_s: float = Field(default=10.0, gt=0)
    # Who may scrape /metrics (docs/metrics.md): IPs or CIDRs of the TCP peer.
    metrics_allowed_networks: list[str] = ["127.0.0.1/32", "::1/128"]
    # Uploads no job took are removed from the spool after this long.
    upload_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    # Notifications (docs/notifications.md): job and allocation events by e-mail and webhooks.
    notifications_enabled: bool = True
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "myriagate@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    # Cluster health (docs/operations.md): the cluster page, GET /api/v1/clusters/{name} and
    # /readyz share one cached ping per cluster and API process; a failure is kept less long.
    cluster_health_ttl_s: float = Field(default=15.0, gt=0)
    cluster_health_failure_ttl_s: float = Field(default=5.0, gt=0)
    cluster_health_timeout_s: float = Field(default=5.0, gt=0)
    # Per-user rate limits (docs/api.md): a token bucket per user in each API process; a
    # submission costs more than a read. Login attempts: a bucket per client address.
    rate_limit_enabled: bool = True
    rate_limit_per_min: int = Field(default=600, ge=1)
    rate_limit_burst: int = Field(default=200, ge=1)
    rate_limit_submit_cost: int = Field(default=5, ge=1)
    login_rate_limit_per_min: int = Field(default=30, ge=1)
    login_rate_limit_burst: int = Field(default=30, ge=1)

    @field_validator("interactive_origin")
    @classmethod
    def _check_interactive_origin(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            port, parts = -1, urlsplit("")
        host = parts.hostname or ""
        suffix = host.removeprefix("{session}.")
        if (
            parts.scheme not in ("http", "https") or not host.startswith("{session}.") or "{" in suffix
            or "}" in suffix or not suffix or parts.path not in ("", "/") or parts.query or parts.fragment
            or parts.username or parts.password or port == -1
        ):  # fmt: skip
            raise ValueError(
                "MYRIAGATE_INTERACTIVE_ORIGIN must be a URL whose host name starts with the label "
                "{session} and that has no path, e.g. https://{session}.apps.myriagate.example; "
                f"not {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if not self.dev_mode and self.secret_key in PLACEHOLDER_SECRETS:
            raise ValueError(
                "MYRIAGATE_SECRET_KEY is a placeholder: set a real secret "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                "or MYRIAGATE_DEV_MODE=true on a development machine"
            )
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"MYRIAGATE_TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR"
                ) from None
        for network in self.metrics_allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"MYRIAGATE_METRICS_ALLOWED_NETWORKS: {network!r} is not an IP address or CIDR"
                ) from None
        if not self.dev_mode and self.password_hash_cost < PASSWORD_HASH_COST:
            raise ValueError(
                f"MYRIAGATE_PASSWORD_HASH_COST below {PASSWORD_HASH_COST} is for dev mode (tests) only"
            )
        if self.poll_max_s < self.poll_min_s:
            raise ValueError("MYRIAGATE_POLL_MAX_S must be >= MYRIAGATE_POLL_MIN_S")
        if self.vanished_job_release_s <= self.accounting_lag_s:
            raise ValueError("MYRIAGATE_VANISHED_JOB_RELEASE_S must be > MYRIAGATE_ACCOUNTING_LAG_S")
        if not self.staging_remote_python.startswith("/"):
            raise ValueError("MYRIAGATE_STAGING_REMOTE_PYTHON must be an absolute path (/usr/bin/python3)")
        if self.rate_limit_submit_cost > self.rate_limit_burst:
            raise ValueError(
                "MYRIAGATE_RATE_LIMIT_SUBMIT_COST must be <= MYRIAGATE_RATE_LIMIT_BURST "
                "(a submission could never pass)"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else not self.dev_mode


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(plain_errors(exc)) from exc
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def plain_errors(exc: ValidationError) -> str:
    """Each problem as one sentence naming its variable, never pydantic's dump of the model."""
    sentences = []
    for error in exc.errors(include_url=False):
        if error["type"] == "value_error" and "error" in error.get("ctx", {}):
            sentences.append(str(error["ctx"]["error"]))  # our validators' own sentences
        else:
            name = "MYRIAGATE_" + "_".join(str(part) for part in error["loc"]).upper()
            sentences.append(f"{name}: {error['msg']}")
    return "; ".join(sentences)
