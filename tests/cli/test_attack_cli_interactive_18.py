# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Issue #18 attacked, the CLI: `interactive stop` of a session that had already ended (its job
cancelled from the shell, or stopped once already) printed "stop sent (job N)", as if a cancel
had gone to Slurm. It now says the session had ended and nothing was stopped, exit 0, as
`jobs cancel` does for an ended job."""

from __future__ import annotations

import json

from tests.cli.test_cli_unit import (  # noqa: F401 - fixtures by name
    Run,
    Worker,
    alice,
    config_file,
    env,
    http,
    logged_in,
    quiet_server_logs,
    run,
    worker,
)
from tests.fakes.fake_slurm import FakeCluster


def test_stopping_a_session_that_already_ended_says_so_and_sends_nothing(
    run: Run, logged_in: str, fake_cluster: FakeCluster, worker: Worker
) -> None:
    started = run("interactive", "start", "jupyter", "-p", "debug", "-t", "30", "--no-wait", "--json")
    assert started.exit_code == 0, started.output
    short = json.loads(started.stdout)["short_id"]
    (slurm_id,) = fake_cluster.jobs
    fake_cluster.finish(slurm_id, "CANCELLED")  # scancel from the shell
    worker(1)  # the worker's next tick sees it
    scancels = fake_cluster.calls["scancel"]

    for _ in range(2):
        stopped = run("interactive", "stop", short)
        assert stopped.exit_code == 0, stopped.output
        assert stopped.stdout == f"Session {short} already ended (cancelled): nothing to stop.\n"
        assert "stop sent" not in stopped.output
    assert fake_cluster.calls["scancel"] == scancels

    fresh = run("interactive", "start", "jupyter", "-p", "debug", "-t", "30", "--no-wait", "--json")
    running = json.loads(fresh.stdout)["short_id"]
    stopped = run("interactive", "stop", running)
    assert stopped.stdout.startswith(f"session {running}: stop sent")  # a live one: as before
