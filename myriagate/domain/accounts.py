"""Slurm accounts and associations as data, and the changes ``slurm-sync`` makes to them.

Shared by the ``sacctmgr`` adapter (which parses them and turns changes into argv) and the
sync service (which decides the changes). Every name here has passed ``domain.values``.
See docs/slurm-sync.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from myriagate.domain import values
from myriagate.errors import UnsafeValue

# TRES names as sacctmgr writes them in GrpTRESMins: ``cpu``, ``mem``, ``gres/gpu``, ``gres/gpu:v100``.
_TRES = re.compile(r"^[a-z]+(?:/[a-z0-9_]+(?::[a-z0-9_]+)?)?\Z")
CPU = "cpu"
GPU = "gres/gpu"
CLEAR = -1  # what sacctmgr takes to remove a limit


def tres_name(value: str) -> str:
    if not _TRES.match(value):
        raise UnsafeValue(f"{value!r} is not a Slurm TRES name such as cpu or gres/gpu")
    return value


@dataclass(frozen=True)
class Association:
    """One line of ``sacctmgr show assoc``: an account's own association (``user`` None) or a user's."""

    cluster: str
    account: str
    user: str | None = None
    parent: str | None = None
    partition: str | None = None
    grp_tres_mins: Mapping[str, int] = field(default_factory=dict)
    grp_submit_jobs: int | None = None


@dataclass(frozen=True)
class AccountUsage:
    """An account's usage as Slurm's limits see it, in TRES-minutes (from ``sshare``).

    ``used`` is the (decayed) usage GrpTRESMins is compared with; ``running`` is what the
    running jobs will still use up to their time limits.
    """

    account: str
    used: Mapping[str, int] = field(default_factory=dict)
    running: Mapping[str, int] = field(default_factory=dict)


# --- changes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AddAccount:
    account: str
    parent: str
    description: str
    organization: str
    reason: str = ""

    def __post_init__(self) -> None:
        values.account(self.account)
        values.account(self.parent, "parent")
        values.account(self.organization, "organization")


@dataclass(frozen=True)
class SetLimits:
    """``GrpTRESMins`` (TRES -> minutes, ``CLEAR`` removes one) and/or ``GrpSubmitJobs``."""

    account: str
    tres_mins: tuple[tuple[str, int], ...] = ()
    submit_jobs: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        values.account(self.account)
        if not self.tres_mins and self.submit_jobs is None:
            raise ValueError("a SetLimits change must set something")
        for name, minutes in self.tres_mins:
            tres_name(name)
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < CLEAR:
                raise UnsafeValue(f"GrpTRESMins {name}={minutes!r} is not a whole number of minutes")
        jobs = self.submit_jobs
        if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < CLEAR):
            raise UnsafeValue(f"GrpSubmitJobs={jobs!r} is not a whole number")


@dataclass(frozen=True)
class AddUser:
    login: str
    account: str
    reason: str = ""

    def __post_init__(self) -> None:
        values.login(self.login)
        values.account(self.account)


@dataclass(frozen=True)
class RemoveUser:
    login: str
    account: str
    reason: str = ""

    def __post_init__(self) -> None:
        values.login(self.login)
        values.account(self.account)


Change = AddAccount | SetLimits | AddUser | RemoveUser
