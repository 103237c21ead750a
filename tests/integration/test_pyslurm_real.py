"""PyslurmBackend over the real pyslurm 22.5 on the dev cluster: what the job really gets.

The contract suite (tests/contract, id ``pyslurm``) checks the protocol; these check what
only a real submission shows: the options the renderer passes arrive as sbatch would set them,
the job runs as the researcher in their home, and none of the gateway's environment reaches it.
Skipped, with the reason, when pyslurm is not installed (``bash deploy/pyslurm.sh``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import SchedulerRejected
from myriagate.slurm.pyslurm_backend import PyslurmBackend
from tests.contract.conftest import PYSLURM_MISSING
from tests.fakes.hostile import HOSTILE_STRINGS

pytestmark = pytest.mark.slurm


@pytest.fixture
def backend(devcluster: object) -> PyslurmBackend:
    if importlib.util.find_spec("pyslurm") is None:
        pytest.skip(PYSLURM_MISSING)
    release = subprocess.run(["sinfo", "-V"], capture_output=True, text=True, check=True).stdout.split()[1]
    return PyslurmBackend(release, login="alice")


def _scontrol(job_id: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout


def _wait_final(backend: PyslurmBackend, job_id: str, timeout_s: float = 90) -> JobState:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = backend.status([job_id]).get(job_id)
        if status is not None and status.state is not None and status.state.is_final:
            return status.state
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end in {timeout_s:g} s")


def test_a_job_runs_as_the_researcher_in_their_home_without_the_gateways_environment(
    backend: PyslurmBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYRIAGATE_SECRET_KEY", "gateway-secret-never-in-a-job")
    out = Path(f"/tmp/mg-pyslurm-{uuid.uuid4().hex}.out")
    script = RenderedScript(
        "#!/bin/sh\nid -un\npwd\nenv\n",
        ("--partition=debug", "--time=2", "--ntasks=1", "--mem=100M", f"--output={out}",
         "--export=ALL,MG_PROBE=42", "--job-name=pyslurm-env", "--ignore-pbs"),
    )  # fmt: skip
    job_id = backend.submit(script, tag=f"mg:{uuid.uuid4()}")
    try:
        shown = _scontrol(job_id)
        assert "UserId=alice(" in shown
        assert "TimeLimit=00:02:00" in shown
        assert "JobName=pyslurm-env" in shown
        assert _wait_final(backend, job_id) is JobState.COMPLETED
        lines = out.read_text().splitlines()
    finally:
        out.unlink(missing_ok=True)
    assert lines[0] == "alice"
    assert lines[1] == "/home/alice"
    env = dict(line.split("=", 1) for line in lines[2:] if "=" in line)
    assert env["MG_PROBE"] == "42"
    assert env["HOME"] == "/home/alice"
    assert env["USER"] == "alice"
    assert "MYRIAGATE_SECRET_KEY" not in env
    assert "gateway-secret-never-in-a-job" not in out.name + "\n".join(lines)


def test_options_arrive_as_sbatch_would_set_them(backend: PyslurmBackend) -> None:
    script = RenderedScript(
        "#!/bin/sh\nsleep 30\n",
        ("--partition=debug", "--time=00:20:00", "--nodes=1", "--ntasks=2", "--cpus-per-task=1",
         "--mem-per-cpu=50M", "--no-requeue", "--hold", "--chdir=/tmp", "--output=/dev/null",
         "--mail-type=END,FAIL", "--mail-user=alice@example.org", "--kill-on-invalid-dep=yes"),
    )  # fmt: skip
    job_id = backend.submit(script, tag=f"mg:{uuid.uuid4()}")
    try:
        shown = _scontrol(job_id)
    finally:
        backend.cancel(job_id)
    assert "TimeLimit=00:20:00" in shown
    assert "NumTasks=2" in shown
    assert "MinMemoryCPU=50M" in shown
    assert "Requeue=0" in shown
    assert "Priority=0" in shown  # held
    assert "WorkDir=/tmp" in shown
    assert "MailType=END,FAIL" in shown
    assert "MailUser=alice@example.org" in shown


@pytest.mark.parametrize("name", [s for s in HOSTILE_STRINGS if s.isprintable()])
def test_hostile_job_names_are_stored_literally(backend: PyslurmBackend, name: str) -> None:
    script = RenderedScript(
        "#!/bin/sh\ntrue\n",
        ("--partition=debug", "--time=1", "--hold", "--output=/dev/null", f"--job-name={name}"),
    )
    job_id = backend.submit(script, tag=f"mg:{uuid.uuid4()}")
    try:
        shown = subprocess.run(
            ["squeue", "--noheader", f"--jobs={job_id}", "--format=%j"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        backend.cancel(job_id)
    assert shown.rstrip("\n") == name


def test_an_option_pyslurm_22_5_would_drop_is_refused_before_slurm(backend: PyslurmBackend) -> None:
    script = RenderedScript("#!/bin/sh\ntrue\n", ("--partition=debug", "--time=1", "--signal=B:USR1@60"))
    with pytest.raises(SchedulerRejected, match="--signal"):
        backend.submit(script, tag=f"mg:{uuid.uuid4()}")
