"""A live gateway and worker over the dev cluster with one researcher, for browser tests.

Several browser tests need the same stack: a migrated SQLite database holding alice (unicaen,
member of caen-climat, a password and an API token), and a gateway whose worker polls every
1-2 s so the page follows the job. One copy of that set-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from myriagate.clock import SystemClock
from myriagate.db.migrate import upgrade
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER


def seed_alice(database_url: str, password: str, token_name: str) -> str:
    """Migrate ``database_url`` and add alice with ``password``; her API token's secret."""
    upgrade(database_url)
    now = SystemClock().now()
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        projects_repo.add_project(
            session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen", created_at=now
        )
        alice = users_repo.add(session, username="alice", cluster_login="alice", created_at=now)
        alice.institution = "unicaen"
        auth_service.set_password(alice, password)
        users_repo.add_membership(session, alice, cluster=CLUSTER, slurm_account="caen-climat")
        secret = auth_service.create_token(session, alice, name=token_name).secret
        session.commit()
    engine.dispose()
    return secret


@contextmanager
def live_gateway(settings: Settings, database_url: str, log_dir: Path) -> Iterator[LiveGateway]:
    """The gateway and its worker on ``database_url``, polling the dev cluster every 1-2 s."""
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_ENFORCE_ALLOCATIONS": "false",
        "MYRIAGATE_POLL_MIN_S": "1",
        "MYRIAGATE_POLL_MAX_S": "2",
    }
    with LiveGateway(env, log_dir / "gateway.log") as gateway:
        yield gateway
