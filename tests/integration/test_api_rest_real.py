"""The whole gateway with ``backend = "rest"``: the REST API, the dev cluster's slurmrestd.

The same researcher's path as ``test_api_real_cluster`` (SSH) and ``test_api_pyslurm_real``:
a script with #SBATCH lines and overriding options, the job tracked to its end by the worker's
tick, its output read back, a cancel, another user kept out; here every Slurm call goes to
slurmrestd with a JWT minted for the researcher (the service login for polling), and the
output is read through the profile's SSH runner (``[connection.rest] files = "runner"``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.settings import Settings
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.wiring import Gateway
from tests.contract.conftest import JWT_KEY, REST_URL
from tests.integration.backend_variants import gateway_on_backend
from tests.integration.test_api_real_cluster import CLUSTER, SCRIPT, _client, _track_until
from tests.integration.test_api_real_cluster import alice as alice  # alice's API client
from tests.integration.test_api_real_cluster import server as server  # the live API fixture

pytestmark = pytest.mark.slurm


@pytest.fixture
def gateway(gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    if not JWT_KEY.exists():
        pytest.skip(f"{JWT_KEY} is missing: a dev cluster without slurmrestd (bash deploy/devcluster/up.sh)")
    rest = f'\n[connection.rest]\nurl = "{REST_URL}"\njwt_key = "{JWT_KEY}"\nfiles = "runner"\n'
    gw = gateway_on_backend(gateway_settings, tmp_path, "rest", rest)
    assert isinstance(gw.backends(CLUSTER).for_login("alice"), SlurmRestBackend)
    yield gw
    gw.close()


def test_submit_track_and_read_output_through_slurmrestd(alice: httpx.Client, gateway: Gateway) -> None:
    response = alice.post(
        "/jobs", json={"script": SCRIPT, "options": {"partition": "debug", "time": "00:02:00"}}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["cluster_login"] == "alice" and job["slurm_job_id"], job
    shown = subprocess.run(
        ["squeue", "-h", "-j", job["slurm_job_id"], "-o", "%u|%P|%l|%j|%k"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if shown:  # it may already have ended
        assert shown == f"alice|debug|2:00|api-real|mg:{job['id']}"

    done = _track_until(gateway, alice, job["id"], {"completed", "failed", "cancelled", "timeout"}, 120)
    assert done["state"] == "completed", done
    output = alice.get(f"/jobs/{job['id']}/output")
    assert output.status_code == 200, output.text
    assert "ran as alice in partition debug" in output.text


def test_cancel_through_slurmrestd_and_another_user_sees_nothing(
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
