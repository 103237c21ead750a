"""``/api/v1/jobs`` in-process, over the fake Slurm: submit, list, show, cancel, output.

Every role of docs/api.md is tried on every endpoint; refusals are checked as problem
details, and bad input is checked to leave nothing behind (no job row, no audit event,
no sbatch call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.errors import SchedulerRejected
from myriagate.services.jobs import tracking
from myriagate.services.jobs.dispatch import REASON_UNAVAILABLE
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser, assert_problem

JOBS = "/api/v1/jobs"
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=from-script\n#SBATCH --time=00:10:00\n#SBATCH -c 2\necho hello\n"
AuthClient = Callable[[User], TestClient]


def submit(client: TestClient, name: str | None = None, **body: Any) -> dict[str, Any]:
    body.setdefault("script", SCRIPT)
    if name is not None:
        body.setdefault("options", {})["job_name"] = name
    response = client.post(JOBS, json=body)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def written(db: Session) -> tuple[int, int]:
    """(job rows, audit events): what a refused request must leave unchanged."""
    db.expire_all()
    jobs = db.scalar(sa.select(sa.func.count()).select_from(Job))
    events = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    return jobs or 0, events or 0


def tick(gateway_backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(
            session, cluster=CLUSTER, backends=gateway_backends, clock=clock, ledger=worker_ledger(clock)
        )


# --- submit --------------------------------------------------------------------------
def test_script_with_overriding_options_is_accepted_with_location(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    alice = make_user(username="alice@unicaen.fr", login="alice")
    client = auth_client(alice)
    response = client.post(JOBS, json={"script": SCRIPT, "options": {"time": "00:20:00", "cpus_per_task": 4}})

    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"{JOBS}/{job['id']}"
    assert job["owner"] == "alice@unicaen.fr" and job["cluster_login"] == "alice"
    assert job["state"] == "pending" and job["slurm_job_id"] == "1000"
    sent = fake_cluster.job("1000")
    assert sent.login == "alice" and sent.name == "from-script"
    assert sent.time_limit_s == 20 * 60  # the option overrides the #SBATCH line
    assert "--cpus-per-task=4" in sent.sbatch_args

    detail = client.get(response.headers["location"]).json()
    assert "--time=00:20:00" in detail["sbatch_args"]
    assert detail["script"].startswith("#!/bin/bash\n#MYRIAGATE-HANDLED SBATCH --job-name=from-script")
    assert [h["to_state"] for h in detail["history"]] == ["submitting", "pending"]


def test_template_submission_quotes_parameters(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    params = {"message": "$(touch /tmp/x); it's", "repeat": 2}
    job = submit(client, script=None, template="hello", params=params, options={"partition": "debug"})
    sent = fake_cluster.job(job["slurm_job_id"])
    assert sent.partition == "debug"
    assert "printf '%s\\n' '$(touch /tmp/x); it'\"'\"'s'" in sent.script
    assert "seq 1 2" in sent.script


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"template": "hello", "params": {"repeat": 1000}}, ["params", "repeat"]),
        ({"template": "hello", "params": {"colour": "red"}}, ["params", "colour"]),
        ({"template": "no-such-template"}, ["template"]),
        ({"script": SCRIPT, "template": "hello"}, ["script"]),
        ({}, ["script"]),
        ({"script": SCRIPT, "params": {"message": "x"}}, ["params"]),
        ({"script": SCRIPT, "options": {"time": "9-00:00:00"}}, ["options", "time"]),
        ({"script": SCRIPT, "options": {"partition": "nope"}}, ["options", "partition"]),
        ({"script": SCRIPT, "options": {"account": "rouen-chimie"}}, ["options", "account"]),
        ({"script": SCRIPT, "options": {"bogus": 1}}, ["options", "bogus"]),
        ({"script": SCRIPT, "options": {"nodes": 0}}, ["options", "nodes"]),
        ({"script": SCRIPT, "cluster": "elsewhere"}, ["cluster"]),
        ({"script": "echo no shebang\n"}, ["script", 1]),
        ({"script": "#!/bin/bash\n#SBATCH --uid=0\nid\n"}, ["script", 2]),
    ],
)
def test_invalid_submissions_are_422_and_write_nothing(
    body: dict[str, Any],
    loc: list[Any],
    make_user: MakeUser,
    auth_client: AuthClient,
    fake_cluster: FakeCluster,
    db: Session,
) -> None:
    client = auth_client(make_user())
    before = written(db)
    problem = assert_problem(client.post(JOBS, json=body), 422)
    assert loc in [e["loc"] for e in problem["errors"]], problem
    assert written(db) == before
    assert fake_cluster.calls["sbatch"] == 0


def test_dry_run_validates_and_sends_nothing(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster, db: Session
) -> None:
    client = auth_client(make_user())
    before = written(db)
    response = client.post(JOBS, json={"script": SCRIPT, "options": {"partition": "long"}, "dry_run": True})
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["account"] == "caen-climat" and preview["partition"] == "long"
    assert preview["time_limit_s"] == 600
    assert "--job-name=from-script" in preview["sbatch_args"]
    assert preview["script"].startswith("#!/bin/bash\n#MYRIAGATE-HANDLED")
    refused = client.post(JOBS, json={"script": SCRIPT, "options": {"time": "5:00:00"}, "dry_run": True})
    assert assert_problem(refused, 422, "profile_violation")["errors"][0]["loc"] == ["options", "time"]
    assert written(db) == before and fake_cluster.calls["sbatch"] == 0


def test_unreachable_cluster_still_accepts_the_job_as_submitting(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    fake_cluster.set_unreachable()
    job = submit(auth_client(make_user()))
    assert job["state"] == "submitting" and job["slurm_job_id"] is None
    assert job["reason"] == REASON_UNAVAILABLE


def test_slurm_refusal_is_a_502_problem(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    fake_cluster.fail_next_submit(SchedulerRejected("sbatch: error: Invalid account"))
    problem = assert_problem(auth_client(make_user()).post(JOBS, json={"script": SCRIPT}), 502)
    assert problem["code"] == "scheduler_rejected" and "Invalid account" in problem["detail"]


def test_user_without_membership_cannot_submit(make_user: MakeUser, auth_client: AuthClient) -> None:
    admin = make_user("platform_admin")  # no account on the cluster
    assert_problem(auth_client(admin).post(JOBS, json={"script": SCRIPT}), 422, "profile_violation")


@pytest.mark.parametrize(
    "field", ["job_name", "partition", "account", "time", "mem", "gres", "array", "output", "error", "chdir"]
)
def test_hostile_option_values_are_refused_or_sent_verbatim(
    field: str, make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster, db: Session
) -> None:
    client = auth_client(make_user())
    for value in HOSTILE_STRINGS:
        before = written(db)
        response = client.post(JOBS, json={"script": SCRIPT, "options": {field: value}})
        if response.status_code == 422:
            assert_problem(response, 422)
            assert written(db) == before, value
            continue
        assert response.status_code == 202, (value, response.text)
        sent = fake_cluster.job(response.json()["slurm_job_id"])
        option = "--" + field.replace("_", "-") + "="
        assert option + value in sent.sbatch_args, (value, sent.sbatch_args)


@pytest.mark.parametrize(
    "name",
    ["results\u202eh.sh", "a\u2066b\u2069", "left\u200fright", "line\u2028break", "nel\x85", "ok\u061c"],
)
def test_a_job_name_with_invisible_direction_or_line_characters_is_refused(
    name: str, make_user: MakeUser, auth_client: AuthClient, db: Session
) -> None:
    """A right-to-left override shows 'results\u202eh.sh' as 'resultshs.h' to the lead and the
    admins who read the name (Trojan Source); line separators break a line in logs and mails.
    Found attacking as a project member: such names were accepted."""
    client = auth_client(make_user())
    before = written(db)
    problem = assert_problem(client.post(JOBS, json={"script": SCRIPT, "options": {"job_name": name}}), 422)
    assert "control character" in problem["detail"]
    assert written(db) == before
    accepted = client.post(JOBS, json={"script": SCRIPT, "options": {"job_name": "étude 日本 — run ①"}})
    assert accepted.status_code == 202, accepted.text


# --- who sees what -------------------------------------------------------------------
@dataclass
class People:
    alice: User
    carol: User
    bob: User
    lead: User
    caen_admin: User
    rouen_admin: User
    platform_admin: User


@pytest.fixture
def people(make_user: MakeUser) -> People:
    return People(
        alice=make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"]),
        carol=make_user(username="carol@unicaen.fr", login="carol", accounts=["caen-bio"]),
        bob=make_user(
            username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
        ),
        lead=make_user("project_lead", username="lead@unicaen.fr", login="lead", accounts=["caen-climat"]),
        caen_admin=make_user("university_admin", institution="unicaen"),
        rouen_admin=make_user("university_admin", institution="univ-rouen"),
        platform_admin=make_user("platform_admin"),
    )


@pytest.fixture
def jobs(people: People, auth_client: AuthClient) -> dict[str, dict[str, Any]]:
    """a1, a2 (alice, caen-climat), c1 (carol, caen-bio), b1 (bob, rouen-chimie), l1 (the lead)."""
    made: dict[str, dict[str, Any]] = {}
    for name, user in [("a1", people.alice), ("a2", people.alice), ("c1", people.carol), ("b1", people.bob),
                       ("l1", people.lead)]:  # fmt: skip
        made[name] = submit(auth_client(user), name)
    return made


def names_seen(client: TestClient, query: str = "") -> set[str]:
    response = client.get(f"{JOBS}?limit=200{query}")
    assert response.status_code == 200, response.text
    return {item["job_name"] for item in response.json()["items"]}


def test_each_role_lists_exactly_the_jobs_it_may_see(
    people: People, jobs: dict[str, dict[str, Any]], auth_client: AuthClient
) -> None:
    assert names_seen(auth_client(people.alice)) == {"a1", "a2"}
    assert names_seen(auth_client(people.carol)) == {"c1"}
    assert names_seen(auth_client(people.bob)) == {"b1"}
    assert names_seen(auth_client(people.lead)) == {"a1", "a2", "l1"}
    assert names_seen(auth_client(people.caen_admin)) == {"a1", "a2", "c1", "l1"}
    assert names_seen(auth_client(people.rouen_admin)) == {"b1"}
    assert names_seen(auth_client(people.platform_admin)) == {"a1", "a2", "c1", "b1", "l1"}


def test_a_job_out_of_sight_is_404_like_a_missing_one(
    people: People, jobs: dict[str, dict[str, Any]], auth_client: AuthClient
) -> None:
    bob = auth_client(people.bob)
    hidden = jobs["a1"]["id"]
    missing = "00000000-0000-4000-8000-000000000000"
    for suffix in ("", "/history", "/output", "/cancel"):
        method = bob.post if suffix == "/cancel" else bob.get
        seen = assert_problem(method(f"{JOBS}/{hidden}{suffix}"), 404, "not_found")
        absent = assert_problem(method(f"{JOBS}/{missing}{suffix}"), 404, "not_found")
        assert seen["detail"].replace(hidden, "ID") == absent["detail"].replace(missing, "ID")
    assert_problem(auth_client(people.rouen_admin).get(f"{JOBS}/{hidden}"), 404)


def test_university_admin_sees_but_may_not_cancel_or_read_output(
    people: People, jobs: dict[str, dict[str, Any]], auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    admin = auth_client(people.caen_admin)
    job_id = jobs["a1"]["id"]
    assert admin.get(f"{JOBS}/{job_id}").status_code == 200
    assert admin.get(f"{JOBS}/{job_id}/history").status_code == 200
    assert_problem(admin.post(f"{JOBS}/{job_id}/cancel"), 403, "permission_denied")
    assert_problem(admin.get(f"{JOBS}/{job_id}/output"), 403, "permission_denied")
    assert fake_cluster.job(jobs["a1"]["slurm_job_id"]).state == "PENDING"


@pytest.mark.parametrize("who", ["alice", "lead", "platform_admin"])
def test_owner_lead_and_platform_admin_cancel(
    who: str,
    people: People,
    jobs: dict[str, dict[str, Any]],
    auth_client: AuthClient,
    fake_cluster: FakeCluster,
) -> None:
    client = auth_client(getattr(people, who))
    job = jobs["a1"]
    response = client.post(f"{JOBS}/{job['id']}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["cancel_requested_at"] is not None
    assert fake_cluster.job(job["slurm_job_id"]).state == "CANCELLED"
    assert client.post(f"{JOBS}/{job['id']}/cancel").status_code == 202  # idempotent
    assert_problem(auth_client(people.carol).post(f"{JOBS}/{job['id']}/cancel"), 404)


def test_cancelling_a_finished_job_is_a_conflict(
    people: People, jobs: dict[str, dict[str, Any]], auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    fake_cluster.finish(jobs["b1"]["slurm_job_id"])
    tick(backends, app, clock)
    client = auth_client(people.bob)
    assert client.get(f"{JOBS}/{jobs['b1']['id']}").json()["state"] == "completed"
    assert_problem(client.post(f"{JOBS}/{jobs['b1']['id']}/cancel"), 409, "job_not_cancellable")


def test_anonymous_callers_get_401_everywhere(client: TestClient) -> None:
    job = "00000000-0000-4000-8000-000000000000"
    routes = [
        ("POST", JOBS),
        ("GET", JOBS),
        ("GET", f"{JOBS}/{job}"),
        ("GET", f"{JOBS}/{job}/history"),
        ("POST", f"{JOBS}/{job}/cancel"),
        ("GET", f"{JOBS}/{job}/output"),
    ]
    for method, path in routes:
        kwargs = {"json": {"script": SCRIPT}} if method == "POST" else {}
        assert_problem(client.request(method, path, **kwargs), 401, "not_authenticated")


# --- output --------------------------------------------------------------------------
def test_output_is_the_tail_as_text_with_the_job_state(
    people: People, jobs: dict[str, dict[str, Any]], auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    slurm_id = jobs["a1"]["slurm_job_id"]
    fake_cluster.set_state(slurm_id, "RUNNING")
    tick(backends, app, clock)  # the work directory comes from Slurm
    fake_cluster.write_file(f"/home/alice/slurm-{slurm_id}.out", b"line one\nbad \xff byte\nlast\n")
    url = f"{JOBS}/{jobs['a1']['id']}/output"

    for who in (people.alice, people.lead, people.platform_admin):
        response = auth_client(who).get(url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["x-myriagate-job-state"] == "running"
        assert response.text == "line one\nbad \ufffd byte\nlast\n"
        # Issue #15: the bytes as written, never re-encoded (the CLI's --raw passes them on).
        assert response.content == b"line one\nbad \xff byte\nlast\n"
    alice = auth_client(people.alice)
    assert alice.get(url, params={"max_bytes": 5}).text == "last\n"
    assert alice.get(url, params={"stream": "error"}).text.endswith("last\n")  # stderr goes with stdout
    assert_problem(alice.get(url, params={"max_bytes": 1024 * 1024 + 1}), 422, "invalid_request")
    assert_problem(alice.get(url, params={"stream": "both"}), 422, "invalid_request")
    assert_problem(alice.get(url, params={"task": 1}), 422, "invalid_request")


def test_array_output_needs_a_task(
    make_user: MakeUser,
    auth_client: AuthClient,
    fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory,
    app: FastAPI,
    clock: FakeClock,
) -> None:
    client = auth_client(make_user(login="arr"))
    job = submit(client, options={"array": "0-2"})
    assert job["array_task_count"] == 3
    tick(backends, app, clock)
    fake_cluster.write_file(f"/home/arr/slurm-{job['slurm_job_id']}_1.out", b"task one\n")
    url = f"{JOBS}/{job['id']}/output"
    assert_problem(client.get(url), 422)
    assert client.get(url, params={"task": 1}).text == "task one\n"


# --- lists ---------------------------------------------------------------------------
def test_pages_follow_the_cursor_and_stay_stable_while_jobs_arrive(
    make_user: MakeUser, auth_client: AuthClient, app: FastAPI, clock: FakeClock
) -> None:
    app.state.clock = clock  # one instant for all: the id must break the ties
    client = auth_client(make_user())
    first = {submit(client, f"j{i}")["id"] for i in range(7)}
    seen: list[str] = []
    page = client.get(JOBS, params={"limit": 3}).json()
    seen += [item["id"] for item in page["items"]]
    clock.advance(60)
    newer = submit(client, "newer")["id"]
    while page["next_cursor"]:
        page = client.get(JOBS, params={"limit": 3, "cursor": page["next_cursor"]}).json()
        seen += [item["id"] for item in page["items"]]
    assert len(seen) == len(set(seen)) == 7 and set(seen) == first
    assert client.get(JOBS, params={"limit": 1}).json()["items"][0]["id"] == newer


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "not-a-cursor"}, {"cursor": "e30"},
     {"state": "finished"}, {"since": "yesterday"}, {"since": "2026-01-05T09:00:00"}],
)  # fmt: skip
def test_bad_list_parameters_are_422(
    query: dict[str, Any], make_user: MakeUser, auth_client: AuthClient
) -> None:
    problem = assert_problem(auth_client(make_user()).get(JOBS, params=query), 422, "invalid_request")
    assert problem["errors"][0]["loc"][0] == "query"


def test_filters(
    people: People, jobs: dict[str, dict[str, Any]], auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    admin = auth_client(people.platform_admin)
    fake_cluster.finish(jobs["a2"]["slurm_job_id"])
    fake_cluster.set_state(jobs["c1"]["slurm_job_id"], "RUNNING")
    tick(backends, app, clock)
    assert names_seen(admin, "&state=completed") == {"a2"}
    assert names_seen(admin, "&state=completed&state=running") == {"a2", "c1"}
    assert names_seen(admin, "&account=caen-climat") == {"a1", "a2", "l1"}
    assert names_seen(admin, "&owner=alice@unicaen.fr") == {"a1", "a2"}
    assert names_seen(admin, f"&cluster={CLUSTER}") == {"a1", "a2", "c1", "b1", "l1"}
    assert names_seen(admin, "&cluster=myria") == set()
    # A filter narrows what the caller may see; it never widens it.
    assert names_seen(auth_client(people.alice), "&owner=bob@univ-rouen.fr") == set()
    created = {j["job_name"]: j["created_at"] for j in jobs.values()}
    c1 = created["c1"].replace("Z", "+00:00")
    since = names_seen(admin, "&since=" + c1.replace("+", "%2B"))
    until = names_seen(admin, "&until=" + c1.replace("+", "%2B"))
    assert since == {"c1", "b1", "l1"} and until == {"a1", "a2"}


# --- 100,000 jobs ----------------------------------------------------------------------
_BULK_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO jobs (id, user_id, cluster, cluster_login, slurm_account, tag, state, script_text,
                  sbatch_args, spec, created_at, updated_at)
SELECT lower(hex(randomblob(16))), CASE i % 3 WHEN 0 THEN :u0 WHEN 1 THEN :u1 ELSE :u2 END,
       'devcluster', 'bulk',
       CASE i % 4 WHEN 0 THEN 'caen-climat' WHEN 1 THEN 'caen-bio' ELSE 'rouen-chimie' END,
       'bulk:' || i, CASE WHEN i % 10 = 0 THEN 'running' ELSE 'completed' END, '#!/bin/bash', '[]', '{}',
       strftime('%Y-%m-%d %H:%M:%S', '2025-01-01', '+' || (i / 2) || ' seconds') || '.000000',
       '2025-06-01 00:00:00.000000'
FROM n
"""
_BULK_POSTGRES = """
INSERT INTO jobs (id, user_id, cluster, cluster_login, slurm_account, tag, state, script_text,
                  sbatch_args, spec, created_at, updated_at)
SELECT gen_random_uuid(), (ARRAY[CAST(:u0 AS uuid), CAST(:u1 AS uuid), CAST(:u2 AS uuid)])[i % 3 + 1],
       'devcluster', 'bulk', (ARRAY['caen-climat', 'caen-bio', 'rouen-chimie', 'rouen-chimie'])[i % 4 + 1],
       'bulk:' || i, CASE WHEN i % 10 = 0 THEN 'running' ELSE 'completed' END, '#!/bin/bash', '[]', '{}',
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + (i / 2) * INTERVAL '1 second',
       TIMESTAMPTZ '2025-06-01 00:00:00+00'
FROM generate_series(0, :count - 1) AS g(i)
"""


def _full_scan_of_jobs(connection: sa.Connection, statement: str, parameters: Any) -> str | None:
    """The plan line reading every row of ``jobs`` without an index, if the plan has one."""
    if connection.dialect.name == "sqlite":
        plan = [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        return next((line for line in plan if line.strip() == "SCAN jobs"), None)
    plan = [row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
    return next((line for line in plan if "Seq Scan on jobs" in line), None)


def test_lists_use_an_index_with_100000_jobs(
    people: People, auth_client: AuthClient, app: FastAPI, db: Session
) -> None:
    """Each role's first page and pages deep into the list: index scans, never a full scan.

    Asserted on the query plans, not on timings (a stall of the shared CI machine after the
    bulk insert once made one page take 2.6 s instead of ~20 ms); bench/api.py measures speed.
    """
    engine = app.state.gateway.session_factory.kw["bind"]
    owners = [people.alice, people.carol, people.bob]
    ids = {
        f"u{n}": (u.id.hex if engine.dialect.name == "sqlite" else str(u.id)) for n, u in enumerate(owners)
    }
    bulk = _BULK_SQLITE if engine.dialect.name == "sqlite" else _BULK_POSTGRES
    with engine.begin() as connection:
        connection.execute(sa.text(bulk), {"count": 100_000, **ids})
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE jobs")

    listed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        # The page itself, and the short ids of its jobs (their neighbours by id prefix, and
        # jobs whose Slurm id a prefix of digits could be read as).
        if (
            "FROM jobs JOIN users" in statement
            or "jobs.id BETWEEN" in statement
            or "slurm_job_id IN" in statement
        ):
            listed.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        for user in (people.alice, people.lead, people.caen_admin, people.platform_admin):
            client = auth_client(user)
            for query in ({}, {"state": "running"}, {"account": "caen-bio"}):
                page = client.get(JOBS, params={"limit": 200, **query})
                for _ in range(3):
                    assert page.status_code == 200, page.text
                    if page.json()["next_cursor"] is None:
                        break
                    page = client.get(
                        JOBS, params={"limit": 200, "cursor": page.json()["next_cursor"], **query}
                    )
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert any("jobs.id BETWEEN" in statement for statement, _ in listed)
    with engine.connect() as connection:
        for statement, parameters in listed:
            assert _full_scan_of_jobs(connection, statement, parameters) is None, statement


def test_the_array_template_without_an_array_range_is_refused_before_anything_runs(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster, db: Session
) -> None:
    # Its script needs SLURM_ARRAY_TASK_ID: sent without --array, the job would only fail on the node.
    client = auth_client(make_user())
    before = written(db)
    refused = client.post(JOBS, json={"template": "array", "options": {"partition": "debug"}})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert "the 'array' template needs --array=0-9" in problem["detail"]
    assert problem["errors"] == [{"loc": ["options", "array"], "message": "required by this template"}]
    assert written(db) == before and fake_cluster.calls["sbatch"] == 0
    ranged = submit(client, script=None, template="array", options={"partition": "debug", "array": "0-2"})
    assert ranged["array_task_count"] == 3
