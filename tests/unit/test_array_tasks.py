"""Array jobs task by task (issue #15, "Array jobs on the web"): task rows written by tracking,
only when they change, the summary in English and French, and per-task output file names."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models import Job, JobArrayTask, User
from myriagate.domain.array_tasks import TaskCounts, count_tasks, english_summary, first_index, has_index
from myriagate.domain.jobs import JobStatus
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest
from myriagate.services.jobs import array_tasks
from myriagate.services.jobs.outputs import output_path, read_output
from myriagate.services.jobs.queries import get_job_detail
from myriagate.services.jobs.tracking import tick
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.slurm import commands, parse
from myriagate.web.i18n import Translator
from myriagate.web.pages.job_arrays import localized_summary
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_runner import load_capture
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile


def submit(
    session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock, **ov: str
) -> Job:
    request = SubmitRequest(
        script_text="#!/bin/bash\necho $SLURM_ARRAY_TASK_ID\n",
        cluster=CLUSTER,
        overrides={"job-name": "sweep", **ov},
    )
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def run_tick(session: Session, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def rows(session: Session, job: Job) -> dict[int, tuple[JobState | None, int | None]]:
    session.expire_all()
    found = session.scalars(sa.select(JobArrayTask).where(JobArrayTask.job_id == job.id))
    return {r.task_index: (r.state, r.exit_code) for r in found}


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's engine runs meanwhile (an executemany counts once)."""
    seen: list[str] = []
    engine = session.get_bind()

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _mixed_twenty(fake_cluster: FakeCluster, parent: str) -> None:
    """Tasks 0-11 completed, 12 failed with exit 3, 13 ran out of time, 14-16 running, 17-19 waiting."""
    for i in range(12):
        fake_cluster.set_state(f"{parent}_{i}", "RUNNING")
        fake_cluster.finish(f"{parent}_{i}", "COMPLETED")
    fake_cluster.set_state(f"{parent}_12", "RUNNING")
    fake_cluster.finish(f"{parent}_12", "FAILED", exit_code=3)
    fake_cluster.set_state(f"{parent}_13", "RUNNING")
    fake_cluster.finish(f"{parent}_13", "TIMEOUT", exit_code=0, signal=15)
    for i in (14, 15, 16):
        fake_cluster.set_state(f"{parent}_{i}", "RUNNING")


# --- the pure rules -----------------------------------------------------------------------
def test_counts_and_english_summary() -> None:
    states: list[JobState | None] = [JobState.COMPLETED] * 12
    states += [JobState.FAILED, JobState.TIMEOUT]
    counts = count_tasks(states, total=20)
    assert counts == TaskCounts(done=12, failed=2, cancelled=0, running=0, waiting=6)
    assert english_summary(counts) == "12 done, 2 failed, 6 waiting"
    one = count_tasks([JobState.CANCELLED, JobState.RUNNING, None], total=3)
    assert english_summary(one) == "1 cancelled, 1 running, 1 waiting"
    assert english_summary(count_tasks([], total=0)) == ""


def test_the_summary_in_french_and_english() -> None:
    counts = TaskCounts(done=12, failed=2, waiting=6)
    assert localized_summary(Translator("en"), counts) == "12 done, 2 failed, 6 waiting"
    assert localized_summary(Translator("fr"), counts) == "12 terminées, 2 en échec, 6 en attente"
    single = TaskCounts(done=1, cancelled=1, running=1)
    assert localized_summary(Translator("fr"), single) == "1 terminée, 1 annulée, 1 en cours"
    big = localized_summary(Translator("fr"), TaskCounts(done=1000, cancelled=3))
    assert big.replace("\u202f", " ") == "1 000 terminées, 3 annulées"


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        ("0-19%4", [0, 7, 19], [20, 4_000_000]),
        ("1,3,5-9:2%2", [1, 3, 5, 7, 9], [0, 2, 6, 8, 10]),
        ("7", [7], [0, 6, 8]),
        ("0-3999999", [0, 3_999_999], [4_000_000]),
    ],
)
def test_an_index_belongs_to_the_array_without_expanding_it(
    spec: str, inside: list[int], outside: list[int]
) -> None:
    assert all(has_index(spec, i) for i in inside)
    assert not any(has_index(spec, i) for i in outside)
    assert first_index(spec) == min(inside)


# --- tracking writes the tasks -------------------------------------------------------------
def test_a_twenty_task_array_with_mixed_ends_has_its_tasks_recorded(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, array="0-19%4")
    assert job.slurm_job_id is not None
    _mixed_twenty(fake_cluster, job.slurm_job_id)
    run_tick(session, backends, clock)

    stored = rows(session, job)
    assert len(stored) == 20
    assert stored[0] == (JobState.COMPLETED, 0)
    assert stored[12] == (JobState.FAILED, 3)
    assert stored[13][0] is JobState.TIMEOUT
    assert stored[15] == (JobState.RUNNING, None)
    assert stored[19] == (JobState.PENDING, None)

    view = array_tasks.view(session, get_job_detail(session, job_id=job.id, user=alice).job)
    assert view is not None
    assert view.range == "0-19%4"
    assert view.summary == "12 done, 2 failed, 3 running, 3 waiting"
    assert [t.slurm_job_id for t in view.tasks][:2] == [f"{job.slurm_job_id}_0", f"{job.slurm_job_id}_1"]
    assert view.tasks[13].signal == 15

    for i in range(14, 20):
        fake_cluster.set_state(f"{job.slurm_job_id}_{i}", "RUNNING")
        fake_cluster.finish(f"{job.slurm_job_id}_{i}", "COMPLETED")
    run_tick(session, backends, clock)
    view = array_tasks.view(session, get_job_detail(session, job_id=job.id, user=alice).job)
    assert view is not None and view.summary == "18 done, 2 failed"


def test_a_task_never_goes_back_and_keeps_what_slurm_stopped_saying(session: Session, alice: User) -> None:
    job_id = _bare_job(session, alice)
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    ended = JobStatus(
        slurm_job_id="900_1", state=JobState.FAILED, slurm_state="FAILED", exit_code=2, signal=0,
        started_at=at, ended_at=at, raw_job_id="905",
    )  # fmt: skip
    assert array_tasks.record(session, job_id, [ended], now=at) == 1
    stale = JobStatus(slurm_job_id="900_1", state=JobState.PENDING, slurm_state="PENDING")
    unknown = JobStatus(slurm_job_id="900_2", state=None, slurm_state="WEIRD")
    assert array_tasks.record(session, job_id, [stale, unknown], now=at) == 1  # only the new task
    (task_1, task_2) = array_tasks.tasks_of(session, job_id, "900")
    assert (task_1.state, task_1.slurm_state, task_1.exit_code, task_1.raw_job_id) == (
        JobState.FAILED, "FAILED", 2, "905",
    )  # fmt: skip
    assert (task_2.state, task_2.slurm_state) == (None, "WEIRD")
    # Not a task id (a plain job, a folded range): nothing written.
    assert array_tasks.record(session, job_id, [JobStatus("900", JobState.PENDING, "PENDING")], now=at) == 0


def _bare_job(session: Session, user: User) -> uuid.UUID:
    job_id = uuid.uuid4()
    at = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    session.add(
        Job(
            id=job_id, user_id=user.id, cluster=CLUSTER, cluster_login=user.cluster_login, tag=f"mg:{job_id}",
            state=JobState.PENDING, script_text="#!/bin/bash\n", sbatch_args=[], spec={"array": "1-2"},
            array_task_count=2, slurm_job_id="900", created_at=at, updated_at=at,
        )
    )  # fmt: skip
    session.commit()
    return job_id


def test_a_thousand_task_array_costs_a_tick_little_and_unchanged_tasks_nothing(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, array="0-999")
    parent = job.slurm_job_id
    assert parent is not None
    fake_cluster.set_state(f"{parent}_0", "RUNNING")
    with statements(session) as first:
        run_tick(session, backends, clock)
    assert len(rows(session, job)) == 1000
    # The thousand rows go in as one executemany, not a statement each.
    assert sum("job_array_tasks" in s for s in first) <= 3

    with statements(session) as idle:
        run_tick(session, backends, clock)
    assert not [s for s in idle if "job_array_tasks" in s]  # nothing changed: not even read

    fake_cluster.finish(f"{parent}_0", "FAILED", exit_code=1)
    fake_cluster.set_state(f"{parent}_1", "RUNNING")
    with statements(session) as one:
        run_tick(session, backends, clock)
    touching = [s for s in one if "job_array_tasks" in s]
    assert len(touching) == 2  # one SELECT of the array's rows, one UPDATE for the two tasks
    assert touching[1].lstrip().upper().startswith("UPDATE")
    stored = rows(session, job)
    assert stored[0] == (JobState.FAILED, 1) and stored[1] == (JobState.RUNNING, None)
    assert stored[999] == (JobState.PENDING, None)


# --- per-task output --------------------------------------------------------------------------
def test_a_tasks_output_follows_slurms_patterns_with_its_own_job_id(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, array="0-3", output="out/%x-%A_%a-%j-%u.log")
    parent = job.slurm_job_id
    assert parent is not None
    fake_cluster.set_state(f"{parent}_2", "RUNNING")
    run_tick(session, backends, clock)
    raw = str(fake_cluster.job(f"{parent}_2").raw_id)
    assert raw != parent
    path = f"/home/alice/out/sweep-{parent}_2-{raw}-alice.log"
    fake_cluster.write_file(path, b"task two\n")
    out = read_output(session, job_id=job.id, user=alice, backends=backends, array_task_id=2)
    assert out == b"task two\n"
    # A task that has not started has no id of its own yet: the array's stands in.
    record = get_job_detail(session, job_id=job.id, user=alice).job
    assert output_path(record, "output", 3) == f"/home/alice/out/sweep-{parent}_3-{parent}-alice.log"


def test_a_task_the_array_does_not_hold_is_refused_and_nothing_is_read(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, array="0-6:2")
    run_tick(session, backends, clock)
    fake_cluster.reset_calls()
    with pytest.raises(InvalidRequest, match="no array task 3"):
        read_output(session, job_id=job.id, user=alice, backends=backends, array_task_id=3)
    assert fake_cluster.calls["tail"] == 0


@pytest.mark.parametrize(
    "pattern",
    [
        "$(touch /tmp/pwned)-%a.out",
        "`id`;%a.out",
        "out/--help -%a.out",
        "/home/bob/%a.out",
        "o'q\"%a.out",
        "%999a-%%-%q.out",
    ],
)
def test_hostile_patterns_make_one_absolute_path_read_as_the_owner(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
    pattern: str,
) -> None:
    """Whatever the pattern, a task's file is an absolute path (never read as an option), one
    argument after ``--`` of ``tail`` (the runner never gets a shell string), read by the
    owner's own login."""
    job = submit(session, backends, alice, clock, array="0-1", output=pattern)
    run_tick(session, backends, clock)
    record = get_job_detail(session, job_id=job.id, user=alice).job
    path = output_path(record, "output", 1)
    assert path is not None and path.startswith("/") and "\n" not in path
    argv = commands.tail(path, 100)
    assert argv[:4] == ("find", "-L", "--", path) and argv.count(path) == 1
    fake_cluster.write_file(path, b"x")
    fake_cluster.reset_calls()
    assert read_output(session, job_id=job.id, user=alice, backends=backends, array_task_id=1) == b"x"
    assert fake_cluster.calls["tail"] == 1


# --- each task's own Slurm id, from real captured output ---------------------------------------
def test_a_tasks_own_id_is_read_from_squeue_and_sacct_once_it_started() -> None:
    """squeue's %A and sacct's JobIDRaw of a task that ran are its own id (175_0 is 183); a task
    that waits shows its array's id (squeue) or is folded (sacct): it has none of its own yet."""

    def raw_ids(capture: str, parser: Callable[[bytes], list[JobStatus]]) -> dict[str, str | None]:
        return {s.slurm_job_id: s.raw_job_id for s in parser(load_capture(capture)[0])}

    squeue = raw_ids("squeue_live", parse.parse_squeue_status)
    assert squeue["175_0"] == "183" and squeue["166"] == "166"
    assert squeue["176_0"] is None  # pending, %A still 176
    mixed = raw_ids("squeue_array_mixed", parse.parse_squeue_status)
    assert mixed == {"175_0": "183", "175_1": "184", "175_2": "175"}
    sacct = raw_ids("sacct_status", parse.parse_sacct_status)
    assert sacct["175_1"] == "184" and sacct["167"] == "167"
    assert sacct["176_0"] is None  # folded 176_[0-4%2]
