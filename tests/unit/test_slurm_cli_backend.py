"""SlurmCliBackend over a FakeRunner replaying real outputs: calls made and errors raised."""

from __future__ import annotations

import json

import pytest

from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import (
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    UnsafeValue,
)
from myriagate.slurm import commands
from myriagate.slurm.cli_backend import SlurmCliBackend
from tests.fakes.fake_runner import DATA_DIR, FakeRunner

JOBS: dict[str, str] = json.loads((DATA_DIR / "jobs.json").read_text())
SCRIPT = RenderedScript("#!/bin/sh\ntrue\n", ("--partition=court",))


def backend(runner: FakeRunner) -> SlurmCliBackend:
    return SlurmCliBackend(runner)


# --- status ---------------------------------------------------------------------------
def test_status_is_one_squeue_and_one_sacct_for_everything() -> None:
    runner = FakeRunner().reply_from("squeue", "squeue_live").reply_from("sacct", "sacct_status")
    ids = [JOBS["running"], JOBS["held"], JOBS["completed"], JOBS["array"], "999999"]

    status = backend(runner).status(ids)

    assert (runner.count("squeue"), runner.count("sacct")) == (1, 1)
    assert status[JOBS["running"]].state is JobState.RUNNING
    assert status[JOBS["held"]].state is JobState.PENDING
    assert status[JOBS["completed"]].exit_code == 0, "ended in squeue: exit code from sacct"
    assert len(status[JOBS["array"]].array_tasks) == 3
    assert "999999" not in status, "unknown is absent, never assumed completed"
    (sacct_argv,) = runner.argvs("sacct")
    jobs_arg = next(a for a in sacct_argv if a.startswith("--jobs="))
    assert JOBS["held"] not in jobs_arg.split("=")[1].split(","), "live jobs are not asked to sacct"


def test_only_live_jobs_means_no_sacct_call() -> None:
    runner = FakeRunner().reply_from("squeue", "squeue_live")

    status = backend(runner).status([JOBS["running"], JOBS["held"]])

    assert runner.count("sacct") == 0
    assert set(status) == {JOBS["running"], JOBS["held"]}


def test_squeue_invalid_job_id_means_none_queued_then_sacct_answers() -> None:
    runner = (
        FakeRunner()
        .reply("squeue", stderr="slurm_load_jobs error: Invalid job id specified\n", returncode=1)
        .reply_from("sacct", "sacct_status")
    )

    status = backend(runner).status([JOBS["failed"]])

    assert status[JOBS["failed"]].state is JobState.FAILED
    assert status[JOBS["failed"]].exit_code == 3


def test_squeue_down_is_unavailable() -> None:
    runner = FakeRunner().reply(
        "squeue",
        stderr="slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
        returncode=1,
    )

    with pytest.raises(SchedulerUnavailable):
        backend(runner).status(["1"])


def test_when_sacct_fails_ended_jobs_stay_unresolved() -> None:
    runner = (
        FakeRunner()
        .reply_from("squeue", "squeue_ended")
        .reply(
            "sacct",
            stderr="sacct: error: Problem talking to the database: Connection refused\n",
            returncode=1,
        )
    )

    status = backend(runner).status([JOBS["completed"], JOBS["failed"]])

    assert status == {}, "recording them final without exit code would be for good"


def test_an_end_accounting_has_not_seen_yet_waits_for_the_next_poll() -> None:
    job = JOBS["failed"]
    lagging = "\x1f".join([job, job, "RUNNING", "0:0", "None", "2026-11-28T17:11:55", "2026-11-28T17:11:56",
                           "Unknown", "vm", job])  # fmt: skip
    runner = FakeRunner().reply_from("squeue", "squeue_ended").reply("sacct", lagging + "\n")

    assert backend(runner).status([job]) == {}


def test_an_array_with_a_task_ended_only_in_squeue_is_not_reported() -> None:
    array = JOBS["array"]
    runner = FakeRunner().reply_from("squeue", "squeue_array_mixed").reply("sacct", "")

    assert backend(runner).status([array]) == {}


def test_a_runner_timeout_on_a_query_is_unavailable_not_uncertain() -> None:
    runner = FakeRunner().fail("squeue", SubmissionUncertain("squeue: no exit after 60 s, killed"))

    with pytest.raises(SchedulerUnavailable) as caught:
        backend(runner).status(["1"])
    assert not isinstance(caught.value, SubmissionUncertain)


# --- submit ---------------------------------------------------------------------------
def test_submit_sends_the_script_on_stdin_with_the_tag_on_the_command_line() -> None:
    runner = FakeRunner().reply("sbatch", "4242\n")

    job_id = backend(runner).submit(SCRIPT, tag="mg:abc")

    assert job_id == "4242"
    (call,) = runner.calls
    assert call.argv == ("sbatch", "--parsable", "--partition=court", "--comment=mg:abc")
    assert call.stdin == SCRIPT.text.encode()


def test_submit_accepts_a_cluster_suffix_and_warnings() -> None:
    runner = FakeRunner().reply("sbatch", "4242;myria\n", "sbatch: warning: can't honor --ntasks-per-node\n")

    assert backend(runner).submit(SCRIPT, tag="mg:abc") == "4242"


@pytest.mark.parametrize("capture", ["sbatch_bad_partition", "sbatch_bad_time", "sbatch_bad_account"])
def test_slurm_refusals_are_rejected_with_slurms_words(capture: str) -> None:
    runner = FakeRunner().reply_from("sbatch", capture)

    with pytest.raises(SchedulerRejected) as caught:
        backend(runner).submit(SCRIPT, tag="mg:abc")
    assert "Batch job submission failed" in caught.value.detail
    assert "sbatch: error:" not in caught.value.detail


@pytest.mark.parametrize(
    "make",
    [
        lambda r: r.fail("sbatch", SchedulerUnavailable("connection reset")),
        lambda r: r.fail("sbatch", SubmissionUncertain("sbatch: no exit after 60 s, killed")),
        lambda r: r.reply(
            "sbatch",
            stderr="sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n",
            returncode=1,
        ),
        lambda r: r.reply("sbatch", "", ""),
    ],
    ids=["connection-dropped", "timeout", "socket-timed-out", "no-id"],
)
def test_an_unknown_submit_outcome_is_uncertain(make: object) -> None:
    runner = FakeRunner()
    make(runner)  # type: ignore[operator]

    with pytest.raises(SubmissionUncertain):
        backend(runner).submit(SCRIPT, tag="mg:abc")


def test_sbatch_that_cannot_reach_slurmctld_is_unavailable_not_uncertain() -> None:
    """With slurmctld down the request never left, so the job waits as
    "cluster unavailable" rather than "outcome unknown"."""
    runner = FakeRunner().reply(
        "sbatch",
        stderr="sbatch: error: Batch job submission failed: "
        "Unable to contact slurm controller (connect failure)\n",
        returncode=1,
    )
    with pytest.raises(SchedulerUnavailable) as caught:
        backend(runner).submit(SCRIPT, tag="mg:abc")
    assert not isinstance(caught.value, SubmissionUncertain)


def test_submit_refuses_a_bare_word_option_before_running_anything() -> None:
    runner = FakeRunner()

    with pytest.raises(UnsafeValue):
        backend(runner).submit(RenderedScript("#!/bin/sh\n", ("/etc/passwd",)), tag="mg:abc")
    assert runner.calls == []


# --- find_by_tag ----------------------------------------------------------------------
def tag_runner() -> FakeRunner:
    """A runner whose cluster stores job comments (the dev cluster's real configuration)."""
    return FakeRunner().reply_from("scontrol", "scontrol_show_config")


def test_find_by_tag_asks_squeue_first() -> None:
    runner = tag_runner().reply_from("squeue", "squeue_tags")

    assert backend(runner).find_by_tag("mg:cap-held") == JOBS["held"]
    assert runner.count("sacct") == 0


def test_find_by_tag_falls_back_to_accounting_then_none() -> None:
    runner = tag_runner().reply_from("squeue", "squeue_tags").reply_from("sacct", "sacct_tags")

    assert backend(runner).find_by_tag("mg:cap-completed") == JOBS["completed"]
    assert backend(runner).find_by_tag("mg:never-submitted") is None


def test_find_by_tag_checks_the_comment_storage_once() -> None:
    runner = tag_runner().reply_from("squeue", "squeue_tags").reply_from("sacct", "sacct_tags")
    tags = backend(runner)

    tags.find_by_tag("mg:cap-held")
    tags.find_by_tag("mg:never-submitted")

    assert runner.argvs("scontrol") == [("scontrol", "show", "config")]


@pytest.mark.parametrize(
    ("command", "stderr"),
    [("squeue", "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation\n"),
     ("squeue", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"),
     ("sacct", "sacct: error: Problem talking to the database: Socket timed out on send/recv operation\n")],
)  # fmt: skip
def test_an_empty_answer_with_a_slurm_error_is_unknown_not_absent(command: str, stderr: str) -> None:
    """Slurm clients exit 0 with an empty stdout when they failed."""
    runner = tag_runner().reply("squeue", "").reply("sacct", "").reply(command, "", stderr)

    with pytest.raises(SchedulerUnavailable, match="inconclusive"):
        backend(runner).find_by_tag("mg:lost")


def test_an_exit_0_accounting_answer_with_a_slurm_error_is_no_answer() -> None:
    """sacct exits 0 with "Socket timed out" and prints nothing: the jobs it did not list are
    not gone (the lost-job clock of services/jobs/vanished.py must not start on it)."""
    timed_out = "sacct: error: Problem talking to the database: Socket timed out on send/recv operation\n"
    runner = FakeRunner().reply("sacct", "", timed_out)

    with pytest.raises(SchedulerUnavailable, match="Socket timed out"):
        backend(runner).accounting([JOBS["completed"]])


def test_a_found_tag_wins_over_an_error_elsewhere() -> None:
    runner = tag_runner().reply("squeue", "", "squeue: error: Socket timed out\n")
    runner.reply_from("sacct", "sacct_tags")

    assert backend(runner).find_by_tag("mg:cap-mem") == JOBS["gres_mem"]


# --- cancel ---------------------------------------------------------------------------
def test_cancel_of_an_ended_job_is_fine() -> None:
    runner = FakeRunner().reply_from("scancel", "scancel_finished")

    backend(runner).cancel(JOBS["completed"])

    assert runner.argvs("scancel") == [("scancel", JOBS["completed"])]


@pytest.mark.parametrize(
    "stderr",
    ["scancel: error: Kill job error on job id 5: Job/step already completing or completed\n",
     "scancel: error: Kill job error on job id 5: Invalid job id specified\n"],
)  # fmt: skip
def test_cancel_of_a_gone_job_is_fine(stderr: str) -> None:
    backend(FakeRunner().reply("scancel", stderr=stderr, returncode=1)).cancel("5")


def test_cancel_of_someone_elses_job_is_denied() -> None:
    runner = FakeRunner().reply_from("scancel", "scancel_denied")

    with pytest.raises(PermissionDenied, match="Access/permission denied"):
        backend(runner).cancel(JOBS["running"])


# --- tail, accounting, ping ------------------------------------------------------------
def test_tail_of_a_missing_file_is_empty() -> None:
    # Captured from tail itself; find says the same 'No such file or directory' for it.
    runner = FakeRunner().reply_from("find", "tail_missing")

    assert backend(runner).tail("/tmp/myriagate-no-such-file", 100) == b""
    assert runner.argvs("find") == [commands.tail("/tmp/myriagate-no-such-file", 100)]


def test_accounting_is_one_sacct_call() -> None:
    runner = FakeRunner().reply_from("sacct", "sacct_usage")

    usage = backend(runner).accounting([JOBS["gres_mem"], JOBS["array"], "999999"])

    assert runner.count("sacct") == 1
    assert usage[JOBS["gres_mem"]].alloc_cpus == 4
    assert usage[JOBS["array"]].elapsed_s == 24
    assert "999999" not in usage


def test_ping_reports_partitions_and_version() -> None:
    runner = (
        FakeRunner()
        .reply_from("scontrol", "scontrol_ping")
        .reply_from("sinfo", "sinfo_partitions")
        .reply_from("sbatch", "sbatch_version")
    )

    health = backend(runner).ping()

    assert health.reachable and health.slurm_version == "22.05.8"
    assert health.partitions == {"court": "up", "long": "up", "debug": "up"}


def test_ping_of_an_unreachable_cluster_says_so_without_raising() -> None:
    runner = FakeRunner().fail("scontrol", SchedulerUnavailable("ssh: connection refused"))

    health = backend(runner).ping()

    assert not health.reachable and health.detail == "ssh: connection refused"
