"""Issue #15: a 5-second job's page read "Facturé 0 h CPU" (hours rounded to two decimals).
Its charge is now said in seconds below a minute, in the reader's language, and the API's
hours for the same job do not read 0 either (its seconds stay exact)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import User
from myriagate.services.allocations import settlement
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in
from tests.web.test_pages_jobs import JOB_URL, grant_hours, submit_page, tick


def _charged(page: str) -> str:
    found = re.search(r"<dt>(?:Charged|Facturé)</dt><dd>(.*?)</dd>", page, re.S)
    assert found, page
    return re.sub(r"[ \t\n]+", " ", found.group(1)).strip()  # no-break spaces kept


@pytest.mark.parametrize("settings_overrides", [{"enforce_allocations": True}])
def test_a_five_second_jobs_charge_is_not_zero_on_its_page(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, auth_client: Callable[[User], TestClient],
) -> None:  # fmt: skip
    user = make_user()
    grant_hours(db, clock, "caen-climat", 100)
    english, french, api = logged_in(app, user), logged_in(app, user, lang="fr"), auth_client(user)
    app.state.clock = clock  # inside the period granted (after logging in: cookies stay fresh)
    response = submit_page(english, job_name="blink")
    job_id = JOB_URL.match(response.headers["location"]).group(1)  # type: ignore[union-attr]
    fake_cluster.set_state("1000", "RUNNING")
    clock.advance(5)
    fake_cluster.finish("1000")
    tick(app, backends, clock)
    gateway = app.state.gateway
    with gateway.session_factory() as session:  # what the worker does after each tick
        settled, _ = settlement.settle_finished(
            session, cluster=CLUSTER, profile=gateway.profile(CLUSTER), backends=backends,
            ledger=worker_ledger(clock),
        )  # fmt: skip
    assert settled == 1

    allocation = api.get("/api/v1/allocations").json()[0]
    charged = allocation["charged"]
    assert 0 < charged["core_seconds"] < 60  # a few CPUs' worth of 5 s
    assert 0 < charged["core_hours"] < 0.01  # was 0.0
    seconds = charged["core_seconds"]
    assert _charged(english.get(f"/jobs/{job_id}").text) == f"{seconds}\u00a0s of CPU time"
    assert _charged(french.get(f"/jobs/{job_id}").text) == f"{seconds}\u00a0s de temps CPU"
    # The balance on the dashboard: "used < 0.01 CPU-h", never "used 0".
    assert "used &lt;\u00a00.01 CPU-h" in english.get("/").text
    assert "consommé &lt;\u00a00,01 h CPU" in french.get("/").text
