"""An array job followed task by task in a real browser, against the real dev cluster (issue #15,
"Array jobs on the web"): the page refreshes itself to the summary, the table shows each task's
state and exit code, and the picker shows one task's output; in English and in French."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myriagate.settings import Settings
from tests.browser.live_stack import live_gateway, seed_alice
from tests.cli.live_gateway import LiveGateway

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

PASSWORD = "correct horse battery staple"
RUN_TAG = f"mg-arr-{uuid.uuid4().hex[:8]}"
SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --array=0-3\n"
    'echo "hello from task ${SLURM_ARRAY_TASK_ID}"\n'
    'if [ "${SLURM_ARRAY_TASK_ID}" = 2 ]; then echo "task 2 gives up" >&2; exit 3; fi\n'
)


@pytest.fixture(scope="module")
def live(
    gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveGateway, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('arrays') / 'gateway.db'}"
    token = seed_alice(database_url, PASSWORD, "browser arrays")
    with live_gateway(gateway_settings, database_url, tmp_path_factory.mktemp("logs")) as gateway:
        yield gateway, token
    subprocess.run(["scancel", f"--name={RUN_TAG}"], check=False)


def _page(browser: Any, url: str, lang: str) -> Any:
    context = browser.new_context(base_url=url, locale=lang)
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def test_an_array_is_followed_task_by_task(
    browser: Any, live: tuple[LiveGateway, str], screenshot_dir: Path
) -> None:
    gateway, token = live
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}) as api:
        response = api.post(
            "/api/v1/jobs",
            json={"script": SCRIPT, "options": {"partition": "debug", "time": "2", "job_name": RUN_TAG}},
        )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    page = _page(browser, gateway.url, "en-GB")
    page.goto(f"/jobs/{job_id}")
    # The live region refreshes itself until the array ends: no reload here.
    expect(page.locator("#array-summary")).to_have_text("3 done, 1 failed", timeout=120_000)
    row = page.locator('#array-task-table tr[data-task="2"]')
    expect(row).to_contain_text("failed")
    expect(row.locator("td").nth(2)).to_have_text("3")
    # With no task asked for, the failed one is shown; then the picker shows another.
    expect(page.locator("#task-output")).to_have_text("Output of task 2")
    expect(page.locator("#task-stdout")).to_contain_text("hello from task 2")
    expect(page.locator("#task-stdout")).to_contain_text("task 2 gives up")  # stderr goes with stdout
    page.locator("#task").select_option("1")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#task-stdout")).to_have_text(re.compile(r"^\s*hello from task 1\s*$"))
    page.screenshot(path=str(screenshot_dir / "array-en.png"), full_page=True)

    french = _page(browser, gateway.url, "fr-FR")
    french.goto(f"/jobs/{job_id}")
    expect(french.locator("#array-summary")).to_have_text("3 terminées, 1 en échec")
    expect(french.locator("#task-output")).to_have_text("Sortie de la tâche 2")
    french.screenshot(path=str(screenshot_dir / "array-fr.png"), full_page=True)
