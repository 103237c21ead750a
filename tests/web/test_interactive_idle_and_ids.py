"""Interactive sessions through the in-process API (issue #18), what a mature tool adds:

- the idle timeout comes from the cluster profile (``[interactive]``: devcluster's default 30
  minutes, at most 240): the rendered job script carries it, the session shows it, a value
  beyond the maximum is refused with nothing submitted;
- a session is named by a short id (a unique prefix of 8+ hex digits of the caller's sessions),
  as jobs and datasets are; an ambiguous one is 409 ``ambiguous_session`` with candidates;
- a failed start says why (the job ended first, its exit code; the app's connection file
  refused; a start that takes long), so the owner knows to read the job's output.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.app_tls import connection_file
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser, assert_problem

SESSIONS = "/api/v1/interactive/sessions"
AuthClient = Callable[[User], TestClient]


def _tick(backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def _start(client: TestClient, **params: Any) -> dict[str, Any]:
    body = {"app": "jupyter", "options": {"time": "00:30:00", "partition": "debug"}, "params": params}
    response = client.post(SESSIONS, json=body)
    assert response.status_code == 202, response.text
    out: dict[str, Any] = response.json()
    return out


def test_the_session_gets_the_profiles_idle_timeout_or_one_asked_for_within_its_maximum(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    default = _start(client)
    script = fake_cluster.jobs[default["slurm_job_id"]].script
    # devcluster.toml: [interactive] idle_timeout_minutes = 30 -> JupyterLab culls and stops at 1800 s.
    assert "--ServerApp.shutdown_no_activity_timeout=1800" in script
    assert "--MappingKernelManager.cull_idle_timeout=1800" in script
    assert default["idle_timeout_s"] == 1800
    asked = _start(client, idle_minutes=90)
    assert "--ServerApp.shutdown_no_activity_timeout=5400" in fake_cluster.jobs[asked["slurm_job_id"]].script
    assert client.get(f"{SESSIONS}/{asked['id']}").json()["idle_timeout_s"] == 5400

    before = dict(fake_cluster.jobs)
    for refused in (241, 0, "ten", "-5"):
        answer = client.post(SESSIONS, json={"app": "jupyter", "params": {"idle_minutes": refused}})
        body = assert_problem(answer, 422)
        assert ["params", "idle_minutes"] in [e["loc"] for e in body["errors"]], body
    assert fake_cluster.jobs == before  # nothing submitted
    assert len(client.get(SESSIONS).json()) == 2


def test_a_short_id_names_a_session_and_an_ambiguous_one_lists_the_candidates(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster, db: Session
) -> None:
    alice = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    bob = auth_client(make_user(username="bob@unicaen.fr", login="bob"))
    first, second = _start(alice), _start(alice)
    # Two of alice's sessions sharing their first 8 hex digits (4 billion to one by chance).
    shared = "abcdef12"
    for row_id, tail in ((first["id"], "1"), (second["id"], "2")):
        new_id = uuid.UUID(shared + tail * 24)
        db.execute(
            sa.update(InteractiveSession).where(InteractiveSession.id == uuid.UUID(row_id)).values(id=new_id)
        )
    db.commit()
    listed = alice.get(SESSIONS).json()
    assert sorted(s["short_id"] for s in listed) == [shared + "1", shared + "2"]  # 9 digits tell them apart
    assert all(s["job_short_id"] and len(s["job_short_id"]) >= 8 for s in listed)

    found = alice.get(f"{SESSIONS}/{shared}1")
    assert found.status_code == 200 and found.json()["id"] == str(uuid.UUID(shared + "1" * 24))
    ambiguous = assert_problem(alice.get(f"{SESSIONS}/{shared}"), 409, "ambiguous_session")
    assert sorted(c["id"] for c in ambiguous["candidates"]) == sorted(s["id"] for s in listed)
    assert {c["name"] for c in ambiguous["candidates"]} == {"jupyter"}
    assert_problem(alice.delete(f"{SESSIONS}/{shared}"), 409, "ambiguous_session")
    assert {j.state for j in fake_cluster.jobs.values()} == {"PENDING"}  # nothing stopped

    stopped = alice.delete(f"{SESSIONS}/{shared}2")
    assert stopped.status_code == 200 and stopped.json()["id"].startswith(shared)
    assert sorted(j.state for j in fake_cluster.jobs.values()) == ["CANCELLED", "PENDING"]
    # Another user's prefix is the same 404 as one that names nothing; a non-id is 422.
    assert_problem(bob.get(f"{SESSIONS}/{shared}1"), 404)
    assert_problem(bob.delete(f"{SESSIONS}/{shared}1"), 404)
    assert_problem(alice.get(f"{SESSIONS}/00000000"), 404)
    for hostile in ("abc", "zzzzzzzzzz", *[h for h in HOSTILE_STRINGS if "/" not in h and h.strip()][:6]):
        answer = alice.get(f"{SESSIONS}/{hostile}")
        assert answer.status_code in (404, 422), (hostile, answer.text)
    assert sorted(j.state for j in fake_cluster.jobs.values()) == ["CANCELLED", "PENDING"]


def test_a_failed_start_says_why_and_where_its_output_is(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    app.state.clock = clock
    client = auth_client(make_user(username="alice@unicaen.fr", login="alice"))
    failed = _start(client)
    fake_cluster.set_state(failed["slurm_job_id"], "RUNNING")
    _tick(backends, app, clock)
    assert client.get(f"{SESSIONS}/{failed['id']}").json()["problem"] is None  # just started
    fake_cluster.finish(failed["slurm_job_id"], "FAILED", exit_code=1)
    _tick(backends, app, clock)
    ended = client.get(f"{SESSIONS}/{failed['id']}").json()
    assert (ended["state"], ended["job_state"], ended["exit_code"]) == ("ended", "failed", 1)
    assert ended["problem"] == (
        "the job ended before the app announced itself (exit code 1): its output says why"
    )

    # A connection file the login wrote badly: the session stays starting, and says so.
    broken = _start(client)
    fake_cluster.set_state(broken["slurm_job_id"], "RUNNING")
    _tick(backends, app, clock)
    path = f"/home/alice/.myriagate/interactive/{broken['id']}/connection.json"
    fake_cluster.files[path] = json.dumps(
        {"host": "-oProxyCommand=x", "port": 40000, "token": "t" * 40}
    ).encode()
    shown = client.get(f"{SESSIONS}/{broken['id']}").json()
    assert shown["state"] == "starting"
    assert (
        shown["problem"]
        == "the app's connection file was refused: the app's connection file names no valid host"
    )
    fake_cluster.files[path] = connection_file("10.0.0.9", 40000, "t" * 40)
    fixed = client.get(f"{SESSIONS}/{broken['id']}").json()
    assert (fixed["state"], fixed["problem"]) == ("running", None)

    # An app that never announces itself: after two minutes of running, the session says so.
    slow = _start(client)
    fake_cluster.set_state(slow["slurm_job_id"], "RUNNING")
    _tick(backends, app, clock)
    assert client.get(f"{SESSIONS}/{slow['id']}").json()["problem"] is None
    clock.advance(181)
    waited = client.get(f"{SESSIONS}/{slow['id']}").json()
    assert waited["state"] == "starting"
    assert waited["problem"].startswith("the job has run for 3 min and the app has not announced itself yet")
