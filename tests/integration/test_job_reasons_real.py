"""Why jobs ended, on the real dev cluster, through the gateway (API and job page).

A job over its ``--mem`` (the dev cluster has no cgroups: OverMemoryKill ends it FAILED 0:9, its
batch step's MaxRSS above ReqMem), a job past its one-minute time limit, and a job its owner
cancels on the cluster herself with ``scancel``: sacct says ``CANCELLED by 1001``, the page
says "cancelled by alice".
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.runners.ssh import SshRunner
from myriagate.services.jobs import tracking
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.slurm import commands
from myriagate.web.app import create_app
from myriagate.wiring import Gateway, build_gateway, worker_ledger
from tests.contract.conftest import PYSLURM_MISSING

pytestmark = pytest.mark.slurm
CLUSTER = "devcluster"
PASSWORD = "correct horse battery staple"
ENDED = {"completed", "failed", "cancelled", "timeout", "out_of_memory"}
RUN_TAG = f"mg-why-{uuid.uuid4().hex[:8]}"  # a name of our own: other tests' cleanups go by name
HOG = "python3 -c 'import time; b = b\"x\" * (300 * 2**20); time.sleep(30)'"


@pytest.fixture
def gateway(gateway_settings: Settings, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    settings = gateway_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'gateway.db'}"})
    gw = build_gateway(settings)
    yield gw
    gw.close()


@dataclass
class Alice:
    api: TestClient  # her personal token
    browser: TestClient  # signed in through the login form


@pytest.fixture
def alice(gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]) -> Iterator[Alice]:
    with db() as session:
        user = session.merge(users["alice"])
        auth_service.set_password(user, PASSWORD)
        secret = auth_service.create_token(session, user, name="reasons").secret
        session.commit()
    app = create_app(gateway)
    with (
        TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as api,
        TestClient(app, follow_redirects=False) as browser,
    ):
        page = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert token is not None
        form = {"username": "alice@unicaen.fr", "password": PASSWORD, "csrf_token": token.group(1)}
        assert browser.post("/login", data=form).status_code == 303
        yield Alice(api, browser)


def submit(alice: Alice, body: str, **options: str) -> dict[str, Any]:
    options = {"job_name": RUN_TAG, **options}
    response = alice.api.post("/api/v1/jobs", json={"script": f"#!/bin/bash\n{body}\n", "options": options})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def track(gateway: Gateway, alice: Alice, job_id: str, timeout_s: float) -> dict[str, Any]:
    """Tracking ticks, as the worker runs them, until the job ended."""
    clock = SystemClock()
    deadline = time.monotonic() + timeout_s
    while True:
        with gateway.session_factory() as session:
            tracking.tick(session, cluster=CLUSTER, backends=gateway.backends(CLUSTER), clock=clock,
                          ledger=worker_ledger(clock))  # fmt: skip
        job: dict[str, Any] = alice.api.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ENDED:
            return job
        assert time.monotonic() < deadline, f"job still {job['state']}: {job}"
        time.sleep(2)


def page_text(alice: Alice, job_id: str) -> str:
    response = alice.browser.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    return html.unescape(response.text)


def test_a_job_over_its_memory_is_said_to_have_run_out_of_memory(alice: Alice, gateway: Gateway) -> None:
    job = submit(alice, HOG, partition="debug", time="2", mem="100M", output="/dev/null")
    ended = track(gateway, alice, job["id"], 90)

    assert (ended["state"], ended["exit_code"], ended["signal"]) == ("failed", 0, 9)
    said = ended["explanation"]
    assert said["code"] == "out_of_memory", said
    assert re.fullmatch(r"ran out of memory \(used \d{3} MB of 100 MB\)", said["text"]["en"]), said
    assert re.fullmatch(r"mémoire épuisée \(\d{3} Mo utilisés sur 100 Mo\)", said["text"]["fr"]), said
    page = page_text(alice, job["id"])
    assert said["text"]["en"] in page and "Exit code" not in page


@pytest.mark.long_wait
def test_a_job_past_its_time_limit_reached_it(alice: Alice, gateway: Gateway) -> None:
    job = submit(alice, "sleep 300", partition="debug", time="1", output="/dev/null")
    ended = track(gateway, alice, job["id"], 180)

    assert ended["state"] == "timeout"
    assert ended["explanation"]["text"] == {
        "en": "reached its time limit (1 min)", "fr": "limite de temps atteinte (1 min)"
    }  # fmt: skip
    page = page_text(alice, job["id"])
    assert "reached its time limit (1 min)" in page and "Exit code" not in page


def test_a_job_its_owner_cancels_on_the_cluster_is_cancelled_by_alice(
    alice: Alice, gateway: Gateway, ssh_runner_for: Callable[[str], SshRunner]
) -> None:
    job = submit(alice, "sleep 300", partition="debug", time="5", output="/dev/null")
    # She cancels it herself, on the cluster: Slurm records her uid, never her name.
    ssh_runner_for("alice").run(commands.scancel(job["slurm_job_id"]))
    ended = track(gateway, alice, job["id"], 60)

    assert ended["state"] == "cancelled" and ended["slurm_state"].startswith("CANCELLED by ")
    assert ended["explanation"]["text"] == {"en": "cancelled by alice", "fr": "annulé par alice"}
    page = page_text(alice, job["id"])
    assert "cancelled by alice" in page
    uid = ended["slurm_state"].removeprefix("CANCELLED by ")
    assert f"by {uid}" not in page.replace(ended["slurm_state"], ""), "the uid is not said as a name"


def test_the_pyslurm_backend_reports_the_same_endings(devcluster: object) -> None:
    if importlib.util.find_spec("pyslurm") is None:
        pytest.skip(PYSLURM_MISSING)
    if os.geteuid() != 0:
        pytest.skip("pyslurm submits as alice from a root process")
    from myriagate.slurm.pyslurm_backend import PyslurmBackend

    release = subprocess.run(["sinfo", "-V"], capture_output=True, text=True, check=True).stdout.split()[1]
    backend = PyslurmBackend(release, login="alice")
    common = ("--partition=debug", "--time=2", f"--job-name={RUN_TAG}", "--output=/dev/null")
    hog = backend.submit(
        RenderedScript(f"#!/bin/bash\n{HOG}\n", (*common, "--mem=100M")), tag=f"mg:{uuid.uuid4()}"
    )
    sleepers = [
        backend.submit(RenderedScript("#!/bin/bash\nsleep 120\n", common), tag=f"mg:{uuid.uuid4()}")
        for _ in range(2)
    ]
    time.sleep(3)
    backend.cancel(sleepers[0])  # from this (root) process, as the gateway would
    subprocess.run(["runuser", "-u", "alice", "--", *commands.scancel(sleepers[1])], check=True)
    ids = [hog, *sleepers]
    deadline = time.monotonic() + 90
    while True:
        found = backend.status(ids)
        if all((state := getattr(found.get(j), "state", None)) is not None and state.is_final for j in ids):
            break
        assert time.monotonic() < deadline, found
        time.sleep(1)

    killed = found[hog]
    assert (killed.state, killed.signal, killed.mem_requested_bytes) == (JobState.FAILED, 9, 100 * 2**20)
    assert killed.max_rss_bytes is not None and killed.max_rss_bytes > 100 * 2**20
    # pyslurm names the canceller itself: root for the gateway's own cancel (tracking then keeps
    # the gateway user who asked), alice for hers.
    assert [found[j].cancelled_by for j in sleepers] == ["root", "alice"]
