"""What a submission writes, in how many statements, and the job object it hands back.

The hot path writes with Core statements built once (``db/repos/job_statements.py``): one
statement for the intent and one for sbatch's answer on PostgreSQL, the same rows one
statement at a time on SQLite (docs/performance.md counts the round trips).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import AuditEvent, Job, JobStateChange, User
from myriagate.domain.states import JobState
from myriagate.errors import InsufficientAllocation
from myriagate.services.submission.submit import SubmitRequest, submit_job
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile

SCRIPT = "#!/bin/bash\n#SBATCH --job-name=climate-run\nsrun ./model\n"


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session.get_bind()

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def submit(session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock) -> Job:
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER)
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "WITH", "DELETE")]


def test_a_submission_writes_in_two_statements_on_postgresql_five_on_sqlite(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    with statements(session) as seen:
        job = submit(session, backends, alice, clock)

    written = writes(seen)
    if session.get_bind().dialect.name == "postgresql":
        intent, outcome = written  # two statements, two round trips
        assert all(f"INSERT INTO {t}" in intent for t in ("jobs", "job_state_changes", "audit_events"))
        assert "UPDATE jobs" in outcome and "INSERT INTO job_state_changes" in outcome
    else:
        assert [s.split()[:3] for s in written] == [
            ["INSERT", "INTO", "jobs"],
            ["INSERT", "INTO", "job_state_changes"],
            ["INSERT", "INTO", "audit_events"],
            ["UPDATE", "jobs", "SET"],
            ["INSERT", "INTO", "job_state_changes"],
        ]
    changes = session.execute(
        sa.select(
            JobStateChange.from_state, JobStateChange.to_state, JobStateChange.slurm_state, JobStateChange.at
        )
        .where(JobStateChange.job_id == job.id)
        .order_by(JobStateChange.id)
    ).all()
    assert [tuple(c) for c in changes] == [
        (None, JobState.SUBMITTING, None, clock.now()),
        (JobState.SUBMITTING, JobState.PENDING, "PENDING", clock.now()),
    ]
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.target_id == str(job.id))).one()
    assert (event.action, event.actor, event.source, event.at) == (
        "job.submit",
        str(alice.id),
        "api",
        clock.now(),
    )
    assert event.detail == {
        "cluster": CLUSTER,
        "account": "caen-climat",
        "partition": "court",
        "tag": job.tag,
    }


def test_the_job_handed_back_is_the_row_as_stored_with_no_query_to_read_it(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    columns = [attr.key for attr in sa.inspect(Job).column_attrs]

    with statements(session) as seen:
        held = {name: getattr(job, name) for name in columns}
    assert seen == []  # every column loaded, nothing expired

    session.expunge_all()
    stored = session.get(Job, job.id)
    assert stored is not None
    assert held == {name: getattr(stored, name) for name in columns}
    assert held["state"] is JobState.PENDING and held["slurm_job_id"] is not None


def test_a_refused_hold_leaves_no_job_in_the_session_nor_in_the_database(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER)
    with pytest.raises(InsufficientAllocation):  # alice's project has no allocation
        submit_job(session, backends=backends, profile=dev_profile(), user=alice, request=request,
                   clock=clock, ledger=SqlLedger)  # fmt: skip

    assert [obj for obj in session.identity_map.values() if isinstance(obj, Job)] == []
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(JobStateChange)) == 0
    assert backends.cluster.calls["sbatch"] == 0
