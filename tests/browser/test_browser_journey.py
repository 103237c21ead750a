"""A researcher and an admin in a real browser, against the real dev cluster.

alice logs in, submits from a template, watches the state change without reloading (live
refresh), reads the output, cancels another job; an admin grants more hours and alice's
dashboard shows the new balance. Every page visited is saved as a screenshot artifact.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.migrate import upgrade
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

ACCOUNT = "caen-climat"
PASSWORD = "correct horse battery staple"
RUN_TAG = f"mg-web-{uuid.uuid4().hex[:8]}"  # every job of this module carries it, for cleanup


def _seed(database_url: str) -> None:
    now = SystemClock().now()
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        project = projects_repo.add_project(
            session, cluster=CLUSTER, slurm_account=ACCOUNT, institution="unicaen", created_at=now
        )
        alice = users_repo.add(session, username="alice", cluster_login="alice", created_at=now)
        alice.institution, alice.display_name = "unicaen", "Alice Martin"
        auth_service.set_password(alice, PASSWORD)
        users_repo.add_membership(session, alice, cluster=CLUSTER, slurm_account=ACCOUNT)
        admin = users_repo.add(session, username="diane", cluster_login="diane", created_at=now)
        admin.is_platform_admin = True
        auth_service.set_password(admin, PASSWORD)
        period = allocations_repo.create_period(
            session, cluster=CLUSTER, name="browser", starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
        )  # fmt: skip
        allocations_repo.set_quota(session, institution="unicaen", period_id=period.id, amount=Cost(10**6, 0))
        allocation = allocations_repo.create_allocation(
            session, project_id=project.id, period_id=period.id, created_at=now
        )
        SqlLedger(session).grant(allocation.id, Cost(100 * 3600, 0), author="test", reason="browser test")
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'gateway.db'}"
    upgrade(database_url)
    _seed(database_url)
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(gateway_settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_ENFORCE_ALLOCATIONS": "true",
        "MYRIAGATE_POLL_MIN_S": "1",
        "MYRIAGATE_POLL_MAX_S": "2",
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log") as gateway:
        yield gateway
    subprocess.run(["scancel", f"--name={RUN_TAG}"], check=False)


def log_in(browser: Any, live: LiveGateway, username: str, shots: Path, lang: str = "en-GB") -> Any:
    context = browser.new_context(base_url=live.url, locale=lang)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Username").fill(username) if lang.startswith("en") else page.get_by_label(
        "Identifiant"
    ).fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_researcher_journey_and_admin_grant(browser: Any, live: LiveGateway, screenshot_dir: Path) -> None:
    shots = screenshot_dir
    page = log_in(browser, live, "alice", shots)
    shot(page, shots, "01-dashboard")
    assert "of 100 CPU-h" in page.content()  # jobs run outside the gateway may already be charged

    # Submit from the hello template, with its parameters as form fields.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Submit a job").click()
    page.get_by_label("message").fill("bonjour from the browser")
    page.get_by_label("repeat").fill("2")
    page.get_by_label("--partition", exact=True).select_option("debug")
    page.get_by_label("--time", exact=True).fill("2")
    page.get_by_label("--job-name", exact=True).fill(RUN_TAG)
    page.locator("#estimate").get_by_text("This job will hold").wait_for(timeout=10_000)  # live estimate
    shot(page, shots, "02-submit")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_url = page.url
    shot(page, shots, "03-job-submitted")
    # The page refreshes itself: the state reaches "completed" and the output appears, no reload.
    page.locator("#live .state-completed").first.wait_for(timeout=120_000)
    page.locator("#stdout").get_by_text("bonjour from the browser").first.wait_for(timeout=30_000)
    assert page.locator("#stdout").inner_text().count("bonjour from the browser") == 2
    shot(page, shots, "04-job-completed")

    # Another job, cancelled from its page.
    page.goto("/submit")
    page.get_by_label("My own script").check()
    page.get_by_label("Job script (with #SBATCH lines if you like)").fill("#!/bin/bash\nsleep 600\n")
    page.get_by_label("--partition", exact=True).select_option("debug")
    page.get_by_label("--time", exact=True).fill("15")
    page.get_by_label("--job-name", exact=True).fill(RUN_TAG)
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.get_by_role("button", name="Cancel this job").click()
    page.get_by_text("Cancel requested").first.wait_for(timeout=10_000)
    page.locator("#live .state-cancelled").first.wait_for(timeout=90_000)
    shot(page, shots, "05-job-cancelled")

    page.goto("/jobs")
    assert page.locator("table tbody tr").count() >= 2
    shot(page, shots, "06-jobs")
    page.goto("/tokens")
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create a token").click()
    assert "myriagate login --url" in page.locator("#login-line").inner_text()
    shot(page, shots, "07-tokens")
    page.goto("/cluster")
    shot(page, shots, "08-cluster")

    # An admin grants 50 more hours; alice's dashboard shows the new balance.
    admin = log_in(browser, live, "diane", shots)
    admin.goto("/admin/allocations")
    admin.get_by_label("Project").select_option(ACCOUNT)
    admin.locator("form[action='/admin/grants']").get_by_label("CPU hours").fill("50")
    admin.locator("form[action='/admin/grants']").get_by_label("Reason").fill("more for the browser test")
    admin.get_by_role("button", name="Grant", exact=True).click()
    admin.wait_for_url(re.compile(r"/admin/allocations$"))
    shot(admin, shots, "09-admin-allocations")
    admin.goto("/reports/usage")
    shot(admin, shots, "10-usage")
    admin.goto("/admin/audit")
    assert "allocation.grant" in admin.content()
    shot(admin, shots, "11-audit")
    page.goto("/")
    assert re.search(r"of 150 CPU-h", page.content())
    shot(page, shots, "12-dashboard-after-grant")
    page.goto(job_url)


def test_french_pages(browser: Any, live: LiveGateway, screenshot_dir: Path) -> None:
    page = log_in(browser, live, "alice", screenshot_dir, lang="fr-FR")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Tableau de bord" in page.content()
    page.get_by_role("link", name="English").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    shot(page, screenshot_dir, "13-language-switch")


def test_essentials_work_without_javascript(browser: Any, live: LiveGateway, screenshot_dir: Path) -> None:
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/submit")
    page.get_by_label("Username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/submit$"))
    # A job that outlives the clicks below, so the cancel never races its natural end.
    page.get_by_label("My own script").check()
    page.get_by_label("Job script (with #SBATCH lines if you like)").fill("#!/bin/bash\nsleep 600\n")
    page.get_by_label("--partition", exact=True).select_option("debug")
    page.get_by_label("--time", exact=True).fill("15")
    page.get_by_label("--job-name", exact=True).fill(RUN_TAG)
    page.get_by_role("button", name="Check and estimate").click()
    # Without JavaScript each click is a form POST and a new page: wait for the new page's
    # text rather than reading content() while the navigation may still be under way.
    expect(page.locator("body")).to_contain_text("This job will hold")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.get_by_role("button", name="Cancel this job").click()
    expect(page.locator("body")).to_contain_text(re.compile("Cancel requested|cancelled"))
    shot(page, screenshot_dir, "14-no-javascript")
