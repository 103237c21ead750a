"""The parsers on real outputs captured from the dev cluster (tests/data/slurm/README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from myriagate.domain.states import JobState
from myriagate.slurm import arrays, parse
from tests.fakes.fake_runner import DATA_DIR, load_capture

JOBS: dict[str, str] = json.loads((DATA_DIR / "jobs.json").read_text())
SEP = "\x1f"


def captured(name: str) -> bytes:
    return load_capture(name)[0]


def by_id(rows: list) -> dict:  # type: ignore[type-arg]
    return {r.slurm_job_id: r for r in rows}


# --- squeue ---------------------------------------------------------------------------
def test_squeue_live_jobs() -> None:
    rows = by_id(parse.parse_squeue_status(captured("squeue_live")))

    held = rows[JOBS["held"]]
    assert held.state is JobState.PENDING and held.reason == "JobHeldUser"
    assert held.started_at is None and held.nodes is None
    begin = rows[JOBS["begin"]]
    assert begin.state is JobState.PENDING and begin.reason == "BeginTime"
    assert begin.started_at is None, "a pending job's start time is only a forecast"
    running = rows[JOBS["running"]]
    assert running.state is JobState.RUNNING and running.nodes == "vm"
    assert running.work_dir is None, "the work dir is free text: never read back"
    assert running.started_at == datetime(2026, 11, 28, 17, 11, 56, tzinfo=UTC)
    assert running.ended_at is None, "a running job's end time is its time limit"
    assert running.exit_code is None


def test_squeue_lists_array_tasks_one_per_line() -> None:
    rows = by_id(parse.parse_squeue_status(captured("squeue_live")))

    array, held = JOBS["array"], JOBS["array_held"]
    assert {f"{array}_{i}" for i in range(3)} <= set(rows)
    assert {f"{held}_{i}" for i in range(5)} <= set(rows)
    assert rows[f"{array}_0"].state is JobState.RUNNING


def test_squeue_ended_jobs_have_no_exit_code_there() -> None:
    rows = by_id(parse.parse_squeue_status(captured("squeue_ended")))

    assert rows[JOBS["completed"]].state is JobState.COMPLETED
    assert rows[JOBS["failed"]].state is JobState.FAILED
    assert rows[JOBS["failed"]].reason == "NonZeroExitCode"
    assert rows[JOBS["cancel_pending"]].state is JobState.CANCELLED
    assert all(r.exit_code is None for r in rows.values())
    assert rows[JOBS["completed"]].ended_at == datetime(2026, 11, 28, 17, 11, 56, tzinfo=UTC)


def test_squeue_timeout() -> None:
    (row,) = parse.parse_squeue_status(captured("squeue_timeout"))

    assert row.state is JobState.TIMEOUT and row.reason == "TimeLimit"


def test_squeue_of_purged_jobs_is_empty() -> None:
    assert parse.parse_squeue_status(captured("squeue_gone")) == []


def test_odd_job_names_come_back_verbatim_in_squeue() -> None:
    names = dict(line.split(SEP, 1) for line in parse.lines(captured("squeue_names")))

    assert names[JOBS["name_quote"]] == 'it\'s "quoted"'
    assert names[JOBS["name_subst"]] == "$(touch /tmp/myriagate-pwned) `id`"
    assert names[JOBS["name_sep"]] == "a,b|c;d %j %x"
    assert names[JOBS["name_utf8"]] == "é à ü — Ω"
    assert names[JOBS["name_spaces"]] == "  lead and  trail "


def test_times_are_read_in_the_cluster_zone_and_returned_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    rows = by_id(parse.parse_squeue_status(captured("squeue_live"), cluster_tz=paris))

    assert rows[JOBS["running"]].started_at == datetime(2026, 11, 28, 16, 11, 56, tzinfo=UTC)
    assert rows[JOBS["running"]].started_at.tzinfo is UTC


# --- sacct ----------------------------------------------------------------------------
def test_sacct_exit_codes_and_signals() -> None:
    rows = by_id(parse.parse_sacct_status(captured("sacct_status")))

    assert (rows[JOBS["completed"]].state, rows[JOBS["completed"]].exit_code) == (JobState.COMPLETED, 0)
    assert (rows[JOBS["failed"]].state, rows[JOBS["failed"]].exit_code) == (JobState.FAILED, 3)
    killed = rows[JOBS["signal"]]
    assert (killed.state, killed.exit_code, killed.signal) == (JobState.FAILED, 0, 9)
    assert rows[JOBS["timeout"]].state is JobState.TIMEOUT
    assert rows[JOBS["running"]].exit_code is None, "0:0 means nothing while running"


def test_sacct_cancelled_by_a_user() -> None:
    rows = by_id(parse.parse_sacct_status(captured("sacct_status")))

    cancelled = rows[JOBS["cancel_running"]]
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.slurm_state == "CANCELLED by 1001"
    never_ran = rows[JOBS["cancel_pending"]]
    assert never_ran.state is JobState.CANCELLED and never_ran.started_at is None and never_ran.nodes is None


def test_sacct_expands_a_folded_pending_array() -> None:
    rows = by_id(parse.parse_sacct_status(captured("sacct_status")))

    held = JOBS["array_held"]  # printed as <id>_[0-4%2]
    assert [rows[f"{held}_{i}"].state for i in range(5)] == [JobState.PENDING] * 5
    assert f"{held}_5" not in rows


def test_sacct_array_tasks_aggregate_to_the_worst_end() -> None:
    rows = parse.parse_sacct_status(captured("sacct_status"))
    array = JOBS["array"]

    status = arrays.aggregate_array(array, [r for r in rows if arrays.parent_id(r.slurm_job_id) == array])

    assert status.state is JobState.FAILED
    assert status.exit_code == 2
    assert [t.exit_code for t in status.array_tasks] == [0, 1, 2]


def test_sacct_usage_from_alloc_tres() -> None:
    rows = by_id(parse.parse_sacct_usage(captured("sacct_usage")))

    big = rows[JOBS["gres_mem"]]
    assert (big.alloc_cpus, big.alloc_mem_mb, big.alloc_nodes, big.alloc_gpus) == (4, 2048, 1, 0)
    assert big.tres_alloc == {"billing": 4, "cpu": 4, "mem": 2048, "node": 1}
    assert (big.partition, big.account, big.user) == ("court", "caen-climat", "alice")
    assert rows[JOBS["timeout"]].elapsed_s == 63
    pending = rows[JOBS["held"]]
    assert (pending.elapsed_s, pending.alloc_mem_mb, pending.tres_alloc) == (0, 0, {})


def test_array_usage_sums_elapsed_over_tasks() -> None:
    rows = parse.parse_sacct_usage(captured("sacct_usage"))
    array = JOBS["array"]

    usage = arrays.aggregate_usage(array, [r for r in rows if arrays.parent_id(r.slurm_job_id) == array])

    assert usage.elapsed_s == 3 * 8
    assert usage.alloc_cpus == 1
    assert usage.state is JobState.FAILED and usage.exit_code == 2


def test_tags_from_squeue_and_sacct() -> None:
    queued = parse.parse_tags(captured("squeue_tags"))
    ended = parse.parse_tags(captured("sacct_tags"))

    assert (JOBS["running"], "mg:cap-running") in queued
    assert (JOBS["array_held"], "mg:cap-array-held") in queued, "a folded array gives its parent id"
    assert (JOBS["completed"], "mg:cap-completed") in ended
    assert (JOBS["array"], "mg:cap-array") in ended, "array tasks give their parent id"
    assert all(job_id.isdigit() for job_id, _ in queued + ended)


# --- the small ones -------------------------------------------------------------------
def test_ping_outputs() -> None:
    assert parse.parse_partitions(captured("sinfo_partitions")) == {
        "court": "up",
        "long": "up",
        "debug": "up",
    }
    assert parse.parse_version(captured("sbatch_version")) == "22.05.8"


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        (b"1234\n", "1234"),
        (b"1234;myria\n", "1234"),
        (b"", None),
        (b"Submitted batch job 12\n", None),
        # A login's start-up file printed first (over SSH it always comes before the reply).
        (b"Welcome to Myria\n4242\n1234\n", "1234"),
        (b"99;myria\n1234;myria\n\n", "1234"),
        (b"1234\nnot an id\n", None),
    ],
)
def test_sbatch_parsable_output(stdout: bytes, expected: str | None) -> None:
    assert parse.parse_sbatch_id(stdout) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cpu=4,mem=4000M,node=1,billing=4,gres/gpu=2",
            {"cpu": 4, "mem": 4000, "node": 1, "billing": 4, "gres/gpu": 2},
        ),
        ("cpu=2,mem=1.50G", {"cpu": 2, "mem": 1536}),
        ("mem=512K", {"mem": 0}),
        ("gres/gpu:v100=2,cpu=1", {"gres/gpu:v100": 2, "cpu": 1}),
        ("", {}),
        ("garbage,cpu=x,=3", {}),
    ],
)
def test_tres_strings(text: str, expected: dict[str, int]) -> None:
    assert parse.parse_tres(text) == expected


def test_gpus_from_typed_tres() -> None:
    assert parse.gpus_in({"gres/gpu:v100": 2, "gres/gpu:a100": 1}) == 3
    assert parse.gpus_in({"gres/gpu": 2, "gres/gpu:v100": 2}) == 2


@pytest.mark.parametrize(
    ("text", "expected"), [("3:0", (3, 0)), ("0:15", (0, 15)), ("", (None, None)), ("x", (None, None))]
)
def test_exit_codes(text: str, expected: tuple[int | None, int | None]) -> None:
    assert parse.parse_exit_code(text) == expected


@pytest.mark.parametrize("value", ["Unknown", "N/A", "None", "", "not a date"])
def test_missing_times_are_none(value: str) -> None:
    assert parse.parse_time(value) is None


def test_an_unknown_state_is_kept_raw() -> None:
    line = SEP.join(["42", "42", "42", "N/A", "WARPING", "None", "2026-01-01T00:00:00", "N/A", "N/A", "",
                     "42"])  # fmt: skip

    (row,) = parse.parse_squeue_status(f"{line}\n".encode())

    assert row.slurm_job_id == "42" and row.state is None and row.slurm_state == "WARPING"


def test_a_line_that_is_not_one_whole_record_makes_the_framed_answer_ambiguous() -> None:
    """Any line of a framed answer may be free text, so one odd line voids it all."""
    line = SEP.join(["42", "42", "42", "N/A", "RUNNING", "None", "2026-01-01T00:00:00", "N/A", "N/A", "",
                     "42"])  # fmt: skip
    for odd in ("garbage without separators", "9" + SEP * 10, line.replace("RUNNING", "RUNNING" + SEP), line):
        with pytest.raises(parse.AmbiguousOutput):
            parse.parse_squeue_status(f"{line}\n{odd}\n".encode())


def test_a_line_whose_fields_have_the_wrong_shape_is_skipped() -> None:
    good = ["42", "42", "42", "N/A", "RUNNING", "None", "2026-01-01T00:00:00", "N/A", "N/A", "vm", "42"]
    bad_raw = ["43", "x", *good[2:10], "43"]  # JobIDRaw not a number
    bad_time = ["44", "44", "44", "N/A", "RUNNING", "None", "tomorrow", "N/A", "N/A", "vm", "44"]
    text = "\n".join(SEP.join(f) for f in (good, bad_raw, bad_time))

    assert [r.slurm_job_id for r in parse.parse_squeue_status(text)] == ["42"]


def test_only_newlines_split_lines() -> None:
    # str.splitlines would also split on \x1c-\x1e and \x85 (which a reason may contain).
    line = SEP.join(["7", "7", "7", "N/A", "PENDING", "odd\x1e\x85reason", "", "", "", "vm", "7"])

    (row,) = parse.parse_squeue_status(line.encode())

    assert row.reason == "odd\x1e\x85reason"


def test_array_range_expansion() -> None:
    assert parse.expand_array_range("9", "0-2,5,7-11:2%3") == [
        "9_0",
        "9_1",
        "9_2",
        "9_5",
        "9_7",
        "9_9",
        "9_11",
    ]
    assert parse.expand_array_range("9", "x-y") == []
