"""Helpers for the page tests: log in through the login form, read a form's CSRF token; the
data staging fixtures (fake stager, the worker's staging step) and a dataset made through the
pages."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import Job
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.services.staging import datasets as staging_service
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.step import run_pending
from myriagate.wiring import Gateway, worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.web.conftest import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)


def logged_in(app: FastAPI, user: User, *, lang: str = "en") -> TestClient:
    """A browser-like client that logged in with the form (cookies kept, redirects not followed)."""
    client = TestClient(app, follow_redirects=False, headers={"Accept-Language": lang})
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    return client


def page_csrf(client: TestClient, path: str = "/tokens") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


# --- data staging through the pages (tests/web/test_pages_staging.py, test_pages_datasets.py) ---
# Imported by name into those modules: fixtures of a module override the conftest's.
STAGING_SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\nmkdir -p results\ncat data.csv > results/out.h5\n"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"spool_dir": tmp_path / "spool", "upload_max_bytes": 1 << 20}


@pytest.fixture
def stager(tmp_path: Path, gateway: Gateway) -> FakeStager:
    """The cluster's and the storage endpoints' disks as local directories (FakeStager)."""
    fake = FakeStager(tmp_path / "hosts")
    gateway._stager = fake  # what gateway.stager() hands out (wiring builds OpenSSH otherwise)
    return fake


@pytest.fixture
def staging_ctx(
    gateway: Gateway, backends: FakeSlurmBackendFactory, stager: FakeStager, clock: FakeClock
) -> StagingContext:
    """What the worker's staging thread gets; ``run_pending(staging_ctx)`` is one of its steps."""
    return StagingContext(
        session_factory=gateway.session_factory,
        profile=gateway.profile(CLUSTER),
        backends=backends,
        stager=stager,
        clock=clock,
        allowed_regions=["FR-NOR"],
        spool_dir=gateway.settings.spool_dir,
        holder="test-worker",
    )


def host_dir(stager: FakeStager, port: int, root: str) -> Path:
    """A remote directory of the fake stager (port 2222: the cluster, 2223: storage)."""
    return stager.base / f"127.0.0.1_{port}" / root.lstrip("/")


def staging_form(csrf: str, **fields: Any) -> dict[str, str]:
    """A script submission (no template) as the submit form posts it."""
    data = {"csrf_token": csrf, "mode": "script", "script": STAGING_SCRIPT, "action": "submit",
            "partition": "debug", "time": "5", "account": "caen-climat", "store": "caen"}  # fmt: skip
    data.update({k: str(v) for k, v in fields.items()})
    return data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def spool_files(spool: Path) -> list[str]:
    if not spool.exists():
        return []
    return sorted(p.relative_to(spool).as_posix() for p in spool.rglob("*") if p.is_file())


def tick(gateway: Gateway, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    with gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def produce_dataset(
    client: TestClient,
    *,
    gateway: Gateway,
    stager: FakeStager,
    ctx: StagingContext,
    fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory,
    clock: FakeClock,
    login: str,
    results: dict[str, bytes],
    **fields: Any,
) -> tuple[str, str]:
    """Submit from the page with an output pattern to Caen, let the job write ``results``,
    finish in Slurm and be staged out by the worker: (job id, dataset id)."""
    response = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit"), output_patterns="results/**", **fields),
    )
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].rsplit("/", 1)[-1]
    assert run_pending(ctx) == 1  # results only: the job's own directory is made first
    work = host_dir(stager, 2222, f"/home/{login}/myriagate-jobs/{job_id}")
    for path, content in results.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    with gateway.session_factory() as session:
        plan = staging_service.job_staging(session, job_id=uuid.UUID(job_id), user=_owner(session, job_id))
        slurm_job_id = plan.job.slurm_job_id
    assert slurm_job_id is not None
    fake_cluster.finish(slurm_job_id, "COMPLETED")
    tick(gateway, backends, clock)
    assert run_pending(ctx) == 1
    with gateway.session_factory() as session:
        plan = staging_service.job_staging(session, job_id=uuid.UUID(job_id), user=_owner(session, job_id))
        assert plan.plan.output_dataset_id is not None, plan.job.reason
        return job_id, str(plan.plan.output_dataset_id)


def _owner(session: Session, job_id: str) -> User:
    job = session.get(Job, uuid.UUID(job_id))
    assert job is not None
    owner = session.get(User, job.user_id)
    assert owner is not None
    return owner
