"""MeteredRunner: every command's latency and failures, per cluster and command name.

The metrics live in prometheus_client's default registry (shared by the whole test process):
each test reads values before and after, and uses its own cluster name.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from myriagate.errors import MyriagateError, SchedulerRejected, SchedulerUnavailable, SubmissionUncertain
from myriagate.ports import CommandResult
from myriagate.runners.metered import MeteredRunner
from myriagate.slurm.cli_backend import SlurmCliBackend
from tests.fakes.fake_runner import FakeRunner
from tests.fakes.hostile import HOSTILE_STRINGS

DURATION = "myriagate_slurm_command_duration_seconds"
ERRORS = "myriagate_slurm_command_errors_total"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def calls(cluster: str, command: str) -> float:
    return sample(f"{DURATION}_count", cluster=cluster, command=command)


def errors(cluster: str, command: str, error: str) -> float:
    return sample(ERRORS, cluster=cluster, command=command, error=error)


@pytest.fixture
def cluster() -> str:
    return f"c{uuid.uuid4().hex[:8]}"


class SlowRunner:
    """Takes ``delay_s`` per command, then answers exit 0."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0, check: bool = True
    ) -> CommandResult:
        time.sleep(self.delay_s)
        return CommandResult(tuple(argv), 0, b"", b"")


def test_latency_is_the_commands_own_time(cluster: str) -> None:
    runner = MeteredRunner(SlowRunner(0.05), cluster)
    for _ in range(3):
        runner.run(["sacct", "--noheader"])
    assert calls(cluster, "sacct") == 3
    total = sample(f"{DURATION}_sum", cluster=cluster, command="sacct")
    assert 0.15 <= total < 1.0
    # 50 ms lands in the 0.05 (or, with scheduling noise, the 0.1) bucket, never below.
    assert sample(f"{DURATION}_bucket", cluster=cluster, command="sacct", le="0.025") == 0
    assert sample(f"{DURATION}_bucket", cluster=cluster, command="sacct", le="0.1") == 3


def test_success_counts_no_error_and_returns_the_inner_result(cluster: str) -> None:
    fake = FakeRunner().reply("squeue", stdout="123|RUNNING|None\n")
    result = MeteredRunner(fake, cluster).run(["squeue", "--noheader"], timeout=5)
    assert result.stdout == b"123|RUNNING|None\n"
    assert fake.calls[0].timeout == 5, "options reach the inner runner"
    assert calls(cluster, "squeue") == 1
    assert sample(ERRORS, cluster=cluster, command="squeue", error="exit_status") == 0


def test_a_non_zero_exit_is_counted_and_left_to_the_caller(cluster: str) -> None:
    fake = FakeRunner().reply("scancel", stderr="scancel: error: Kill job error\n", returncode=1)
    result = MeteredRunner(fake, cluster).run(["scancel", "42"], check=False)
    assert result.returncode == 1
    assert errors(cluster, "scancel", "exit_status") == 1
    assert calls(cluster, "scancel") == 1


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SchedulerUnavailable("ssh: connection refused"), "scheduler_unavailable"),
        (SubmissionUncertain("no exit after 60 s, killed"), "submission_uncertain"),
        (SchedulerRejected("sbatch: error: invalid partition"), "scheduler_rejected"),
    ],
)
def test_errors_raised_by_the_runner_are_counted_by_code_and_reraised(
    cluster: str, error: MyriagateError, code: str
) -> None:
    fake = FakeRunner().fail("sbatch", error)
    with pytest.raises(type(error)):
        MeteredRunner(fake, cluster).run(["sbatch", "--parsable"], stdin=b"#!/bin/bash\n")
    assert errors(cluster, "sbatch", code) == 1
    assert calls(cluster, "sbatch") == 1, "a failed command's time is recorded too"


def test_check_true_refusal_is_a_scheduler_rejected_error(cluster: str) -> None:
    fake = FakeRunner().reply("/usr/bin/sacctmgr", stderr="sacctmgr: error: nope\n", returncode=1)
    with pytest.raises(SchedulerRejected):
        MeteredRunner(fake, cluster).run(["/usr/bin/sacctmgr", "-i", "show", "assoc"])
    assert errors(cluster, "sacctmgr", "scheduler_rejected") == 1, "a path is reduced to its command name"


def test_through_the_cli_backend_status_is_one_squeue(cluster: str) -> None:
    fake = FakeRunner().reply_from("squeue", "squeue_live").reply_from("sacct", "sacct_status")
    SlurmCliBackend(MeteredRunner(fake, cluster)).status(["999999"])
    assert calls(cluster, "squeue") == fake.count("squeue") == 1
    assert calls(cluster, "sacct") == fake.count("sacct")


def test_hostile_command_names_never_become_label_values(cluster: str) -> None:
    fake = FakeRunner()
    for hostile in HOSTILE_STRINGS:
        fake.reply(hostile)
    runner = MeteredRunner(fake, cluster)
    for hostile in HOSTILE_STRINGS:
        runner.run([hostile, "x"])
    assert calls(cluster, "other") == len(HOSTILE_STRINGS)
    labels = {
        s.labels.get("command")
        for family in REGISTRY.collect()
        for s in family.samples
        if s.labels.get("cluster") == cluster
    }
    assert labels == {"other"}


def test_a_shell_string_is_still_refused_by_the_inner_runner(cluster: str) -> None:
    with pytest.raises(TypeError):
        MeteredRunner(FakeRunner(), cluster).run("squeue; rm -rf /")
    assert errors(cluster, "other", "internal_error") == 1
