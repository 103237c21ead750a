"""The statements of a submission's hot path (``jobs.insert_new``, ``jobs.mark_submitted``),
built once, in Core, one per round trip where the database allows it.

Every submission runs them, so none is rebuilt per call (building a statement and computing
its cache key cost more than running it) and no ORM unit of work is involved. On PostgreSQL
each write is a single statement (data-modifying CTEs: the rows land together, foreign keys
checked at the end of the statement); SQLite runs the same writes one statement at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.jobs import Job, JobStateChange
from myriagate.domain.states import JobState

JOBS = cast(sa.Table, Job.__table__)
STATE_CHANGES = cast(sa.Table, JobStateChange.__table__)
AUDIT_EVENTS = cast(sa.Table, AuditEvent.__table__)
# (column, attribute) of every column of a job, in table order: the attributes a row written
# or read back with Core sets on the job's object.
JOB_ATTRIBUTES = tuple((column, Job.__mapper__.get_property_by_column(column).key) for column in JOBS.columns)
_CHANGE_COLUMNS = ("job_id", "from_state", "to_state", "slurm_state", "reason", "at")


def write_intent(
    session: Session, job: Mapping[str, Any], change: Mapping[str, Any], audit_event: Mapping[str, Any]
) -> None:
    """Insert a job row, its first state change and its audit entry (column values by name)."""
    if _dialect(session) == "postgresql":
        params = _prefixed("j_", job) | _prefixed("c_", change)
        params |= _prefixed("a_", {"id": uuid.uuid4(), **audit_event})  # the column's default
        session.execute(_INTENT_PG, params)
        return
    session.execute(_INSERT_JOB, dict(job))
    session.execute(_INSERT_CHANGE, dict(change))
    session.execute(_INSERT_AUDIT_EVENT, dict(audit_event))


def write_submitted(session: Session, params: Mapping[str, Any]) -> sa.Row[Any] | None:
    """Move a job still ``submitting`` to ``pending`` with its Slurm id and add that state
    change; the job's row as it now stands (every column, in table order), or None when the
    job had left ``submitting`` (nothing written). ``params``: ``p_job_id``,
    ``p_slurm_job_id``, ``p_at``, ``p_work_dir``."""
    if _dialect(session) == "postgresql":
        return session.execute(_SUBMITTED_PG, params).one_or_none()
    row = session.execute(_SUBMITTED, params).one_or_none()
    if row is not None:
        change = dict(zip(_CHANGE_COLUMNS, _pending_change(params["p_job_id"], params["p_at"]), strict=True))
        session.execute(_INSERT_CHANGE, change)
    return row


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


def _bound(table: sa.Table, prefix: str, names: tuple[str, ...]) -> dict[str, sa.BindParameter[Any]]:
    return {name: sa.bindparam(prefix + name, type_=table.c[name].type) for name in names}


def _intent_pg() -> sa.Insert:
    """``WITH job AS (INSERT INTO jobs …), change AS (INSERT INTO job_state_changes …)
    INSERT INTO audit_events …``: parameters ``j_<column>``, ``c_<column>``, ``a_<column>``."""
    job = sa.insert(JOBS).values(_bound(JOBS, "j_", tuple(c.name for c in JOBS.columns)))
    change = sa.insert(STATE_CHANGES).values(_bound(STATE_CHANGES, "c_", _CHANGE_COLUMNS))
    audit_names = tuple(c.name for c in AUDIT_EVENTS.columns)
    audit = sa.insert(AUDIT_EVENTS).values(_bound(AUDIT_EVENTS, "a_", audit_names))
    return audit.add_cte(job.cte("new_job"), change.cte("first_change"))


_AT = sa.bindparam("p_at", type_=JOBS.c.updated_at.type)
_MARK_SUBMITTED = (
    sa.update(JOBS)
    .where(JOBS.c.id == sa.bindparam("p_job_id", type_=JOBS.c.id.type), JOBS.c.state == JobState.SUBMITTING)
    .values(
        slurm_job_id=sa.bindparam("p_slurm_job_id", type_=JOBS.c.slurm_job_id.type),
        # Every job sbatch accepts starts PENDING in Slurm too.
        slurm_state=sa.func.coalesce(JOBS.c.slurm_state, "PENDING"),
        submitted_at=sa.func.coalesce(JOBS.c.submitted_at, _AT),
        reason=None,
        updated_at=_AT,
        state=JobState.PENDING,
        work_dir=sa.case(
            (JOBS.c.work_dir.startswith("/"), JOBS.c.work_dir),
            else_=sa.bindparam("p_work_dir", type_=JOBS.c.work_dir.type),
        ),
    )
)


def _pending_change(job_id: Any, at: Any) -> tuple[Any, ...]:
    """The state change row of a job sbatch accepted (values or SQL expressions)."""
    return (job_id, JobState.SUBMITTING, JobState.PENDING, "PENDING", None, at)


def _submitted_pg() -> sa.Select[Any]:
    """``WITH moved AS (UPDATE jobs … RETURNING *), change AS (INSERT INTO job_state_changes
    SELECT … FROM moved) SELECT * FROM moved``: the change is written only if the job moved."""
    moved = _SUBMITTED.cte("moved")
    c = STATE_CHANGES.c
    typed = [
        sa.literal(value, c[name].type)
        for name, value in zip(_CHANGE_COLUMNS[1:5], _pending_change(None, None)[1:5], strict=True)
    ]
    row = sa.select(moved.c.id, *typed, _AT).select_from(moved)
    change = sa.insert(STATE_CHANGES).from_select(list(_CHANGE_COLUMNS), row).cte("pending_change")
    return sa.select(*(moved.c[column.name] for column in JOBS.columns)).add_cte(change)


_INSERT_JOB = sa.insert(JOBS)
_INSERT_CHANGE = sa.insert(STATE_CHANGES)
_INSERT_AUDIT_EVENT = sa.insert(AUDIT_EVENTS)
_INTENT_PG = _intent_pg()
_SUBMITTED = _MARK_SUBMITTED.returning(*JOBS.columns)
_SUBMITTED_PG = _submitted_pg()
