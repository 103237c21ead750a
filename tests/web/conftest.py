"""Shared fixtures for the in-process API tests.

``app`` is the application (built once per test process: ``lent_app``) bound to a gateway
over a freshly migrated database (SQLite, and PostgreSQL under the ``postgres`` marker,
through ``db_url``) whose ``devcluster`` backends are the in-memory
``FakeSlurmBackendFactory`` (``fake_cluster`` drives it). ``make_user``
creates users of each role; ``auth_client(user)`` is a TestClient sending that user's token.

Fixture names are relied on by every module under tests/web: keep them stable.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import MembershipRole, User
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_session_factory
from myriagate.ports import SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.wiring import BackendFactory, ClusterBackends, Gateway, build_gateway
from tests.conftest import CLUSTER, FakeClock
from tests.db_engines import SharedSqliteStatements
from tests.db_templates import MigratedTemplates
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

RoleName = Literal["researcher", "project_lead", "university_admin", "platform_admin"]

# Known projects and their institutions; an account not listed here is created under the
# institution of the first user made with it.
PROJECTS: dict[str, str] = {
    "caen-climat": "unicaen",
    "caen-bio": "unicaen",
    "rouen-chimie": "univ-rouen",
    "lehavre-meca": "univ-lehavre",
}
INSTITUTIONS: dict[str, str] = {
    "unicaen": "Université de Caen Normandie",
    "univ-rouen": "Université de Rouen Normandie",
    "univ-lehavre": "Université Le Havre Normandie",
    "insa-rouen": "INSA Rouen Normandie",
}
PASSWORD = "correct horse battery staple"  # a test password, long enough
TEST_PASSWORD_HASH_COST = 4  # scrypt N = 16: microseconds instead of ~50 ms a hash


class MakeUser(Protocol):
    def __call__(
        self,
        role: RoleName = "researcher",
        *,
        username: str | None = None,
        login: str | None = None,
        accounts: list[str] | None = None,
        institution: str = "unicaen",
        password: str | None = PASSWORD,
        active: bool = True,
    ) -> User: ...


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with ``@pytest.mark.parametrize(indirect=True)``)."""
    return {}


@pytest.fixture
def web_settings(db_url: str, settings_overrides: dict[str, Any]) -> Settings:
    # Allocations and rate limits are off unless a test turns them on (settings_overrides): most
    # tests are not about them, and many send hundreds of requests as one user. Passwords are
    # hashed cheaply: a production-cost hash per fixture user adds up over thousands of tests.
    values: dict[str, Any] = {"dev_mode": True, "database_url": db_url, "default_cluster": CLUSTER,
                              "enforce_allocations": False, "rate_limit_enabled": False}  # fmt: skip
    values.update(settings_overrides)
    if values["dev_mode"]:  # outside dev mode a cheap hash is refused, as in production
        values.setdefault("password_hash_cost", TEST_PASSWORD_HASH_COST)
    return Settings(**values)


@pytest.fixture
def fill_database(migrated_templates: MigratedTemplates) -> Callable[[str], None]:
    """What fills the test's empty database before the app opens it: a copy of the migrated
    template. A module overrides it to start from a world it built once (tests/web/worlds.py)."""
    return migrated_templates.clone_into


@pytest.fixture
def web_session_factory(
    web_settings: Settings, fill_database: Callable[[str], None], sqlite_statements: SharedSqliteStatements
) -> Iterator[sessionmaker[Session]]:
    fill_database(web_settings.database_url)
    engine = sqlite_statements.engine(web_settings.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def plug(fake: SlurmBackendFactory) -> BackendFactory:
    """A backend factory serving ``fake`` for the dev cluster and real backends elsewhere."""

    def build(profile: ClusterProfile, settings: Settings) -> SlurmBackendFactory:
        return fake if profile.name == CLUSTER else ClusterBackends(profile, settings)

    return build


@pytest.fixture
def backend_factory(backends: FakeSlurmBackendFactory) -> BackendFactory:
    """What builds the gateway's Slurm backends: the fake Slurm (``fake_cluster``) for the dev
    cluster. A module overrides this fixture to plug another fake."""
    return plug(backends)


@pytest.fixture
def gateway(
    web_settings: Settings,
    web_session_factory: sessionmaker[Session],
    backend_factory: BackendFactory,
) -> Gateway:
    """A real Gateway, built by the composition root, with the fake Slurm plugged in."""
    return build_gateway(web_settings, backend_factory=backend_factory, session_factory=web_session_factory)


_APPS: dict[bool, FastAPI] = {}  # the process's apps: the shared one (False), the own_app one (True)


def _fixed_parts(app: FastAPI) -> tuple[object, ...]:
    """What a test could change of an app besides its routes and state, and ``lent_app``
    cannot put back: then the app is built again for the next test."""
    return (list(app.user_middleware), dict(app.exception_handlers))


@contextmanager
def lent_app(gateway: Gateway, *, own: bool) -> Iterator[FastAPI]:
    """One of the process's two apps (built by ``build_app`` on first use), bound to
    ``gateway`` in a fresh ``app.state``. FastAPI analyses each included route on its first
    request, so a new app costs ~300 ms over a test's requests: apps are lent, not rebuilt.

    ``own``: the app of the tests that add routes (``own_app``); what they added is taken away
    after them (the OpenAPI document built with it too), and one that changed more than its
    routes (middleware, error handlers) leaves the next test a new app. Otherwise the shared
    app, which no test may change: one that added routes fails, and the app is built again."""
    from myriagate.web.app import bind_gateway, build_app

    if own not in _APPS:
        _APPS[own] = build_app()
    app = _APPS[own]
    bind_gateway(app, gateway)
    routes = list(app.router.routes)
    fixed = _fixed_parts(app)
    yield app
    app.dependency_overrides.clear()
    changed = app.router.routes != routes
    if own:
        if changed:  # the next own_app test meets the app as build_app made it
            app.router.routes[:] = routes
            app.openapi_schema = None
        if _fixed_parts(app) != fixed:
            del _APPS[own]
        return
    if changed:  # later tests must not meet this test's routes: build the shared app again
        del _APPS[own]
    assert not changed, "this test added routes to the shared app: mark it @pytest.mark.own_app"


@pytest.fixture
def app(gateway: Gateway, request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    """The app around ``gateway`` (``lent_app``): the process's shared app, or for a test
    marked ``own_app`` (it adds routes) the process's other app."""
    with lent_app(gateway, own=request.node.get_closest_marker("own_app") is not None) as app:
        yield app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """Anonymous client (no credentials), from address ``testclient``."""
    return TestClient(app)


@pytest.fixture
def db(web_session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session on the app's database, for arranging rows and checking what requests wrote."""
    with web_session_factory() as s:
        yield s


def _ensure_project(session: Session, account: str, institution: str, clock: FakeClock) -> None:
    if projects_repo.get_project(session, CLUSTER, account) is not None:
        return
    code = PROJECTS.get(account, institution)
    if projects_repo.get_institution(session, code) is None:
        projects_repo.add_institution(session, code=code, name=INSTITUTIONS.get(code, code))
    projects_repo.add_project(
        session, cluster=CLUSTER, slurm_account=account, institution=code, created_at=clock.now()
    )


@pytest.fixture
def make_user(
    web_session_factory: sessionmaker[Session], web_settings: Settings, clock: FakeClock
) -> MakeUser:
    """Create a committed user of ``role``; their accounts' projects exist on ``devcluster``.

    Researchers and project leads default to the ``caen-climat`` account (led, for a lead);
    admins default to no account. University admins administer ``institution``. Every user gets
    the local password ``PASSWORD`` unless ``password=None`` (an SSO-only user).
    """
    counter = itertools.count(1)

    def make(
        role: RoleName = "researcher",
        *,
        username: str | None = None,
        login: str | None = None,
        accounts: list[str] | None = None,
        institution: str = "unicaen",
        password: str | None = PASSWORD,
        active: bool = True,
    ) -> User:
        n = next(counter)
        short = role.replace("_", "")
        username = username or f"{short}{n}@{institution}.fr"
        login = login or f"{short}{n}"
        if accounts is None:
            accounts = ["caen-climat"] if role in ("researcher", "project_lead") else []
        with web_session_factory() as session:
            if projects_repo.get_institution(session, institution) is None:
                projects_repo.add_institution(
                    session, code=institution, name=INSTITUTIONS.get(institution, institution)
                )
            user = users_repo.add(session, username=username, cluster_login=login, created_at=clock.now())
            user.institution = institution
            user.is_active = active
            user.is_platform_admin = role == "platform_admin"
            user.university_admin_of = institution if role == "university_admin" else None
            if password is not None:
                auth_service.set_password(user, password, cost=web_settings.password_hash_cost)
            member_role = MembershipRole.PROJECT_LEAD if role == "project_lead" else MembershipRole.RESEARCHER
            for account in accounts:
                _ensure_project(session, account, institution, clock)
                users_repo.add_membership(
                    session, user, cluster=CLUSTER, slurm_account=account, role=member_role
                )
            session.commit()
            return user

    return make


@pytest.fixture
def token_for(web_session_factory: sessionmaker[Session]) -> Callable[[User], str]:
    """A fresh personal token (the secret) for a user."""

    def issue(user: User) -> str:
        with web_session_factory() as session:
            owner = users_repo.get(session, user.id)
            assert owner is not None
            return auth_service.create_token(session, owner, name="tests").secret

    return issue


@pytest.fixture
def auth_client(app: FastAPI, token_for: Callable[[User], str]) -> Callable[[User], TestClient]:
    """``auth_client(user)``: a TestClient sending ``Authorization: Bearer <user's token>``."""

    def build(user: User) -> TestClient:
        return TestClient(
            app,
            headers={"Authorization": f"Bearer {token_for(user)}"},
        )

    return build


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem details with our fields; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"]
    assert body["request_id"]
    assert body["title"]
    if code is not None:
        assert body["code"] == code, body
    return body
