# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Issue #15, "Ids you can use", on the REAL dev cluster: the Slurm job id sbatch gave a job
names it in `jobs show`, `jobs cancel` (with and without `-M`), and so does its short id."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_real import (  # noqa: F401 - fixtures by name
    RUN_TAG,
    alice_token,
    cli,
    database_url,
    live,
    script,
)
from tests.conftest import CLUSTER

pytestmark = pytest.mark.slurm


def squeue_state(slurm_job_id: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", slurm_job_id, "-o", "%T"], capture_output=True, text=True
    ).stdout
    return out.strip()


def test_the_slurm_id_from_sbatch_and_the_short_id_name_the_job(cli: Any, tmp_path: Path) -> None:
    job_sh = script(tmp_path, "sleep 120\n")
    job = json.loads(cli("submit", str(job_sh), "-J", RUN_TAG, "--json").stdout)
    full, slurm = job["id"], job["slurm_job_id"]
    assert slurm and slurm.isdigit(), job  # the number real sbatch answered
    assert squeue_state(slurm) in {"PENDING", "RUNNING", "CONFIGURING"}

    for args in ((slurm,), (slurm, "-M", CLUSTER)):
        shown = cli("jobs", "show", *args, "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["id"] == full
    short = next(j["short_id"] for j in json.loads(cli("jobs", "list", "--json").stdout) if j["id"] == full)
    assert len(short) >= 8 and full.replace("-", "").startswith(short)
    assert json.loads(cli("jobs", "show", short, "--json").stdout)["slurm_job_id"] == slurm

    cancelled = cli("jobs", "cancel", slurm, "-M", CLUSTER)
    assert cancelled.exit_code == 0, cancelled.output
    deadline = time.monotonic() + 30
    while squeue_state(slurm) not in {"CANCELLED", ""} and time.monotonic() < deadline:
        time.sleep(1)
    assert squeue_state(slurm) in {"CANCELLED", ""}  # gone from squeue once cancelled
