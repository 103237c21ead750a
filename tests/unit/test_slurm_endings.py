"""How ended jobs ended: sacct's steps (peak memory, request, time limit) and the canceller's
name, read from real dev-cluster outputs and asked through the backend (FakeRunner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from myriagate.domain.jobs import JobStatus
from myriagate.domain.states import JobState
from myriagate.errors import UnsafeValue
from myriagate.slurm import commands, endings
from myriagate.slurm.cli_backend import SlurmCliBackend
from tests.fakes.fake_runner import DATA_DIR, FakeRunner, load_capture
from tests.fakes.hostile import HOSTILE_STRINGS

ENDINGS: dict[str, str] = json.loads((DATA_DIR / "jobs_endings.json").read_text())
MiB = 2**20


def test_end_details_from_the_dev_cluster() -> None:
    details = endings.parse_end_details(load_capture("sacct_end_details")[0])

    oom = details[ENDINGS["oom"]]
    assert oom.mem_requested_bytes == 100 * MiB
    assert oom.max_rss_bytes is not None and oom.max_rss_bytes > 100 * MiB, "the batch step's peak"
    assert details[ENDINGS["timeout"]].time_limit_s == 60
    # A job too short for the gatherer's 2 s sampling has no peak at all: None, not 0.
    assert details[ENDINGS["exit3"]] == endings.EndDetails(None, 1000 * MiB, 3600)
    assert details[ENDINGS["killed"]].max_rss_bytes is None


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [("307200K", "", 307200 * 1024), ("100M", "M", 100 * MiB), ("1.50G", "", int(1.5 * 2**30)),
     ("0", "", 0), ("", "", None), ("4000Mn", "M", 4000 * MiB), ("4000Mc", "M", None), ("12", "M", 12 * MiB),
     ("1e9", "", None), ("-5M", "", None), ("5 M", "", None), ("５M", "", None)],
)  # fmt: skip
def test_sizes_as_sacct_prints_them(text: str, unit: str, expected: int | None) -> None:
    assert endings.size_bytes(text, unit) == expected


def test_lines_not_shaped_as_records_are_skipped() -> None:
    sep = commands.SEP
    forged = "\n".join([
        sep.join(["77", "77", "FAILED", "100M", "", "5"]),
        sep.join(["77.batch", "77.batch", "FAILED", "", "900M", ""]),
        sep.join(["77.batch", "78.batch", "FAILED", "", "9000G", ""]),  # ids disagree
        sep.join(["77; rm -rf /", "77; rm -rf /", "FAILED", "", "9000G", ""]),
        sep.join(["77.batch", "77.batch", "FAILED", "", "9000G"]),  # a field short
    ])  # fmt: skip
    assert endings.parse_end_details(forged) == {"77": endings.EndDetails(900 * MiB, 100 * MiB, 300)}


def test_user_names_from_getent() -> None:
    names = endings.parse_user_names(load_capture("getent_passwd")[0])
    assert names["1001"] == "alice" and names["0"] == "root" and "4242" not in names
    assert endings.parse_user_names("$(id):x:1002:1002::/home/x:/bin/sh\nbob:x:abc:1\n") == {}


@pytest.mark.parametrize("uid", [*HOSTILE_STRINGS, "1001\n", "-1", "1001 1002", "１００１", "12345678901"])
def test_only_plain_uids_reach_getent(uid: str) -> None:
    with pytest.raises(UnsafeValue):
        commands.user_names(["1001", uid])
    assert commands.user_names(["1001", "0"]) == ("getent", "passwd", "1001", "0")


def query(runner: FakeRunner) -> endings.Query:
    """What the backend passes: its runner, the exit status left to the caller."""
    return lambda argv: runner.run(argv, check=False)


def status(job_id: str, state: JobState, raw: str) -> JobStatus:
    return JobStatus(job_id, state, raw, exit_code=0, signal=0)


def test_the_backend_names_cancellers_once_and_asks_details_only_for_failures() -> None:
    stdout = load_capture("getent_passwd")[0]
    runner = FakeRunner().reply("getent", stdout, returncode=2).reply_from("sacct", "sacct_end_details")
    statuses = {
        "1": status("1", JobState.CANCELLED, "CANCELLED by 1001"),
        "2": status("2", JobState.CANCELLED, "CANCELLED by 4242"),
        "3": status("3", JobState.COMPLETED, "COMPLETED"),
        ENDINGS["oom"]: status(ENDINGS["oom"], JobState.FAILED, "FAILED"),
    }
    names: dict[str, str] = {}

    out = endings.add_endings(query(runner), statuses, names)

    assert out["1"].cancelled_by == "alice" and out["2"].cancelled_by is None
    assert out["3"] == statuses["3"]
    assert out[ENDINGS["oom"]].mem_requested_bytes == 100 * MiB
    (sacct_argv,) = runner.argvs("sacct")
    assert f"--jobs={ENDINGS['oom']}" in sacct_argv and "--allocations" not in sacct_argv
    assert runner.argvs("getent") == [("getent", "passwd", "1001", "4242")]
    endings.add_endings(query(runner), {"1": statuses["1"]}, names)
    assert runner.count("getent") == 1, "a uid's name is asked once per backend"


def test_a_failed_details_query_leaves_the_state_and_no_details() -> None:
    runner = FakeRunner().reply("sacct", "", "sacct: error: slurmdbd down\n", returncode=1)
    job = status("9", JobState.TIMEOUT, "TIMEOUT")
    assert endings.add_endings(query(runner), {"9": job}, {}) == {"9": job}


def test_status_through_the_cli_backend_names_who_cancelled() -> None:
    runner = (
        FakeRunner()
        .reply("squeue", stderr="slurm_load_jobs error: Invalid job id specified\n", returncode=1)
        .reply_from("sacct", "sacct_endings_status")
        .reply_from("sacct", "sacct_end_details", when=lambda argv: "--allocations" not in argv)
        .reply_from("getent", "getent_passwd")
    )
    ids = [ENDINGS["cancel_owner"], ENDINGS["oom"], ENDINGS["timeout"]]

    found = SlurmCliBackend(runner).status(ids)

    assert found[ENDINGS["cancel_owner"]].cancelled_by == "alice"
    assert found[ENDINGS["oom"]].max_rss_bytes is not None
    assert found[ENDINGS["timeout"]].time_limit_s == 60
    assert runner.count("sacct") == 2 and runner.count("getent") == 1


def test_a_pyslurm_record_gives_the_same_details() -> None:
    # The names and values real pyslurm 22.5.3 gave on the dev cluster for a memory-killed job
    # and a job alice cancelled (db.Job: memory in MB, time_limit in minutes, bytes of RSS).
    oom = SimpleNamespace(memory=100, time_limit=2, cancelled_by=None,
                          stats=SimpleNamespace(max_resident_memory=324440064))  # fmt: skip
    assert endings.from_pyslurm(oom) == {
        "max_rss_bytes": 324440064, "mem_requested_bytes": 100 * MiB, "time_limit_s": 120,
        "cancelled_by": None,
    }  # fmt: skip
    cancelled = SimpleNamespace(memory=1000, time_limit=60, cancelled_by="alice",
                                stats=SimpleNamespace(max_resident_memory=0))  # fmt: skip
    found = endings.from_pyslurm(cancelled)
    assert (found["cancelled_by"], found["max_rss_bytes"]) == ("alice", None), "0: never sampled"
    assert endings.from_pyslurm(SimpleNamespace(cancelled_by="$(id)"))["cancelled_by"] is None
    assert endings.from_pyslurm(object()) == dict.fromkeys(found)


def test_a_job_whose_end_accounting_is_still_writing_waits_for_the_next_poll() -> None:
    # Job 7372 over its --mem, asked again and again as it ended (sacct_end_details_*.out):
    # the job line showed PENDING while its batch step ran, then FAILED with ReqMem "16?"
    # for about 2 s, then 100M. Recorded from the first answer, it would read "killed by
    # signal 9" for good instead of "ran out of memory".
    starting, lagging, settled = (
        endings.parse_end_details(load_capture(f"sacct_end_details_{name}")[0])["7372"]
        for name in ("starting", "lagging", "settled")
    )
    assert not starting.settled and not lagging.settled and settled.settled
    assert lagging.max_rss_bytes == settled.max_rss_bytes == 316788 * 1024
    assert (lagging.mem_requested_bytes, settled.mem_requested_bytes) == (None, 100 * MiB)

    ended_at = datetime(2026, 12, 5, 7, 15, 20, tzinfo=UTC)
    job = JobStatus("7372", JobState.FAILED, "FAILED", exit_code=0, signal=9, ended_at=ended_at)
    for capture, after_s, kept in [("lagging", 2, False), ("settled", 3, True), ("lagging", 61, True)]:
        runner = FakeRunner().reply_from("sacct", f"sacct_end_details_{capture}")
        out = endings.add_endings(query(runner), {"7372": job}, {}, now=ended_at + timedelta(seconds=after_s))
        assert ("7372" in out) is kept, (capture, after_s)
    assert out["7372"].mem_requested_bytes is None, "past the bound: recorded without the request"
