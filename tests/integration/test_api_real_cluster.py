"""The REST API served by a real uvicorn on a free port, in front of the real dev cluster (SSH).

A researcher's token, a script with #SBATCH lines plus overriding options, tracking until
the job ends, and its output read back through the API: the job ran as that researcher.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.web.app import create_app
from myriagate.wiring import Gateway, build_gateway, worker_ledger
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS

pytestmark = pytest.mark.slurm
CLUSTER = "devcluster"
SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --job-name=api-real\n"
    "#SBATCH --time=00:30:00\n"
    "#SBATCH --partition=long\n"
    'echo "ran as $(id -un) in partition ${SLURM_JOB_PARTITION}"\n'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def gateway(gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    # The integration ``db`` fixture migrated this very file; the server uses it too.
    settings = gateway_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'gateway.db'}"})
    gw = build_gateway(settings)
    yield gw
    gw.close()


@pytest.fixture
def server(gateway: Gateway) -> Iterator[str]:
    """A real uvicorn server on a free port, in a thread; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _client(server: str, db: sessionmaker[Session], user: User) -> httpx.Client:
    with db() as session:
        owner = session.merge(user)
        secret = auth_service.create_token(session, owner, name="integration").secret
    return httpx.Client(
        base_url=server + "/api/v1", headers={"Authorization": f"Bearer {secret}"}, timeout=60
    )


@pytest.fixture
def alice(server: str, db: sessionmaker[Session], users: dict[str, User]) -> Iterator[httpx.Client]:
    with _client(server, db, users["alice"]) as client:
        yield client


def _track_until(
    gateway: Gateway, client: httpx.Client, job_id: str, states: set[str], timeout: float
) -> dict[str, Any]:
    """Run tracking ticks (as the worker would) until the job reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    clock = SystemClock()
    while True:
        with gateway.session_factory() as session:
            backends = gateway.backends(CLUSTER)
            tracking.tick(
                session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock)
            )
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, f"job stuck in {job['state']}: {job}"
        time.sleep(1)


def test_submit_track_and_read_output_as_alice(alice: httpx.Client, gateway: Gateway) -> None:
    response = alice.post(
        "/jobs", json={"script": SCRIPT, "options": {"partition": "debug", "time": "00:02:00"}}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["cluster_login"] == "alice" and job["slurm_job_id"], job

    done = _track_until(gateway, alice, job["id"], {"completed", "failed", "cancelled", "timeout"}, 120)
    assert done["state"] == "completed", done
    detail = alice.get(f"/jobs/{job['id']}").json()
    assert "--partition=debug" in detail["sbatch_args"] and "--time=00:02:00" in detail["sbatch_args"]
    assert "--job-name=api-real" in detail["sbatch_args"]

    output = alice.get(f"/jobs/{job['id']}/output")
    assert output.status_code == 200, output.text
    assert output.headers["x-myriagate-job-state"] == "completed"
    assert "ran as alice in partition debug" in output.text


def test_hostile_job_names_arrive_verbatim_or_are_refused(alice: httpx.Client) -> None:
    Path(CANARY).unlink(missing_ok=True)
    script = "#!/bin/bash\nsleep 120\n"
    submitted: list[str] = []
    try:
        for name in HOSTILE_STRINGS:
            body = {"script": script, "options": {"job_name": name, "partition": "debug", "time": "3"}}
            response = alice.post("/jobs", json=body)
            if response.status_code == 422:
                assert response.headers["content-type"].startswith("application/problem+json")
                continue
            assert response.status_code == 202, (name, response.text)
            job = response.json()
            submitted.append(job["id"])
            out = subprocess.run(["squeue", "-h", "-j", job["slurm_job_id"], "-o", "%j"],
                                 capture_output=True, check=True)  # fmt: skip
            assert out.stdout.decode("utf-8", "replace").rstrip("\n") == name
        assert submitted, "every hostile name was refused: the verbatim path is untested"
    finally:
        for job_id in submitted:
            alice.post(f"/jobs/{job_id}/cancel")
    assert not Path(CANARY).exists(), "a hostile string was executed"


def test_cancel_through_the_api(
    alice: httpx.Client, gateway: Gateway, server: str, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    body = {"script": "#!/bin/bash\nsleep 300\n", "options": {"partition": "debug", "time": "10"}}
    job = alice.post("/jobs", json=body).json()
    with _client(server, db, users["bob"]) as bob:
        assert bob.post(f"/jobs/{job['id']}/cancel").status_code == 404  # not his: not even there
    response = alice.post(f"/jobs/{job['id']}/cancel")
    assert response.status_code == 202, response.text
    cancelled = _track_until(gateway, alice, job["id"], {"cancelled", "completed", "failed"}, 60)
    assert cancelled["state"] == "cancelled"
    assert alice.post(f"/jobs/{job['id']}/cancel").status_code == 202  # idempotent
    missing = alice.get(f"/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404
