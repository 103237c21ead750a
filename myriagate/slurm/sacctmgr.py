"""``sacctmgr`` and ``sshare`` as data: argv builders, pure parsers, and a small adapter.

Every argv is a tuple (never a shell string) and every name in it has passed
``domain.values`` (through the change types of ``domain.accounts``), so a hostile project or
login name is refused before any command exists. ``-i`` (immediate) makes sacctmgr commit
without asking. Outputs are ``-P`` (``|``-separated, no trailing separator); our names cannot
contain ``|``. Captured outputs: ``tests/data/slurm/sacctmgr_*.txt``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from myriagate.domain import values
from myriagate.domain.accounts import (
    AccountUsage,
    AddAccount,
    AddUser,
    Association,
    Change,
    RemoveUser,
    SetLimits,
    tres_name,
)
from myriagate.ports import CommandRunner
from myriagate.slurm.parse import lines

ASSOC_FIELDS: tuple[str, ...] = (
    "Cluster", "Account", "User", "ParentName", "Partition", "GrpTRESMins", "GrpSubmitJobs",
)  # fmt: skip
SSHARE_FIELDS: tuple[str, ...] = ("Account", "User", "GrpTRESRaw", "TRESRunMins")

# Descriptions are free text in the gateway; sacctmgr parses ``key=value`` itself and strips
# quotes, so only a plain set of characters goes through (anything else: the account name).
_DESCRIPTION = re.compile(r"^[\w .,()-]{1,100}\Z")
_SACCTMGR = ("sacctmgr", "-i")


def description(text: str, fallback: str) -> str:
    """``text`` when it is plain enough for sacctmgr, else ``fallback`` (an account name)."""
    text = " ".join(text.split())
    return text if _DESCRIPTION.match(text) and "=" not in text else fallback


# --- argv builders ----------------------------------------------------------------------------
def show_assoc() -> tuple[str, ...]:
    return (*_SACCTMGR, "-P", "-n", "show", "assoc", f"format={','.join(ASSOC_FIELDS)}")


def sshare_usage(accounts: Collection[str]) -> tuple[str, ...]:
    """Account-level usage lines (no ``-a``: no per-user lines) of these accounts."""
    names = [values.account(a) for a in sorted(set(accounts))]
    if not names:
        raise ValueError("at least one account is needed")
    return ("sshare", "-n", "-P", "-A", ",".join(names), "-o", ",".join(SSHARE_FIELDS))


def add_account(change: AddAccount) -> tuple[str, ...]:
    return (
        *_SACCTMGR, "add", "account", change.account, f"parent={change.parent}",
        f"description={description(change.description, change.account)}",
        f"organization={change.organization}",
    )  # fmt: skip


def set_limits(change: SetLimits) -> tuple[str, ...]:
    """``modify account where name=X set …``: only the account's own association changes."""
    settings: list[str] = []
    if change.tres_mins:
        settings.append("GrpTRESMins=" + ",".join(f"{tres_name(k)}={v}" for k, v in change.tres_mins))
    if change.submit_jobs is not None:
        settings.append(f"GrpSubmitJobs={change.submit_jobs}")
    return (*_SACCTMGR, "modify", "account", "where", f"name={change.account}", "set", *settings)


def add_user(change: AddUser) -> tuple[str, ...]:
    return (*_SACCTMGR, "add", "user", change.login, f"account={change.account}")


def remove_user(change: RemoveUser) -> tuple[str, ...]:
    return (*_SACCTMGR, "remove", "user", "where", f"name={change.login}", f"account={change.account}")


def remove_account(account: str) -> tuple[str, ...]:
    """Not planned by the sync (it never deletes accounts); tests use it to clean up."""
    return (*_SACCTMGR, "remove", "account", "where", f"name={values.account(account)}")


def command(change: Change) -> tuple[str, ...]:
    if isinstance(change, AddAccount):
        return add_account(change)
    if isinstance(change, SetLimits):
        return set_limits(change)
    if isinstance(change, AddUser):
        return add_user(change)
    return remove_user(change)


# --- parsers ----------------------------------------------------------------------------------
def parse_tres_minutes(text: str) -> dict[str, int]:
    """``cpu=100,gres/gpu=5`` -> {"cpu": 100, "gres/gpu": 5}; unparseable items are skipped."""
    out: dict[str, int] = {}
    for item in text.split(","):
        key, sep, raw = item.strip().partition("=")
        if sep and key and raw.strip().lstrip("-").isdigit():
            out[key] = int(raw)
    return out


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def parse_show_assoc(text: str | bytes) -> list[Association]:
    """Lines of ``show_assoc()``; a line with the wrong number of fields is skipped."""
    out: list[Association] = []
    for line in lines(text):
        f = line.split("|")
        if len(f) != len(ASSOC_FIELDS):
            continue
        cluster, account, user, parent, partition, tres_mins, submit = (x.strip() for x in f)
        if not account:
            continue
        out.append(
            Association(
                cluster=cluster,
                account=account,
                user=user or None,
                parent=parent or None,
                partition=partition or None,
                grp_tres_mins=parse_tres_minutes(tres_mins),
                grp_submit_jobs=_int_or_none(submit),
            )
        )
    return out


def parse_sshare_usage(text: str | bytes) -> dict[str, AccountUsage]:
    """Account lines of ``sshare_usage()`` (sshare indents by depth: stripped)."""
    out: dict[str, AccountUsage] = {}
    for line in lines(text):
        f = line.split("|")
        if len(f) != len(SSHARE_FIELDS):
            continue
        account, user, raw, running = (x.strip() for x in f)
        if account and not user:
            out[account] = AccountUsage(account, parse_tres_minutes(raw), parse_tres_minutes(running))
    return out


def squeue_members(accounts: Collection[str]) -> tuple[str, ...]:
    """Account and login of every job still in the queue (pending, running, completing) of
    these accounts, every user's and every partition's."""
    names = [values.account(a) for a in sorted(set(accounts))]
    if not names:
        raise ValueError("at least one account is needed")
    return ("squeue", "--all", "-h", "-A", ",".join(names), "-o", "%a|%u")


def parse_squeue_members(text: str | bytes) -> dict[str, set[str]]:
    """``squeue_members()``'s lines: account -> the logins with jobs there."""
    out: dict[str, set[str]] = {}
    for line in lines(text):
        account, sep, login = line.strip().partition("|")
        if sep and account and login:
            out.setdefault(account, set()).add(login)
    return out


# --- adapter ----------------------------------------------------------------------------------
class SacctmgrAccounts:
    """Reads and changes Slurm associations through a runner of a Slurm operator (or root)."""

    def __init__(self, runner: CommandRunner, *, timeout_s: float = 60.0) -> None:
        self._runner = runner
        self._timeout_s = timeout_s

    def associations(self) -> list[Association]:
        return parse_show_assoc(self._runner.run(show_assoc(), timeout=self._timeout_s).stdout)

    def usage(self, accounts: Collection[str]) -> dict[str, AccountUsage]:
        if not accounts:
            return {}
        return parse_sshare_usage(self._runner.run(sshare_usage(accounts), timeout=self._timeout_s).stdout)

    def busy_members(self, accounts: Collection[str]) -> dict[str, set[str]]:
        if not accounts:
            return {}
        out = self._runner.run(squeue_members(accounts), timeout=self._timeout_s).stdout
        return parse_squeue_members(out)

    def command(self, change: Change) -> tuple[str, ...]:
        return command(change)

    def run(self, argv: Sequence[str]) -> None:
        """Run one planned command; the runner raises SchedulerRejected with sacctmgr's message."""
        self._runner.run(argv, timeout=self._timeout_s)
