"""Issue #15, messages in a real browser reading French: a job its project cannot pay for is
refused on the submit form in French, in hours with French numbers and what to do next (never
core-seconds, never English); a missing job is a French error page. Against the real gateway
and dev cluster, with JavaScript (the refusal is the server's page either way)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myriagate.db.migrate import upgrade
from myriagate.settings import Settings
from tests.browser.test_browser_journey import _seed, log_in, shot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

pytestmark = [pytest.mark.browser, pytest.mark.slurm]


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('french') / 'gateway.db'}"
    upgrade(database_url)
    _seed(database_url)  # alice in caen-climat, granted 100 CPU-hours
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(gateway_settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_ENFORCE_ALLOCATIONS": "true",
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log") as gateway:
        yield gateway


def test_a_refusal_and_an_error_page_read_in_french(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    page = log_in(browser, live, "alice", screenshot_dir, lang="fr-FR")
    page.goto("/submit")
    # A whole node of "long" for a day: far more than the 100 hours left.
    page.get_by_label("--partition", exact=True).select_option("long")
    page.get_by_label("--time", exact=True).fill("1-00:00:00")
    page.get_by_label("--cpus-per-task", exact=True).fill("32")
    page.get_by_role("button", name="Soumettre", exact=True).click()
    problem = page.locator("#problem")
    problem.wait_for(timeout=15_000)
    shot(page, screenshot_dir, "fr-01-refused")
    said = problem.inner_text().replace("\u202f", " ").replace("\xa0", " ")
    assert "Allocation insuffisante" in said
    # French numbers: "1 320 h CPU", "99,84 h" (jobs run outside the gateway may be charged).
    assert re.search(r"ce job demande \d \d{3} h CPU, il reste \d+(,\d+)? h dans caen-climat", said), said
    shorter = re.search(r"raccourcissez sa durée maximale à (\d\d:\d\d:00) au plus \(-t \1\)", said)
    assert shorter is not None, said
    assert "demandez au responsable de votre projet" in said
    for english in ("CPU-hours", "core-second", "this job needs", "Insufficient allocation"):
        assert english not in page.content(), english

    page.goto(f"/jobs/{uuid.uuid4()}")
    shot(page, screenshot_dir, "fr-02-missing-job")
    assert page.locator("h1").inner_text().startswith("Introuvable")
    assert "aucun job" in page.locator("[role=alert]").inner_text()
    page.context.close()
