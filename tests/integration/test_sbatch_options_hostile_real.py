"""The sbatch options attacked, on the real dev cluster (tests/unit/test_sbatch_options_hostile.py
has the rest): what real sbatch 22.05 reads that the gateway's fixes rely on, and hostile but
accepted values of the new options reaching Slurm exactly as the gateway read them.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models import User
from myriagate.errors import InvalidRequest
from myriagate.profiles.loader import load_profile
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends
from tests.conftest import CLUSTER
from tests.fakes.hostile import CANARY
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm


def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **env}, cwd="/tmp")  # fmt: skip


def _show_job(job_id: str) -> dict[str, str]:
    out = _run(["scontrol", "-o", "show", "job", job_id]).stdout
    return dict(word.split("=", 1) for word in out.split() if "=" in word)


# --- what real sbatch reads (the fixes rely on it) ------------------------------------------
@pytest.mark.parametrize(
    ("argv", "answer"),
    [
        (["--Partition=debug"], "unrecognized option '--Partition=debug'"),
        (["-u"], "invalid option -- 'u'"),
        (["--mem-per=1"], "is ambiguous"),
    ],
)
def test_sbatch_refuses_the_names_the_gateway_refuses(
    devcluster: DevCluster, argv: list[str], answer: str
) -> None:
    result = _run(["sbatch", *argv, "--version"])
    assert result.returncode != 0 and answer in result.stderr


@pytest.mark.parametrize("export", ["FOO,all", "NONE,ALL"])
def test_sbatch_reads_an_export_keyword_anywhere_in_the_list(devcluster: DevCluster, export: str) -> None:
    """Why the gateway refuses ALL/NONE/NIL after the first item: sbatch passes everything."""
    if os.geteuid() != 0:
        pytest.skip("runs sbatch as alice through runuser: needs root")
    out = Path(f"/tmp/mg-export-{uuid.uuid4().hex}.out")
    result = _run(["runuser", "-u", "alice", "--", "sbatch", "--parsable", "-A", "caen-climat", "-p", "debug",
                   "-t", "1", f"--export={export}", "-o", str(out), "--wrap", "env"],
                  FOO="foo", MG_MARK="everything")  # fmt: skip
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    try:
        deadline = time.monotonic() + 90
        while not ((out.exists() and "MG_MARK" in out.read_text()) or time.monotonic() > deadline):
            time.sleep(1)
        assert "MG_MARK=everything" in out.read_text()  # not only FOO: the whole environment
    finally:
        _run(["scancel", job_id])
        out.unlink(missing_ok=True)


# --- accepted hostile values reach Slurm as read -----------------------------------------
@pytest.fixture
def backends(devcluster: DevCluster, gateway_settings: Settings) -> Iterator[ClusterBackends]:
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()


def submit(
    session: Session, backends: ClusterBackends, user: User, script: str, overrides: dict[str, str]
) -> str:
    """The Slurm id of the job ``user`` (with an address on record) submits through the gateway."""
    owner = session.merge(user)
    owner.email = "alice@unicaen.fr"
    request = SubmitRequest(script_text=script, cluster=CLUSTER, overrides=overrides)
    job = submit_job(session, backends=backends, profile=backends.profile, user=owner, request=request,
                     clock=SystemClock())  # fmt: skip
    assert job.slurm_job_id is not None, job.reason
    return job.slurm_job_id


def test_new_options_with_hostile_values_reach_slurm_as_the_gateway_read_them(
    db: sessionmaker[Session], backends: ClusterBackends, users: dict[str, User]
) -> None:
    Path(CANARY).unlink(missing_ok=True)
    name = f"it's $(touch {CANARY}) `touch {CANARY}`; id"
    overrides = {
        "partition": "debug", "time": "1", "job-name": name, "begin": "now+1hour", "deadline": "now+2days",
        "constraint": "broadwell&ib", "nodelist": "vm", "licenses": "matlab:1", "nice": "10",
        "mail-type": "END,FAIL", "mail-user": "ALICE@UNICAEN.FR", "signal": "B:USR1@60",
        "distribution": "block:cyclic", "export": "ALL,MG_HOSTILE=a:b@c/d+e", "kill-on-invalid-dep": "yes",
    }  # fmt: skip
    with db() as session, pytest.raises(InvalidRequest, match="--uid is not allowed"):
        submit(session, backends, users["alice"], "#!/bin/bash\n#SBATCH --ui=0\ntrue\n", overrides)
    with db() as session:
        slurm_id = submit(session, backends, users["alice"], "#!/bin/bash\ntrue\n", overrides)
    try:
        shown = _show_job(slurm_id)
        assert shown["JobState"] == "PENDING" and shown["Reason"] == "BeginTime"
        assert shown["UserId"].startswith("alice(")
        assert shown["Features"] == "broadwell&ib" and shown["ReqNodeList"] == "vm"
        assert shown["Licenses"] == "matlab:1" and shown["Nice"] == "10"
        assert shown["MailUser"] == "alice@unicaen.fr"  # as on record, whatever the case written
        assert shown["MailType"] == "END,FAIL"
        assert shown["Deadline"] != "N/A"
        full = _run(["squeue", "-h", "-j", slurm_id, "-o", "%j"]).stdout.rstrip("\n")
        assert full == name  # one argv element, verbatim
    finally:
        _run(["scancel", slurm_id])
    assert not Path(CANARY).exists(), "a hostile value was executed"
