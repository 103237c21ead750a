"""The interfaces between services and adapters, and their result types.

Services receive these as arguments (tests pass fakes); adapters implement them. Nothing
here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from myriagate.domain.accounts import AccountUsage, Association, Change
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.domain.skipped_results import SkippedFile

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class CommandRunner(Protocol):
    """Runs one command given as argv (never a shell string) on a cluster host."""

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult: ...


@dataclass(frozen=True)
class ClusterHealth:
    reachable: bool
    slurm_version: str | None = None
    partitions: dict[str, str] = field(default_factory=dict)  # name -> state (up, down…)
    latency_ms: float | None = None
    detail: str | None = None


class SlurmBackend(Protocol):
    """Slurm as seen by one cluster login."""

    def submit(self, script: RenderedScript, *, tag: str) -> str:
        """Submit and return the Slurm job id; raises SubmissionUncertain when unknown."""
        ...

    def find_by_tag(self, tag: str) -> str | None:
        """The Slurm job id carrying ``--comment=<tag>``, in squeue then sacct, or None."""
        ...

    def find_by_tags(self, tags: Collection[str]) -> dict[str, str | None]:
        """``find_by_tag`` for many tags at once: one squeue, then one sacct for the tags it did
        not show. {tag: job id, or None when cleanly absent}; a tag left out is unknown (an
        answer carried a Slurm error); SchedulerUnavailable when a command fails."""
        ...

    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        """States of these jobs in one squeue call, plus one sacct call for the rest."""
        ...

    def cancel(self, slurm_job_id: str) -> None:
        """Cancel; idempotent (cancelling a finished job is not an error)."""
        ...

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]: ...

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime, slurm_job_ids: Collection[str] = ()
    ) -> list[JobUsage]:
        """Jobs of these Slurm accounts (every user's) that ended in [since, until), one sacct
        call; one entry per job or array task, the runs of a requeued job summed. Only
        ``slurm_job_ids`` when given (a narrow check before a large charge)."""
        ...

    def comments(self, slurm_job_ids: Collection[str]) -> dict[str, str]:
        """{job id: ``--comment`` as given} for these jobs; a job accounting does not know, or
        whose comment could not be read unambiguously, is left out (unknown)."""
        ...

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        """The last ``max_bytes`` of a file on the cluster (b"" when it does not exist)."""
        ...

    def read_private(self, path: str, home: str, max_bytes: int) -> bytes:
        """``tail`` of a file below ``home`` that only the login can have written: PermissionDenied
        unless the file and every directory down to it from ``home`` belong to the login, are
        writable by nobody else and are no links (b"" when something on the way is missing)."""
        ...

    def home_dir(self) -> str:
        """The login's home on the cluster: where a job that names no --chdir runs."""
        ...

    def ping(self) -> ClusterHealth: ...


class SlurmBackendFactory(Protocol):
    """Hands out a backend acting as a given cluster login (connections are pooled)."""

    def for_login(self, login: str) -> SlurmBackend: ...

    def for_service(self) -> SlurmBackend:
        """The backend of the gateway's own service login, used for polling."""
        ...


@dataclass(frozen=True)
class Balance:
    """An allocation's totals, kept up to date so reading them is O(1)."""

    allocation_id: UUID
    granted: Cost
    held: Cost
    charged: Cost

    @property
    def remaining(self) -> Cost:
        """granted − held − charged (never negative: holds are conditional)."""
        return self.granted.minus_floor_zero(self.held + self.charged)


class Ledger(Protocol):
    """Append-only compute-time accounting with maintained totals (docs/allocations.md).

    Every operation is idempotent per (job, kind): a retried hold, charge or release never
    counts twice, across processes and gateway instances.
    """

    def hold(self, *, allocation_id: UUID, job_id: UUID, amount: Cost) -> None:
        """Reserve ``amount``; raises InsufficientAllocation when it does not fit."""
        ...

    def settle(self, *, job_id: UUID, actual: Cost) -> None:
        """Charge ``actual`` and release the rest of the job's hold."""
        ...

    def release(self, *, job_id: UUID) -> None:
        """Give the whole hold back (the job never ran); idempotent."""
        ...

    def balance(self, allocation_id: UUID) -> Balance: ...


# The author of the entries the ledger writes on its own (an overrun's automatic adjustment),
# as opposed to a person's grant or correction.
LEDGER_AUTHOR = "ledger"


class LedgerEntryView(Protocol):
    """One entry of an allocation's history, as the ledger returns it (read-only)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> StrEnum: ...
    @property
    def core_seconds(self) -> int: ...
    @property
    def gpu_seconds(self) -> int: ...
    @property
    def job_id(self) -> UUID | None: ...
    @property
    def slurm_job_id(self) -> str | None: ...
    @property
    def author(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True)
class LedgerPage:
    """A page of an allocation's history, newest first; pass ``next_cursor`` for the next."""

    items: Sequence[LedgerEntryView]
    next_cursor: int | None


class AdminLedger(Ledger, Protocol):
    """The Ledger port plus what administrators do with it: grants, corrections, history."""

    def grant(
        self, allocation_id: UUID, amount: Cost, *, author: str, reason: str, enforce_quota: bool = True
    ) -> Balance:
        """Add ``amount`` to the grant, within the institution's quota for the period."""
        ...

    def adjust(
        self,
        allocation_id: UUID,
        *,
        core_seconds: int,
        gpu_seconds: int,
        author: str,
        reason: str,
        enforce_quota: bool = True,
    ) -> Balance:
        """Correct the grant by a signed amount; never below what is held and charged."""
        ...

    def entries(self, allocation_id: UUID, *, limit: int = 50, cursor: int | None = None) -> LedgerPage: ...


class LedgerFactory(Protocol):
    """Opens the ledger inside the caller's session (the caller commits or rolls back).

    ``clock`` dates the entries it writes (the current time when None). The composition root
    (``myriagate.wiring``) picks the implementation; services receive it.
    """

    def __call__(self, session: Session, /, *, clock: Clock | None = None) -> AdminLedger: ...


@dataclass(frozen=True)
class StagedFile:
    """One file at the end of a transfer: its path under the tree's root, size and sha256.

    ``sha256`` is always computed where the file now lives (at the destination, over SSH for
    a remote one), never copied from the sender.
    """

    path: str  # relative POSIX path, normalised by domain.staging.relative_path
    size_bytes: int
    sha256: str  # lowercase hex


@dataclass(frozen=True)
class RemoteTree:
    """A directory on an SSH host, reached as one login, that a transfer reads or writes.

    ``root`` is the operator's directory (a storage endpoint's configured root, the login's
    home, a ``--chdir`` the researcher chose): it may be reached through links its owner set
    up. ``anchor`` is what the gateway adds below it (``<account>/<dataset dir>``,
    ``myriagate-jobs/<job id>``): every component is walked without following links, created
    0700 when missing, and must belong to ``login``. Every path a transfer names is relative
    to ``path`` and must stay inside it; the far side reports where it really wrote, and a
    transfer whose files did not land at ``path`` (under the root's real location) fails.
    """

    host: str
    port: int
    login: str
    known_hosts: Path  # pinned host keys; never trust-on-first-use
    root: str  # absolute POSIX directory on that host
    anchor: str = ""  # relative path below root, walked link by link (see above)

    @property
    def path(self) -> str:
        """The directory the transfer's paths are relative to."""
        if not self.anchor:
            return self.root
        return f"{self.root.rstrip('/')}/{self.anchor}"


# (bytes done so far, bytes to move in total); called from the transferring thread.
TransferProgress = Callable[[int, int], None]


class Stager(Protocol):
    """Moves files between the gateway's disk and SSH hosts (cluster, storage endpoints).

    Integrity rules every implementation keeps: a file is written under a temporary name,
    its sha256 is computed at the destination and compared with the source's, and only then
    renamed atomically to its final name; a mismatch raises ``ChecksumMismatch`` and leaves no
    file under the final name. A file already at the destination with the same size and sha256
    is not sent again. An interrupted transfer, called again, resumes where it stopped.
    Paths that leave the root ('..', absolute, symlinks leading outside) raise ``UnsafeValue``.
    Memory stays bounded whatever the file sizes. Residency is checked by the caller (the
    staging service) before a stager is asked to move anything.
    """

    def upload(
        self,
        local_root: Path,
        files: Sequence[str],
        dest: RemoteTree,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        """Copy ``local_root/f`` to ``dest.path/f`` for each ``f``; one StagedFile per file."""
        ...

    def download(
        self,
        src: RemoteTree,
        files: Sequence[str],
        local_root: Path,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        """Copy ``src.path/f`` to ``local_root/f`` for each ``f``; one StagedFile per file."""
        ...

    def scan(
        self,
        src: RemoteTree,
        patterns: Sequence[str],
        *,
        newer_than_ns: int | None = None,
        skipped: list[SkippedFile] | None = None,
    ) -> list[StagedFile]:
        """The regular files under ``src.path`` matching the glob ``patterns`` (``*`` stays in one
        directory, ``**`` crosses directories), with size and sha256 computed on that host.
        Symlinks are never followed. With ``newer_than_ns``, only files modified after that
        time (ns since the epoch, the host's clock). Sorted by path; no duplicates. What
        matched and is not a regular file (a link, to a file or a directory; a fifo, a
        socket, a device) is appended to ``skipped``, when given, with its kind."""
        ...


class AccountsAdmin(Protocol):
    """Slurm's accounts and associations as the allocations sync reads and changes them
    (``slurm.sacctmgr.SacctmgrAccounts``)."""

    def associations(self) -> list[Association]: ...
    def usage(self, accounts: Collection[str]) -> dict[str, AccountUsage]: ...
    def busy_members(self, accounts: Collection[str]) -> dict[str, set[str]]:
        """Account -> the logins with jobs still queued or running there (Slurm refuses to
        remove such an association)."""
        ...

    def command(self, change: Change) -> tuple[str, ...]:
        """The sacctmgr argv that makes ``change``, for display and for ``run``."""
        ...

    def run(self, argv: Sequence[str]) -> None: ...


class UsageReader(Protocol):
    """Every job of these accounts that ended in [start, end), from Slurm's accounting
    (``slurm.usage.SacctUsage``); the monthly reconciliation compares it with the ledger."""

    def ended_jobs(self, accounts: Collection[str], start: datetime, end: datetime) -> list[JobUsage]: ...


class Mailer(Protocol):
    """Sends one plain-text e-mail (``notifications.smtp.SmtpMailer``)."""

    def send(self, to: str, subject: str, body: str) -> None: ...


class WebhookPoster(Protocol):
    """POSTs one signed body to a user's URL (``notifications.webhooks.HttpWebhookPoster``)."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
