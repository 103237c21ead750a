"""The whole gateway with ``backend = "pyslurm"``: the REST API, real pyslurm 22.5, the dev cluster.

The same researcher's path as ``test_api_real_cluster`` (SSH): a script with #SBATCH lines and
overriding options, the job tracked to its end, its output read back, a cancel, another user
kept out; here every Slurm call goes through pyslurm in the gateway's process, as root,
submitting as the researcher. Skipped, with the reason, when pyslurm is not installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.settings import Settings
from myriagate.wiring import Gateway
from tests.contract.conftest import PYSLURM_MISSING
from tests.integration.backend_variants import gateway_on_backend
from tests.integration.test_api_real_cluster import SCRIPT, _client, _track_until
from tests.integration.test_api_real_cluster import alice as alice  # alice's API client
from tests.integration.test_api_real_cluster import server as server  # the live API fixture

pytestmark = pytest.mark.slurm


@pytest.fixture
def gateway(gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    if importlib.util.find_spec("pyslurm") is None:
        pytest.skip(PYSLURM_MISSING)
    gw = gateway_on_backend(gateway_settings, tmp_path, "pyslurm")
    yield gw
    gw.close()


def test_submit_track_and_read_output_through_pyslurm(alice: httpx.Client, gateway: Gateway) -> None:
    response = alice.post(
        "/jobs", json={"script": SCRIPT, "options": {"partition": "debug", "time": "00:02:00"}}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["cluster_login"] == "alice" and job["slurm_job_id"], job
    shown = subprocess.run(
        ["squeue", "-h", "-j", job["slurm_job_id"], "-o", "%u|%P|%l|%j"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if shown:  # it may already have ended
        assert shown == "alice|debug|2:00|api-real"

    done = _track_until(gateway, alice, job["id"], {"completed", "failed", "cancelled", "timeout"}, 120)
    assert done["state"] == "completed", done
    output = alice.get(f"/jobs/{job['id']}/output")
    assert output.status_code == 200, output.text
    assert "ran as alice in partition debug" in output.text


def test_cancel_through_pyslurm_and_another_user_sees_nothing(
    alice: httpx.Client, gateway: Gateway, server: str, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    body = {"script": "#!/bin/bash\nsleep 300\n", "options": {"partition": "debug", "time": "10"}}
    job = alice.post("/jobs", json=body).json()
    assert job["slurm_job_id"], job
    with _client(server, db, users["bob"]) as bob:
        assert bob.post(f"/jobs/{job['id']}/cancel").status_code == 404
    assert alice.post(f"/jobs/{job['id']}/cancel").status_code == 202
    cancelled = _track_until(gateway, alice, job["id"], {"cancelled", "completed", "failed"}, 60)
    assert cancelled["state"] == "cancelled"
