"""A Slurm command that hangs or prints a gigabyte: fake ``squeue``/``sbatch`` first on PATH of
a LocalRunner, the real ones behind them. The gateway times out or bounds the output, stays
responsive, keeps its memory, and afterwards everything settles with the real commands.
"""

from __future__ import annotations

import os
import resource
import stat
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from myriagate.domain.states import JobState
from myriagate.runners import LocalRunner
from myriagate.runners.outcome import DEFAULT_MAX_OUTPUT_BYTES
from myriagate.slurm.cli_backend import SlurmCliBackend
from tests.faults.conftest import World

pytestmark = [pytest.mark.faults, pytest.mark.slurm]
GIB = 1 << 30


class OneBackend:
    def __init__(self, backend: SlurmCliBackend) -> None:
        self.backend = backend

    def for_login(self, login: str) -> SlurmCliBackend:
        return self.backend

    def for_service(self) -> SlurmCliBackend:
        return self.backend


def fake_bin(tmp_path: Path, name: str, body: str) -> Path:
    d = tmp_path / "fakebin"
    d.mkdir(exist_ok=True)
    f = d / name
    f.write_text(f"#!/bin/bash\n{body}\n")
    f.chmod(f.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return d


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("behaviour", ["hangs", "prints_a_gigabyte"])
def test_squeue_that_hangs_or_floods(
    behaviour: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [world.submit("#!/bin/bash\nsleep 1\n") for _ in range(2)]
    assert all(ids)
    body = "exec sleep 600" if behaviour == "hangs" else f"exec head -c {GIB} /dev/zero"
    monkeypatch.setenv("PATH", f"{fake_bin(tmp_path, 'squeue', body)}:{os.environ['PATH']}")
    bad = OneBackend(SlurmCliBackend(LocalRunner(path=os.environ["PATH"]), timeout_s=3))
    w = world.worker(backends=bad)
    rss0 = maxrss_mib()
    # Responsive meanwhile: another thread's database work is not blocked by the stuck poll.
    answers: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t = time.monotonic()
            with world.factory() as session:
                session.execute(sa.text("SELECT 1"))
            answers.append(time.monotonic() - t)
            time.sleep(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    t0 = time.monotonic()
    try:
        w.run_once()
    except Exception as exc:  # the tick may report the failed poll: it must not hang
        outcome = type(exc).__name__
    else:
        outcome = "tick returned"
    tick_s = time.monotonic() - t0
    stop.set()
    prober.join()
    grew = maxrss_mib() - rss0
    assert tick_s < 20, f"a {behaviour} squeue held the tick {tick_s:.0f} s"
    assert grew < 4 * DEFAULT_MAX_OUTPUT_BYTES / 2**20 + 64, f"memory grew {grew:.0f} MiB"
    assert answers and max(answers) < 2.0
    for job_id in ids:
        assert (
            job_id is not None and world.job(job_id).state is not JobState.FAILED
        )  # a bad poll decides nothing
    monkeypatch.setenv("PATH", os.environ["PATH"].split(":", 1)[1])
    assert world.drive(timeout_s=90) == 0
    world.check(
        f"test_squeue_that_hangs_or_floods[{behaviour}]",
        f"`squeue` replaced first on PATH by one that {behaviour.replace('_', ' ')} "
        "(LocalRunner, 3 s command timeout); one worker tick with it, then the real squeue",
        tick_s=round(tick_s, 1),
        tick_outcome=outcome,
        rss_growth_mib=round(grew, 1),
        output_cap_mib=DEFAULT_MAX_OUTPUT_BYTES // 2**20,
    )


@pytest.mark.parametrize("behaviour", ["hangs", "prints_a_gigabyte"])
def test_sbatch_that_hangs_or_floods(
    behaviour: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "exec sleep 600" if behaviour == "hangs" else f"exec head -c {GIB} /dev/zero"
    monkeypatch.setenv("PATH", f"{fake_bin(tmp_path, 'sbatch', body)}:{os.environ['PATH']}")
    bad = OneBackend(SlurmCliBackend(LocalRunner(path=os.environ["PATH"]), timeout_s=3))
    rss0 = maxrss_mib()
    t0 = time.monotonic()
    job_id = world.submit(backends=bad)
    submit_s = time.monotonic() - t0
    grew = maxrss_mib() - rss0
    assert submit_s < 20
    assert grew < 4 * DEFAULT_MAX_OUTPUT_BYTES / 2**20 + 64
    answer = f"refused: {world.refused}"
    if job_id is not None:  # accepted: waits in submitting, never both sent and failed
        job = world.job(job_id)
        assert job.state in (JobState.SUBMITTING, JobState.FAILED), job.state
        answer = f"{job.state.value} ({job.reason})"
    monkeypatch.setenv("PATH", os.environ["PATH"].split(":", 1)[1])
    assert world.drive(timeout_s=90) == 0
    world.check(
        f"test_sbatch_that_hangs_or_floods[{behaviour}]",
        f"`sbatch` replaced first on PATH by one that {behaviour.replace('_', ' ')} (3 s timeout); "
        "then the real sbatch through the worker's reconcile",
        submit_s=round(submit_s, 1),
        answer_at_submit=answer,
        rss_growth_mib=round(grew, 1),
    )
