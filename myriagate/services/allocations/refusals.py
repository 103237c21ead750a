"""What a researcher reads when their project cannot pay for a job, and what to do next.

The ledger only knows that a hold did not fit; this module says it in hours, names the
project, and gives the ways out: the longest time limit that would fit now (the hold is
linear in the time limit), the project's lead to ask for more hours (from the database), or,
for the lead, a grant from their university's administrators. Every sentence is an
``errors.Text``: pages say it in French with French numbers, the API and the CLI in English.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.db.repos import notifications as notifications_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.domain.walltime import format_walltime
from myriagate.errors import Hours, InsufficientAllocation, Text

# Below a minute, shortening the job is no answer (Slurm's -t counts minutes).
_SHORTEST_SUGGESTED_S = 60


def longest_time_that_fits(need: Cost, left: Cost, time_limit_s: int) -> int | None:
    """The longest time limit (whole minutes) whose hold fits in ``left``, when shorter than
    ``time_limit_s``; None when even a minute does not fit. The hold is linear in the time
    limit (billing × seconds × tasks), so the answer is a rule of three, rounded down."""
    fits = time_limit_s
    for needed, remaining in ((need.core_seconds, left.core_seconds), (need.gpu_seconds, left.gpu_seconds)):
        if needed > 0:
            fits = min(fits, remaining * time_limit_s // needed)
    fits -= fits % 60
    return fits if _SHORTEST_SUGGESTED_S <= fits < time_limit_s else None


def _lead_names(session: Session, cluster: str, account: str) -> tuple[list[str], set[UUID]]:
    project = projects_repo.get_project(session, cluster, account)
    leads: Sequence[User] = [] if project is None else notifications_repo.project_leads(session, project)
    names = [lead.display_name or lead.username for lead in leads]
    return names, {lead.id for lead in leads}


def _ask_for_more(session: Session, cluster: str, account: str, requester_id: UUID | None) -> Text:
    """Who can give the project more hours: its lead, or (for the lead) a grant."""
    names, lead_ids = _lead_names(session, cluster, account)
    if requester_id is not None and requester_id in lead_ids:
        return Text(
            "request a grant of more hours for %(account)s from your university's administrators",
            account=account,
        )
    if names:
        return Text(
            "ask your project lead %(lead)s to request a grant of more hours for %(account)s",
            lead=", ".join(names),
            account=account,
        )
    return Text("ask your project's lead to request a grant of more hours for %(account)s", account=account)


def _shortage(need: Cost, left: Cost, account: str) -> Text:
    if need.core_seconds > left.core_seconds or need.gpu_seconds <= left.gpu_seconds:
        return Text(
            "this job needs %(need)s CPU-hours, %(left)s left in %(account)s",
            need=Hours(need.core_seconds),
            left=Hours(left.core_seconds),
            account=account,
        )
    return Text(
        "this job needs %(need)s GPU-hours, %(left)s left in %(account)s",
        need=Hours(need.gpu_seconds),
        left=Hours(left.gpu_seconds),
        account=account,
    )


def not_enough(
    session: Session,
    *,
    cluster: str,
    account: str,
    need: Cost,
    left: Cost,
    time_limit_s: int | None,
    requester_id: UUID | None = None,
) -> InsufficientAllocation:
    """The refusal of a job whose hold ``need`` is more than the ``left`` of ``account``."""
    ask = _ask_for_more(session, cluster, account, requester_id)
    fits = None if not time_limit_s else longest_time_that_fits(need, left, time_limit_s)
    if fits is not None:
        todo = Text(
            "%(shortage)s: shorten its time limit to %(time)s or less (-t %(time)s), or %(ask)s",
            shortage=_shortage(need, left, account),
            time=format_walltime(fits),
            ask=ask,
        )
    else:
        todo = Text("%(shortage)s: %(ask)s", shortage=_shortage(need, left, account), ask=ask)
    return InsufficientAllocation(todo)


def no_allocation(
    session: Session, *, cluster: str, account: str | None, requester_id: UUID | None = None
) -> InsufficientAllocation:
    """The refusal of a job whose project has no allocation for the current period."""
    if account is None:
        return InsufficientAllocation(Text("the job names no project account to charge: add --account"))
    return InsufficientAllocation(
        Text(
            "project %(account)s has no allocation for the current period on %(cluster)s: %(ask)s",
            account=account,
            cluster=cluster,
            ask=_ask_for_more(session, cluster, account, requester_id),
        )
    )
