"""``/allocations``, ``/periods``, ``/institutions/{code}/quotas``, ``/reports/usage`` and the
estimate of a dry run, against the real app with allocations enforced.

The world: a 2026 period on the dev cluster; quotas for unicaen and univ-rouen; grants to
caen-climat and caen-bio (unicaen) and rouen-chimie (univ-rouen); one user of each role. The
first test of a process builds it through the API; each later one starts from its own copy of
that database (tests/web/worlds.py), so users a test makes are numbered from 1 there.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models.allocations import LedgerEntry
from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.users import User
from myriagate.domain.costs import Cost
from tests.conftest import CLUSTER, FakeClock
from tests.db_templates import MigratedTemplates
from tests.web.conftest import MakeUser, assert_problem
from tests.web.worlds import WORLDS

API = "/api/v1"
# A period that does not exist: fixed, so every xdist worker collects the same test ids.
UNKNOWN_PERIOD = "0b7e1d2c-5a4f-4e8b-9c3d-2f1a6b7c8d9e"
SMALL_JOB = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\necho hi\n"
H = 3600  # seconds in an hour
WORLD = "allocations"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"enforce_allocations": True}


@dataclass
class World:
    period_id: str
    climat: str  # allocation ids
    bio: str
    chimie: str
    clients: dict[str, TestClient]
    users: dict[str, User]


@dataclass(frozen=True)
class Known:
    """What the tests need of the world besides its rows: kept with its copy (tests/web/worlds.py)."""

    period_id: str
    allocations: tuple[str, str, str]
    authorizations: dict[str, str]  # each role's Authorization header (its token is in the rows)
    user_ids: dict[str, uuid.UUID]


@pytest.fixture
def fill_database(migrated_templates: MigratedTemplates) -> Callable[[str], None]:
    """Each test's database: a copy of the world the process's first test built, once there is one."""
    return WORLDS.filler(WORLD, migrated_templates)


@pytest.fixture
def world(
    app: FastAPI,
    clock: FakeClock,
    make_user: MakeUser,
    auth_client: Callable[[User], TestClient],
    web_session_factory: sessionmaker[Session],
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    app.state.clock = clock  # 2026-01-05: inside the 2026 period
    database_url = app.state.gateway.settings.database_url
    known: Known | None = WORLDS.known(WORLD, database_url)
    if known is None:  # the first test of the process, or PostgreSQL: built through the API
        built = _build_world(make_user, auth_client)
        authorizations = {role: client.headers["authorization"] for role, client in built.clients.items()}
        user_ids = {role: user.id for role, user in built.users.items()}
        known = Known(built.period_id, (built.climat, built.bio, built.chimie), authorizations, user_ids)
        WORLDS.keep(WORLD, database_url, known, tmp_path_factory.mktemp("world"))
        return built
    with web_session_factory() as session:
        users = {role: session.get_one(User, user_id) for role, user_id in known.user_ids.items()}
    clients = {
        role: TestClient(app, headers={"Authorization": h}) for role, h in known.authorizations.items()
    }
    return World(known.period_id, *known.allocations, clients, users)


def _build_world(make_user: MakeUser, auth_client: Callable[[User], TestClient]) -> World:
    users = {
        "researcher": make_user("researcher", username="alice@unicaen.fr", login="alice"),
        "project_lead": make_user("project_lead", username="lena@unicaen.fr", login="lena"),
        "university_admin": make_user("university_admin", username="ursula@unicaen.fr"),
        "platform_admin": make_user("platform_admin", username="root@criann.fr"),
        "other_researcher": make_user(
            "researcher", username="roger@univ-rouen.fr", accounts=["rouen-chimie"], institution="univ-rouen"
        ),
        "bio_researcher": make_user("researcher", username="bea@unicaen.fr", accounts=["caen-bio"]),
    }
    clients = {role: auth_client(user) for role, user in users.items()}
    admin = clients["platform_admin"]
    period = admin.post(
        f"{API}/periods",
        json={"name": "2026", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
    )
    assert period.status_code == 201, period.text
    period_id = period.json()["id"]
    for code, core in (("unicaen", "10000"), ("univ-rouen", "5000")):
        r = admin.put(
            f"{API}/institutions/{code}/quotas/{period_id}", json={"core_hours": core, "gpu_hours": 100}
        )
        assert r.status_code == 200, r.text
    ids = {}
    for account, core in (("caen-climat", "1000"), ("caen-bio", "500"), ("rouen-chimie", "300")):
        r = admin.post(
            f"{API}/allocations", json={"account": account, "core_hours": core, "reason": "call 2026"}
        )
        assert r.status_code == 201, r.text
        ids[account] = r.json()["id"]
    return World(period_id, ids["caen-climat"], ids["caen-bio"], ids["rouen-chimie"], clients, users)


def snapshot(db: Session, admin: TestClient) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    db.expire_all()
    return {
        "allocations": sorted(admin.get(f"{API}/allocations").json(), key=lambda a: a["id"]),
        "ledger_entries": db.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)),
        "audit_events": db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)),
        "periods": admin.get(f"{API}/periods").json(),
        "quotas": [admin.get(f"{API}/institutions/{c}/quotas").json() for c in ("unicaen", "univ-rouen")],
    }


# --- reading balances ----------------------------------------------------------------------------
def test_a_balance_is_given_in_exact_seconds_and_in_hours(world: World) -> None:
    body = world.clients["researcher"].get(f"{API}/allocations/{world.climat}").json()
    assert body["account"] == "caen-climat" and body["institution"] == "unicaen"
    assert body["period_id"] == world.period_id and body["period_name"] == "2026"
    assert body["granted"] == {
        "core_seconds": 1000 * H,
        "gpu_seconds": 0,
        "core_hours": 1000.0,
        "gpu_hours": 0.0,
    }
    assert body["held"]["core_seconds"] == body["charged"]["core_seconds"] == 0
    assert body["remaining"]["core_seconds"] == 1000 * H


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("researcher", {"caen-climat"}),
        ("project_lead", {"caen-climat"}),
        ("bio_researcher", {"caen-bio"}),
        ("other_researcher", {"rouen-chimie"}),
        ("university_admin", {"caen-climat", "caen-bio"}),
        ("platform_admin", {"caen-climat", "caen-bio", "rouen-chimie"}),
    ],
)
def test_each_role_lists_the_balances_it_may_see(world: World, role: str, visible: set[str]) -> None:
    response = world.clients[role].get(f"{API}/allocations")
    assert response.status_code == 200, response.text
    assert {a["account"] for a in response.json()} == visible


def test_list_filters_by_institution_cluster_and_period(world: World) -> None:
    admin = world.clients["platform_admin"]
    by_inst = admin.get(f"{API}/allocations", params={"institution": "univ-rouen"}).json()
    assert [a["account"] for a in by_inst] == ["rouen-chimie"]
    assert admin.get(f"{API}/allocations", params={"cluster": "myria"}).json() == []
    by_period = admin.get(f"{API}/allocations", params={"period": world.period_id}).json()
    assert len(by_period) == 3
    assert admin.get(f"{API}/allocations", params={"period": str(uuid.uuid4())}).json() == []


@pytest.mark.parametrize("role", ["researcher", "project_lead", "other_researcher", "university_admin"])
def test_an_allocation_one_may_not_see_answers_404_like_a_missing_one(world: World, role: str) -> None:
    hidden = world.chimie if role != "other_researcher" else world.climat
    for path in (f"/allocations/{hidden}", f"/allocations/{hidden}/ledger", f"/allocations/{uuid.uuid4()}"):
        assert_problem(world.clients[role].get(API + path), 404, "not_found")


def test_anonymous_callers_get_401_everywhere(world: World, client: TestClient) -> None:
    a, p = world.climat, world.period_id
    calls = [
        ("GET", "/allocations", None),
        ("GET", f"/allocations/{a}", None),
        ("GET", f"/allocations/{a}/ledger", None),
        ("POST", "/allocations", {"account": "caen-climat", "core_hours": 1, "reason": "x"}),
        ("POST", f"/allocations/{a}/adjustments", {"core_hours": 1, "reason": "x"}),
        ("GET", "/periods", None),
        ("POST", "/periods", {"name": "x", "starts_at": "2030-01-01T00:00Z", "ends_at": "2031-01-01T00:00Z"}),
        ("GET", "/institutions/unicaen/quotas", None),
        ("PUT", f"/institutions/unicaen/quotas/{p}", {"core_hours": 1}),
        ("GET", "/reports/usage?month=2026-01", None),
    ]
    for method, path, body in calls:
        assert_problem(client.request(method, API + path, json=body), 401, "not_authenticated")


# --- granting and adjusting -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "account", "status"),
    [
        ("researcher", "caen-climat", 403),
        ("project_lead", "caen-climat", 403),
        ("university_admin", "caen-bio", 201),
        ("university_admin", "rouen-chimie", 403),
        ("platform_admin", "rouen-chimie", 201),
    ],
)
def test_who_may_grant(world: World, db: Session, role: str, account: str, status: int) -> None:
    before = snapshot(db, world.clients["platform_admin"])
    body = {"account": account, "core_hours": "250.5", "gpu_hours": 2, "reason": "mid-year call"}
    response = world.clients[role].post(f"{API}/allocations", json=body)
    if status == 403:
        assert_problem(response, 403, "permission_denied")
        assert snapshot(db, world.clients["platform_admin"]) == before
        return
    assert response.status_code == 201, response.text
    out = response.json()
    assert response.headers["location"] == f"{API}/allocations/{out['id']}"
    previous = next(a for a in before["allocations"] if a["account"] == account)
    assert out["id"] == previous["id"]  # a top-up of the same allocation
    assert out["granted"]["core_seconds"] == previous["granted"]["core_seconds"] + 250 * H + H // 2
    assert out["granted"]["gpu_seconds"] == 2 * H
    newest = world.clients["platform_admin"].get(f"{API}/allocations/{out['id']}/ledger").json()["items"][0]
    assert (newest["kind"], newest["reason"], newest["core_seconds"]) == ("grant", "mid-year call", 901800)
    assert newest["author"] == world.users[role].username
    db.expire_all()
    actions = db.scalars(sa.select(AuditEvent.action).where(AuditEvent.action == "allocation.grant")).all()
    assert len(actions) == 4  # three in the world, this one


def test_a_grant_to_a_project_without_allocation_creates_it(world: World, make_user: MakeUser) -> None:
    make_user("researcher", accounts=["caen-newproj"])
    response = world.clients["university_admin"].post(
        f"{API}/allocations",
        json={"account": "caen-newproj", "core_hours": 10, "reason": "start", "period_id": world.period_id},
    )
    assert response.status_code == 201, response.text
    assert response.json()["remaining"]["core_hours"] == 10.0


@pytest.mark.parametrize(
    ("role", "target", "status"),
    [
        ("researcher", "climat", 403),
        ("project_lead", "climat", 403),
        ("other_researcher", "climat", 404),
        ("university_admin", "climat", 201),
        ("university_admin", "chimie", 404),
        ("platform_admin", "chimie", 201),
    ],
)
def test_who_may_adjust(world: World, db: Session, role: str, target: str, status: int) -> None:
    allocation = getattr(world, target)
    before = snapshot(db, world.clients["platform_admin"])
    body = {"core_hours": "-100", "reason": "unused hours returned"}
    response = world.clients[role].post(f"{API}/allocations/{allocation}/adjustments", json=body)
    if status != 201:
        assert_problem(response, status)
        assert snapshot(db, world.clients["platform_admin"]) == before
        return
    assert response.status_code == 201, response.text
    previous = next(a for a in before["allocations"] if a["id"] == allocation)
    assert response.json()["granted"]["core_seconds"] == previous["granted"]["core_seconds"] - 100 * H
    entry = world.clients[role].get(f"{API}/allocations/{allocation}/ledger").json()["items"][0]
    assert (entry["kind"], entry["core_seconds"], entry["reason"]) == ("adjustment", -100 * H, body["reason"])


BAD_GRANTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("negative", {"account": "caen-climat", "core_hours": -5}, 422, "invalid_request"),
    ("zero", {"account": "caen-climat", "core_hours": 0, "gpu_hours": 0}, 422, "invalid_request"),
    ("sub-second fraction", {"account": "caen-climat", "core_hours": "0.0001"}, 422, "invalid_request"),
    ("NaN as text", {"account": "caen-climat", "core_hours": "NaN"}, 422, "invalid_request"),
    ("infinity", {"account": "caen-climat", "core_hours": "Infinity"}, 422, "invalid_request"),
    ("huge", {"account": "caen-climat", "core_hours": "1e13"}, 422, "invalid_request"),
    ("not a number", {"account": "caen-climat", "core_hours": "lots"}, 422, "invalid_request"),
    ("unknown project", {"account": "nowhere", "core_hours": 1}, 422, "invalid_request"),
    (
        "unknown period",
        {"account": "caen-climat", "core_hours": 1, "period_id": str(uuid.uuid4())},
        422,
        "invalid_request",
    ),
    (
        "unknown cluster",
        {"account": "caen-climat", "core_hours": 1, "cluster": "mars"},
        422,
        "invalid_request",
    ),
    ("misspelt field", {"account": "caen-climat", "core_hour": 1}, 422, "invalid_request"),
    ("beyond the quota", {"account": "caen-climat", "core_hours": 8501}, 409, "conflict"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_GRANTS, ids=[c[0] for c in BAD_GRANTS])
def test_a_bad_grant_is_refused_and_changes_nothing(
    world: World, db: Session, case: str, body: dict[str, Any], status: int, code: str
) -> None:
    admin = world.clients["platform_admin"]
    before = snapshot(db, admin)
    problem = assert_problem(admin.post(f"{API}/allocations", json=body | {"reason": case}), status, code)
    assert problem["detail"]
    assert snapshot(db, admin) == before


def test_nan_as_a_json_literal_is_refused(world: World, db: Session) -> None:
    admin = world.clients["platform_admin"]
    before = snapshot(db, admin)
    raw = '{"account": "caen-climat", "core_hours": NaN, "reason": "x"}'
    response = admin.post(f"{API}/allocations", content=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "invalid_request")
    assert snapshot(db, admin) == before


def test_the_quota_is_exact_to_the_second(world: World) -> None:
    # unicaen: 10000 h quota, 1500 h granted -> exactly 8500 h left.
    admin = world.clients["university_admin"]
    ok = admin.post(f"{API}/allocations", json={"account": "caen-bio", "core_hours": 8500, "reason": "all"})
    assert ok.status_code == 201, ok.text
    more = admin.post(
        f"{API}/allocations", json={"account": "caen-bio", "core_hours": "0.01", "reason": "1 more"}
    )
    assert "quota of unicaen" in assert_problem(more, 409, "conflict")["detail"]
    quota = admin.get(f"{API}/institutions/unicaen/quotas").json()[0]
    assert quota["left"]["core_seconds"] == 0 and quota["granted"]["core_seconds"] == 10000 * H


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"core_hours": 0, "reason": "nothing"}, 422),
        ({"core_hours": 5}, 422),  # no reason
        ({"core_hours": "0.00001", "reason": "x"}, 422),
        ({"core_hours": "-1e13", "reason": "x"}, 422),
        ({"core_hours": "-1001", "reason": "below zero"}, 409),
        ({"core_hours": "9001", "reason": "beyond the quota"}, 409),
    ],
)
def test_a_bad_adjustment_is_refused_and_changes_nothing(
    world: World, db: Session, body: dict[str, Any], status: int
) -> None:
    admin = world.clients["platform_admin"]
    before = snapshot(db, admin)
    assert_problem(admin.post(f"{API}/allocations/{world.climat}/adjustments", json=body), status)
    assert snapshot(db, admin) == before


# --- ledger pages -----------------------------------------------------------------------------------
def test_the_ledger_pages_newest_first_without_gaps_or_repeats(world: World) -> None:
    admin = world.clients["platform_admin"]
    for n in range(1, 6):
        r = admin.post(
            f"{API}/allocations/{world.climat}/adjustments", json={"core_hours": n, "reason": f"#{n}"}
        )
        assert r.status_code == 201, r.text
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = admin.get(f"{API}/allocations/{world.climat}/ledger", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["reason"] for e in seen] == ["#5", "#4", "#3", "#2", "#1", "call 2026"]
    assert len({e["id"] for e in seen}) == 6
    assert_problem(admin.get(f"{API}/allocations/{world.climat}/ledger", params={"cursor": "abc"}), 422)


# --- periods and quotas --------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["researcher", "project_lead", "university_admin", "platform_admin"])
def test_everyone_reads_periods_but_only_platform_admins_create_them(
    world: World, db: Session, role: str
) -> None:
    client = world.clients[role]
    assert [p["name"] for p in client.get(f"{API}/periods").json()] == ["2026"]
    body = {"name": "2027", "starts_at": "2027-01-01T00:00:00Z", "ends_at": "2028-01-01T00:00:00Z"}
    response = client.post(f"{API}/periods", json=body)
    if role != "platform_admin":
        assert_problem(response, 403, "permission_denied")
        assert [p["name"] for p in client.get(f"{API}/periods").json()] == ["2026"]
        return
    assert response.status_code == 201, response.text
    assert response.json()["cluster"] == CLUSTER
    assert [p["name"] for p in client.get(f"{API}/periods").json()] == ["2026", "2027"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "overlap", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-06-01T00:00:00Z"}, 409),
        ({"name": "inside", "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-04-01T00:00:00Z"}, 409),
        ({"name": "backwards", "starts_at": "2028-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}, 422),
        ({"name": "empty", "starts_at": "2028-01-01T00:00:00Z", "ends_at": "2028-01-01T00:00:00Z"}, 422),
        ({"name": "no zone", "starts_at": "2028-01-01T00:00:00", "ends_at": "2029-01-01T00:00:00"}, 422),
        ({"name": "", "starts_at": "2028-01-01T00:00:00Z", "ends_at": "2029-01-01T00:00:00Z"}, 422),
        (
            {
                "name": "x",
                "cluster": "mars",
                "starts_at": "2028-01-01T00:00Z",
                "ends_at": "2029-01-01T00:00Z",
            },
            422,
        ),
    ],
)
def test_a_bad_period_is_refused_and_changes_nothing(
    world: World, db: Session, body: dict[str, Any], status: int
) -> None:
    admin = world.clients["platform_admin"]
    before = snapshot(db, admin)
    assert_problem(admin.post(f"{API}/periods", json=body), status)
    assert snapshot(db, admin) == before


@pytest.mark.parametrize(
    ("role", "institution", "status"),
    [
        ("researcher", "unicaen", 403),
        ("project_lead", "unicaen", 403),
        ("university_admin", "unicaen", 200),
        ("university_admin", "univ-rouen", 403),
        ("platform_admin", "univ-rouen", 200),
    ],
)
def test_who_reads_an_institutions_quotas(world: World, role: str, institution: str, status: int) -> None:
    response = world.clients[role].get(f"{API}/institutions/{institution}/quotas")
    if status != 200:
        assert_problem(response, status)
        return
    assert response.status_code == 200, response.text
    [quota] = response.json()
    granted = {"unicaen": 1500, "univ-rouen": 300}[institution]
    total = {"unicaen": 10000, "univ-rouen": 5000}[institution]
    assert quota["period_id"] == world.period_id
    assert quota["granted"]["core_seconds"] == granted * H
    assert quota["left"]["core_seconds"] == (total - granted) * H


@pytest.mark.parametrize("role", ["researcher", "project_lead", "university_admin"])
def test_only_platform_admins_set_quotas(world: World, db: Session, role: str) -> None:
    before = snapshot(db, world.clients["platform_admin"])
    response = world.clients[role].put(
        f"{API}/institutions/unicaen/quotas/{world.period_id}", json={"core_hours": 99999}
    )
    assert_problem(response, 403, "permission_denied")
    assert snapshot(db, world.clients["platform_admin"]) == before


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/institutions/unicaen/quotas/{p}", {"core_hours": 1499}, 409),  # below what was granted
        ("/institutions/unicaen/quotas/{p}", {"core_hours": -1}, 422),
        ("/institutions/unicaen/quotas/{p}", {"core_hours": "1e13"}, 422),
        ("/institutions/unicaen/quotas/{p}", {"core_hours": "NaN"}, 422),
        ("/institutions/nowhere/quotas/{p}", {"core_hours": 1}, 404),
        ("/institutions/unicaen/quotas/" + UNKNOWN_PERIOD, {"core_hours": 1}, 404),
    ],
)
def test_a_bad_quota_is_refused_and_changes_nothing(
    world: World, db: Session, path: str, body: dict[str, Any], status: int
) -> None:
    admin = world.clients["platform_admin"]
    before = snapshot(db, admin)
    assert_problem(admin.put(API + path.format(p=world.period_id), json=body), status)
    assert snapshot(db, admin) == before


def test_a_platform_admin_raises_a_quota(world: World) -> None:
    admin = world.clients["platform_admin"]
    response = admin.put(
        f"{API}/institutions/unicaen/quotas/{world.period_id}", json={"core_hours": "12000.5"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["quota"]["core_seconds"] == 12000 * H + H // 2
    assert response.json()["quota"]["gpu_seconds"] == 0  # a quota is set, not added to


# --- the estimate, and enforcement end to end ---------------------------------------------------------
def _dry_run(client: TestClient) -> dict[str, Any]:
    response = client.post(f"{API}/jobs", json={"script": SMALL_JOB, "dry_run": True})
    assert response.status_code == 200, response.text
    estimate: dict[str, Any] = response.json()["estimate"]
    return estimate


def test_a_dry_run_says_what_the_job_would_hold_and_leave(world: World, db: Session) -> None:
    before = snapshot(db, world.clients["platform_admin"])
    estimate = _dry_run(world.clients["researcher"])
    # debug partition, 1 CPU with DefMemPerCPU's 1000 MB, 5 minutes: Slurm's billing is
    # ⌊1 × 1.0 + 1000/1024 × 0.25⌋ = 1 per second, 300 core-seconds. (The old rule counted a
    # CPU's share of the node's memory, 2000 MB, and rounded the total up: 447.)
    assert estimate["hold_core_seconds"] == 300
    assert estimate["account"] == "caen-climat" and estimate["allocation_id"] == world.climat
    assert estimate["fits"] is True
    assert estimate["remaining_before_core_seconds"] == 1000 * H
    assert estimate["remaining_after_core_seconds"] == 1000 * H - 300
    assert estimate["hold_core_hours"] == 0.08
    assert snapshot(db, world.clients["platform_admin"]) == before  # a dry run holds nothing


def test_a_dry_run_for_a_project_without_allocation_says_it_would_be_refused(
    world: World, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> None:
    poor = auth_client(make_user("researcher", accounts=["caen-pauvre"]))
    estimate = _dry_run(poor)
    assert estimate["allocation_id"] is None and estimate["fits"] is False
    assert estimate["hold_core_seconds"] == 300 and estimate["remaining_after_core_seconds"] is None
    response = poor.post(f"{API}/jobs", json={"script": SMALL_JOB})
    assert_problem(response, 403, "insufficient_allocation")


def test_a_project_whose_balance_fits_k_jobs_accepts_k_and_refuses_the_next(
    world: World, db: Session, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> None:
    k = 3
    researcher = auth_client(make_user("researcher", accounts=["caen-exact"]))
    admin = world.clients["university_admin"]
    hold = _dry_run(researcher)["hold_core_seconds"]
    # A grant is given in hours: the smallest whole number of seconds in exact hours (a multiple
    # of 9 seconds: 3600 = 9 × 400) that covers k holds, and stays below k + 1.
    granted = -(-k * hold // 9) * 9
    assert k * hold <= granted < (k + 1) * hold
    hours = f"{granted / H:.6f}".rstrip("0")
    r = admin.post(
        f"{API}/allocations", json={"account": "caen-exact", "core_hours": hours, "reason": "k jobs"}
    )
    assert r.status_code == 201, r.text
    allocation = r.json()["id"]
    assert r.json()["granted"]["core_seconds"] == granted

    for _ in range(k):
        assert researcher.post(f"{API}/jobs", json={"script": SMALL_JOB}).status_code == 202
    jobs_before = researcher.get(f"{API}/jobs").json()["items"]
    refused = researcher.post(f"{API}/jobs", json={"script": SMALL_JOB})
    assert_problem(refused, 403, "insufficient_allocation")

    assert researcher.get(f"{API}/jobs").json()["items"] == jobs_before  # nothing written
    balance = researcher.get(f"{API}/allocations/{allocation}").json()
    assert balance["held"]["core_seconds"] == k * hold
    assert balance["remaining"]["core_seconds"] == granted - k * hold
    kinds = [e["kind"] for e in researcher.get(f"{API}/allocations/{allocation}/ledger").json()["items"]]
    assert kinds == ["hold"] * k + ["grant"]
    estimate = _dry_run(researcher)
    assert estimate["fits"] is False and estimate["remaining_before_core_seconds"] == granted - k * hold


# --- usage reports ---------------------------------------------------------------------------------------
@pytest.fixture
def charged(world: World, db: Session, clock: FakeClock) -> dict[str, int]:
    """Jobs submitted through the API and settled (as the worker would) with known costs."""
    costs = {
        "researcher": [300, 1200],
        "project_lead": [700],
        "bio_researcher": [3600],
        "other_researcher": [50],
    }
    for role, amounts in costs.items():
        for core in amounts:
            r = world.clients[role].post(f"{API}/jobs", json={"script": SMALL_JOB})
            assert r.status_code == 202, r.text
            SqlLedger(db, clock=clock).settle(job_id=uuid.UUID(r.json()["id"]), actual=Cost(core, 0))
            db.commit()  # the API writes next: SQLite has one writer at a time
    return {role: sum(amounts) for role, amounts in costs.items()}


def _report(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(f"{API}/reports/usage", params={"month": "2026-01", **params})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def test_usage_by_project_for_each_role(world: World, charged: dict[str, int]) -> None:
    by_project = {
        role: {r["account"]: r["core_seconds"] for r in _report(world.clients[role])["rows"]}
        for role in ("researcher", "university_admin", "platform_admin", "other_researcher")
    }
    assert by_project["researcher"] == {"caen-climat": 2200}  # with the lead's job: same project
    assert by_project["university_admin"] == {"caen-climat": 2200, "caen-bio": 3600}
    assert by_project["platform_admin"] == {"caen-climat": 2200, "caen-bio": 3600, "rouen-chimie": 50}
    assert by_project["other_researcher"] == {"rouen-chimie": 50}
    by_inst = _report(world.clients["platform_admin"], group_by="institution")
    assert {r["institution"]: (r["jobs"], r["core_seconds"]) for r in by_inst["rows"]} == {
        "unicaen": (4, 5800),
        "univ-rouen": (1, 50),
    }
    assert by_inst["total"]["core_seconds"] == 5850 and by_inst["jobs"] == 5
    assert _report(world.clients["platform_admin"], month="2026-02")["rows"] == []


def test_the_csv_report_parses_and_its_sums_match_the_json(world: World, charged: dict[str, int]) -> None:
    admin = world.clients["platform_admin"]
    response = admin.get(
        f"{API}/reports/usage", params={"month": "2026-01", "group_by": "user", "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="myriagate-usage-2026-01-by-user.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    report = _report(admin, group_by="user")
    assert len(rows) == len(report["rows"]) == 4
    assert sum(int(r["core_seconds"]) for r in rows) == report["total"]["core_seconds"] == 5850
    assert sum(int(r["jobs"]) for r in rows) == report["jobs"] == 5
    alice = next(r for r in rows if r["user"] == "alice@unicaen.fr")
    assert (alice["slurm_account"], alice["jobs"], alice["core_seconds"]) == ("caen-climat", "2", "1500")


@pytest.mark.parametrize(
    "params",
    [
        {"month": "2026-13"},
        {"month": "november"},
        {},
        {"month": "2026-01", "group_by": "planet"},
        {"month": "2026-01", "format": "xml"},
    ],
)
def test_a_bad_report_request_is_a_422(world: World, params: dict[str, str]) -> None:
    assert_problem(
        world.clients["researcher"].get(f"{API}/reports/usage", params=params), 422, "invalid_request"
    )
