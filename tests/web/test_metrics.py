"""``GET /metrics`` from the in-process app: request and submission histograms by route template,
jobs by state and ledger totals read from the database, and who may scrape at all.

The in-process metrics live in prometheus_client's default registry, shared by every test of
this process: histogram checks compare a scrape before and after the requests (deltas).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.costs import Cost
from myriagate.domain.states import JobState
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock
from tests.web.conftest import MakeUser, assert_problem

API = "/api/v1"
SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\necho hi\n"
LOOPBACK = ("127.0.0.1", 40000)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(app: FastAPI, client: tuple[str, int] = LOOPBACK) -> Samples:
    response = TestClient(app, client=client).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_timed_by_route_template_never_by_raw_path(
    app: FastAPI, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> None:
    researcher = auth_client(make_user())
    before = scrape(app)
    job = researcher.post(f"{API}/jobs", json={"script": SCRIPT})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    for _ in range(3):
        assert researcher.get(f"{API}/jobs/{job_id}").status_code == 200
    assert researcher.get(f"{API}/jobs/{uuid.uuid4()}").status_code == 404
    assert researcher.get(f"{API}/no-such-thing/{job_id}").status_code == 404
    after = scrape(app)

    one_job = {"route": f"{API}/jobs/{{job_id}}", "method": "GET"}
    count = "myriagate_http_request_duration_seconds_count"
    assert (
        value(after, count, **one_job, status_class="2xx")
        - value(before, count, **one_job, status_class="2xx")
        == 3
    )
    assert (
        value(after, count, **one_job, status_class="4xx")
        - value(before, count, **one_job, status_class="4xx")
        == 1
    )
    # Every bucket of the route is exposed, cumulative, ending with +Inf == count.
    buckets = {
        dict(labels)["le"]: v
        for (name, labels), v in after.items()
        if name == "myriagate_http_request_duration_seconds_bucket"
        and {**one_job, "status_class": "2xx"}.items() <= dict(labels).items()
    }
    assert {"0.005", "0.1", "1.0", "+Inf"} <= set(buckets)
    ordered = [buckets[le] for le in sorted(buckets, key=lambda le: float(le))]
    assert ordered == sorted(ordered) and buckets["+Inf"] == value(
        after, count, **one_job, status_class="2xx"
    )
    # An unknown path is one "unmatched" series; no label anywhere carries the job's id.
    assert value(after, count, route="unmatched", method="GET", status_class="4xx") >= 1
    assert not [key for key in after if any(job_id in v for _, v in key[1])]
    # The submission has its own histogram (202 accepted) as well as its route's.
    submissions = "myriagate_job_submission_duration_seconds_count"
    assert (
        value(after, submissions, interface="api", status="202")
        - value(before, submissions, interface="api", status="202")
        == 1
    )
    assert (
        value(after, count, route=f"{API}/jobs", method="POST", status_class="2xx")
        - value(before, count, route=f"{API}/jobs", method="POST", status_class="2xx")
        == 1
    )


def test_jobs_by_state_are_counted_in_the_database(
    app: FastAPI, db: Session, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> None:
    researcher = auth_client(make_user())
    ids = []
    for _ in range(3):
        response = researcher.post(f"{API}/jobs", json={"script": SCRIPT})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    assert researcher.post(f"{API}/jobs/{ids[0]}/cancel").status_code in (200, 202)
    # Rows written by another process (a second API instance) count too: the gauge is the database's.
    db.add(_job_row(db, JobState.RUNNING))
    db.commit()

    samples = scrape(app)
    in_db = dict(
        db.execute(
            sa.select(Job.state, sa.func.count()).where(Job.cluster == CLUSTER).group_by(Job.state)
        ).all()
    )
    for state in JobState:
        assert value(samples, "myriagate_jobs", cluster=CLUSTER, state=state.value) == in_db.get(state, 0), (
            state
        )
    assert sum(value(samples, "myriagate_jobs", cluster=CLUSTER, state=s.value) for s in JobState) == 4
    assert value(samples, "myriagate_jobs", cluster=CLUSTER, state="running") == 1
    assert value(samples, "myriagate_database_scrape_success") == 1


def _job_row(db: Session, state: JobState) -> Job:
    """A copy of an existing job row in ``state``, as another gateway process would have written."""
    template = db.scalars(sa.select(Job).limit(1)).one()
    columns = {c.key: getattr(template, c.key) for c in sa.inspect(Job).column_attrs}
    columns.update(
        id=uuid.uuid4(), state=state, slurm_job_id=f"9{uuid.uuid4().int % 10**8}", tag=f"mg:{uuid.uuid4()}"
    )
    return Job(**columns)


@pytest.mark.parametrize("settings_overrides", [{"enforce_allocations": True}])
def test_ledger_totals_match_the_allocations(
    app: FastAPI,
    db: Session,
    clock: FakeClock,
    make_user: MakeUser,
    auth_client: Callable[[User], TestClient],
) -> None:
    app.state.clock = clock  # inside the 2026 period
    researcher = auth_client(make_user())  # also creates the caen-climat project
    admin = auth_client(make_user("platform_admin"))
    period = admin.post(
        f"{API}/periods",
        json={"name": "2026", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
    )
    assert period.status_code == 201, period.text
    quota = admin.put(
        f"{API}/institutions/unicaen/quotas/{period.json()['id']}", json={"core_hours": "100", "gpu_hours": 0}
    )
    assert quota.status_code == 200, quota.text
    grant = admin.post(
        f"{API}/allocations", json={"account": "caen-climat", "core_hours": "10", "reason": "tests"}
    )
    assert grant.status_code == 201, grant.text
    jobs = [researcher.post(f"{API}/jobs", json={"script": SCRIPT}) for _ in range(2)]
    assert [j.status_code for j in jobs] == [202, 202], [j.text for j in jobs]
    SqlLedger(db, clock=clock).settle(job_id=uuid.UUID(jobs[0].json()["id"]), actual=Cost(300, 0))
    db.commit()

    balance = researcher.get(f"{API}/allocations/{grant.json()['id']}").json()
    samples = scrape(app)
    core = "myriagate_ledger_core_seconds"
    assert (
        value(samples, core, cluster=CLUSTER, kind="granted") == balance["granted"]["core_seconds"] == 36000
    )
    assert value(samples, core, cluster=CLUSTER, kind="charged") == balance["charged"]["core_seconds"] == 300
    held = balance["held"]["core_seconds"]
    assert held > 0 and value(samples, core, cluster=CLUSTER, kind="held") == held
    assert value(samples, "myriagate_ledger_gpu_seconds", cluster=CLUSTER, kind="granted") == 0


@pytest.mark.parametrize("peer", [("testclient", 50000), ("10.1.2.3", 40000), ("::ffff:8.8.8.8", 1)])
def test_other_clients_get_a_403_problem(app: FastAPI, peer: tuple[str, int]) -> None:
    response = TestClient(app, client=peer).get("/metrics")
    body = assert_problem(response, 403, "permission_denied")
    assert "myriagate_" not in response.text and body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("settings_overrides", [{"metrics_allowed_networks": ["10.0.0.0/8"]}])
def test_allowed_networks_come_from_the_settings(app: FastAPI) -> None:
    assert scrape(app, ("10.1.2.3", 40000))
    assert_problem(TestClient(app, client=LOOPBACK).get("/metrics"), 403, "permission_denied")


def test_a_bad_network_setting_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match=r"METRICS_ALLOWED_NETWORKS: 'prometheus\.local'"):
        Settings(dev_mode=True, metrics_allowed_networks=["10.0.0.0/8", "prometheus.local"])


def test_metrics_is_not_in_the_openapi_document(client: TestClient) -> None:
    paths: dict[str, Any] = client.get(f"{API}/openapi.json").json()["paths"]
    assert "/metrics" not in paths
