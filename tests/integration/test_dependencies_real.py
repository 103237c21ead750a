"""--dependency on the REAL dev cluster: what sbatch is given, and that Slurm honours it.

A job names another by the gateway id ``myriagate submit --parsable`` prints (through the REST
API, as the CLI sends it); Slurm must show ``Dependency=afterok:<the first job's Slurm id>`` and
start the second job only after the first has ended. A job whose dependee has no Slurm id yet
waits in the gateway and goes to Slurm, with the id written in, at the tick after its dependee.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.services.common import audit
from myriagate.services.jobs import dispatch, tracking
from myriagate.settings import Settings
from myriagate.web.app import create_app
from myriagate.wiring import Gateway, build_gateway, worker_ledger
from tests.integration.test_api_real_cluster import _client, _free_port

pytestmark = pytest.mark.slurm
CLUSTER = "devcluster"
CLOCK = SystemClock()
FIRST = "#!/bin/bash\n#SBATCH --job-name=dep-first\n#SBATCH --partition=debug\n#SBATCH --time=2\nsleep 4\n"
SECOND = "#!/bin/bash\n#SBATCH --job-name=dep-second\n#SBATCH --partition=debug\n#SBATCH --time=2\ntrue\n"
ENDED = {"completed", "failed", "cancelled", "timeout"}


@pytest.fixture
def gateway(gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    settings = gateway_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'gateway.db'}"})
    gw = build_gateway(settings)
    yield gw
    gw.close()


@pytest.fixture
def server(gateway: Gateway) -> Iterator[str]:
    """A real uvicorn in front of the dev cluster; its base URL."""
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


@pytest.fixture
def api(server: str, db: sessionmaker[Session], users: dict[str, User]) -> Iterator[httpx.Client]:
    """alice's API client, with a personal token as the CLI uses."""
    with _client(server, db, users["alice"]) as client:
        yield client


def tick(gateway: Gateway) -> None:
    with gateway.session_factory() as session:
        tracking.tick(
            session,
            cluster=CLUSTER,
            backends=gateway.backends(CLUSTER),
            clock=CLOCK,
            ledger=worker_ledger(CLOCK),
        )


def scontrol_field(slurm_job_id: str, field: str) -> str:
    out = subprocess.run(
        ["scontrol", "show", "job", slurm_job_id], capture_output=True, text=True, check=True
    ).stdout
    return next(w.partition("=")[2] for w in out.split() if w.startswith(field + "="))


def sacct_times(slurm_job_id: str, timeout_s: float = 30.0) -> tuple[datetime, datetime]:
    """(Start, End) from accounting; slurmdbd lags a few seconds behind slurmctld."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", slurm_job_id, "-o", "Start,End"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        start, _, end = out.partition("|")
        if "Unknown" not in out and end:
            return datetime.fromisoformat(start), datetime.fromisoformat(end)
        assert time.monotonic() < deadline, f"no accounting times for {slurm_job_id}: {out!r}"
        time.sleep(1)


def track(gateway: Gateway, api: httpx.Client, *job_ids: str, timeout_s: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        tick(gateway)
        jobs = [api.get(f"/jobs/{j}").json() for j in job_ids]
        if all(j["state"] in ENDED for j in jobs):
            return jobs
        assert time.monotonic() < deadline, f"still running: {[(j['id'], j['state']) for j in jobs]}"
        time.sleep(1)


def test_a_chain_submitted_in_one_go_runs_in_order(api: httpx.Client, gateway: Gateway) -> None:
    first = api.post("/jobs", json={"script": FIRST})
    assert first.status_code == 202, first.text
    first_id = first.json()["id"]  # what `myriagate submit --parsable` prints
    second = api.post("/jobs", json={"script": SECOND, "options": {"dependency": f"afterok:{first_id}"}})
    assert second.status_code == 202, second.text
    first_slurm, second_slurm = first.json()["slurm_job_id"], second.json()["slurm_job_id"]
    assert first_slurm and second_slurm

    assert scontrol_field(second_slurm, "Dependency") == f"afterok:{first_slurm}(unfulfilled)"

    ended = track(gateway, api, first_id, second.json()["id"])
    assert [j["state"] for j in ended] == ["completed", "completed"], ended
    (_, first_end), (second_start, _) = sacct_times(first_slurm), sacct_times(second_slurm)
    assert second_start >= first_end


def test_another_users_job_is_refused_before_slurm(
    api: httpx.Client, server: str, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    with _client(server, db, users["bob"]) as bob:
        theirs = bob.post("/jobs", json={"script": SECOND})
        assert theirs.status_code == 202, theirs.text
    for word in (theirs.json()["id"], theirs.json()["slurm_job_id"]):
        refused = api.post("/jobs", json={"script": SECOND, "options": {"dependency": f"afterok:{word}"}})
        assert refused.status_code == 422, refused.text
        assert f"no job of yours with id '{word}'" in refused.text


def test_a_job_waits_in_the_gateway_for_a_dependee_not_yet_in_slurm(
    api: httpx.Client, gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    # The dependee stands as the staging step leaves it once its inputs are in: submitting,
    # not sent yet. It is sent by hand below, as that step does.
    first = api.post("/jobs", json={"script": FIRST})
    assert first.status_code == 202
    held_id = uuid.uuid4()
    with db() as session:
        template = session.get_one(Job, uuid.UUID(first.json()["id"]))
        held = Job(
            id=held_id, user_id=template.user_id, cluster=CLUSTER, cluster_login="alice",
            slurm_account=template.slurm_account, partition="debug", tag=f"mg:{held_id}",
            state=JobState.SUBMITTING, script_text=template.script_text, spec=dict(template.spec),
            sbatch_args=list(template.sbatch_args), created_at=CLOCK.now(), updated_at=CLOCK.now(),
        )  # fmt: skip
        session.add(held)
        session.commit()
    second = api.post("/jobs", json={"script": SECOND, "options": {"dependency": f"afterok:{held_id}"}})
    assert second.status_code == 202, second.text
    assert second.json()["state"] == "submitting" and second.json()["slurm_job_id"] is None
    tick(gateway)  # nothing to send yet
    assert api.get(f"/jobs/{second.json()['id']}").json()["slurm_job_id"] is None

    with db() as session:
        held = session.get_one(Job, held_id)
        script = RenderedScript(text=held.script_text, sbatch_args=tuple(held.sbatch_args))
        dispatch.send(session, held, script, backends=gateway.backends(CLUSTER), clock=CLOCK,
                      actor=audit.WORKER, source="worker")  # fmt: skip
        held_slurm = held.slurm_job_id
    assert held_slurm is not None
    tick(gateway)
    sent = api.get(f"/jobs/{second.json()['id']}").json()
    assert sent["slurm_job_id"], sent
    assert scontrol_field(sent["slurm_job_id"], "Dependency") == f"afterok:{held_slurm}(unfulfilled)"
    ended = track(gateway, api, first.json()["id"], str(held_id), sent["id"])
    assert [j["state"] for j in ended] == ["completed", "completed", "completed"], ended
    (_, held_end), (sent_start, _) = sacct_times(held_slurm), sacct_times(sent["slurm_job_id"])
    assert sent_start >= held_end
