"""No page scrolls sideways on a phone (issue #15/#17 trial: at 375 px /datasets was 550-612 px
wide, a dataset's page 565, /tokens 664-711, an allocation's ledger 609-618, /admin/audit 807,
/admin/allocations 482, /reports/usage 448, /cluster 383 in English, and the file browser's
Download column was off screen). Every page table now scrolls inside its own box; a long
address in a page's details wraps; the file listing folds Type and Permissions on a phone.

The demo's users and grants (``myriagate.demo.seeding``) on a live gateway over the dev cluster,
plus what makes the pages wide: a job of alice's, a dataset with a long endpoint root, tokens,
ledger lines of each kind; each page is read at 375 px as alice and as the platform admin, in
English and French, and must be at most 375 px wide."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.migrate import upgrade
from myriagate.db.models.staging import Dataset, DatasetFile
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.demo.seeding import seed
from myriagate.domain.costs import Cost
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from tests.browser.live_stack import live_gateway
from tests.browser.test_browser_notifications import shot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

pytestmark = pytest.mark.browser

PASSWORD = "narrow-pages-password"
WIDTH = 375
LONG_NAME = "a-long-folder-name-without-any-space-in-it-" * 3
ALICE_PAGES = (
    "/", "/jobs", "/submit", "/datasets", "/tokens", "/cluster", "/reports/usage", "/files",
    "/files/devcluster/home", "/settings/notifications", "/interactive",
)  # fmt: skip
ADMIN_PAGES = ("/", "/admin/audit", "/admin/allocations", "/reports/usage", "/cluster", "/tokens", "/jobs")


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    folder = tmp_path_factory.mktemp("narrow")
    database_url = f"sqlite:///{folder / 'gateway.db'}"
    upgrade(database_url)
    clock = SystemClock()
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        seed(session, cluster=CLUSTER, clock=clock, ledger=SqlLedger, password=PASSWORD)
        alice = users_repo.get_by_username(session, "alice")
        assert alice is not None
        for name in ("laptop of the lab's shared analysis workstation", "nightly-pipeline-export-to-caen"):
            auth_service.create_token(session, alice, name=name)
        session.commit()
    engine.dispose()
    with live_gateway(gateway_settings, database_url, folder) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def shown(live: LiveGateway) -> dict[str, str]:
    """A job of alice's, a dataset it produced, and ledger lines of each kind on her project."""
    engine = make_engine(live.env["MYRIAGATE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        alice = users_repo.get_by_username(session, "alice")
        assert alice is not None
        secret = auth_service.create_token(session, alice, name="narrow").secret
        session.commit()
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as api:
        job = api.post("/api/v1/jobs", json={"template": "hello", "options": {"time": "00:01:00"}})
        assert job.status_code == 202, job.text
        allocations = api.get("/api/v1/allocations").json()
    job_id = job.json()["id"]
    found = [a for a in allocations if a["account"] == "caen-climat"]
    assert found, allocations
    allocation_id = found[0]["id"]
    with make_session_factory(engine)() as session:
        alice = users_repo.get_by_username(session, "alice")
        assert alice is not None
        dataset = Dataset(
            name="results of hello", owner_id=alice.id, cluster=CLUSTER, slurm_account="caen-climat",
            endpoint="caen", site="Caen", region="normandie", operator="CRIANN",
            root=f"/datasets/caen-climat/alice/{LONG_NAME}{uuid.uuid4()}",
            file_count=1, size_bytes=4, producer_job_id=uuid.UUID(job_id), created_at=SystemClock().now(),
        )  # fmt: skip
        dataset.files = [
            DatasetFile(
                path="results/" + "very-long-result-file-name-" * 4 + ".h5", size_bytes=4, sha256="0" * 64
            )
        ]
        session.add(dataset)
        SqlLedger(session).charge_outside(uuid.UUID(allocation_id), "987654", Cost(3600))
        session.commit()
        dataset_id = str(dataset.id)
    engine.dispose()
    return {"job": job_id, "dataset": dataset_id, "allocation": allocation_id}


def _log_in(browser: Any, live: LiveGateway, username: str, lang: str) -> Any:
    context = browser.new_context(base_url=live.url, locale=lang, viewport={"width": WIDTH, "height": 800})
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def _too_wide(page: Any, paths: tuple[str, ...], screenshot_dir: Path, tag: str) -> dict[str, int]:
    wide: dict[str, int] = {}
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        width = int(page.evaluate("document.documentElement.scrollWidth"))
        shot(page, screenshot_dir, f"narrow-{tag}{re.sub(r'[^a-z0-9]+', '-', path)}"[:80])
        if width > WIDTH:
            wide[path] = width
    return wide


@pytest.mark.parametrize("lang", ["en-GB", "fr-FR"])
def test_no_page_scrolls_sideways_at_375_px(
    browser: Any, live: LiveGateway, shown: dict[str, str], screenshot_dir: Path, lang: str
) -> None:
    alice = _log_in(browser, live, "alice", lang)
    own = (f"/jobs/{shown['job']}", f"/datasets/{shown['dataset']}", f"/allocations/{shown['allocation']}")
    wide = _too_wide(alice, ALICE_PAGES + own, screenshot_dir, f"alice-{lang[:2]}")
    admin = _log_in(browser, live, "admin", lang)
    others = (f"/allocations/{shown['allocation']}", f"/datasets/{shown['dataset']}")
    wide |= {f"admin {p}": w for p, w in _too_wide(admin, ADMIN_PAGES + others, screenshot_dir,
                                                      f"admin-{lang[:2]}").items()}  # fmt: skip
    assert not wide, f"pages wider than {WIDTH} px: {wide}"


@pytest.mark.parametrize("lang", ["en-GB", "fr-FR"])
def test_the_file_listings_download_links_are_in_view(
    browser: Any, live: LiveGateway, screenshot_dir: Path, lang: str
) -> None:
    page = _log_in(browser, live, "alice", lang)
    page.goto("/files/devcluster/home")
    links = page.locator("#listing a[download]")
    assert links.count() > 0
    rights = page.eval_on_selector_all(
        "#listing a[download]", "els => els.map(e => e.getBoundingClientRect().right)"
    )
    shot(page, screenshot_dir, f"narrow-files-{lang[:2]}")
    assert max(rights) <= WIDTH, f"Download links end at {max(rights)} px on a {WIDTH} px screen"
