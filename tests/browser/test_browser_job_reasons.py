"""Why a job waits or how it ended, on its page in a real browser (EN and FR), against the real
dev cluster: out of memory, killed by a signal, exit code 3, a start time not reached, cancelled
from its page ("cancelled by alice"), past its time limit. Each page is saved as a screenshot
(test-artifacts/screenshots/ and /tmp/shots/reason-<case>-<lang>.png)."""

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

# long_wait: its one-minute time limit is the tier's longest wait; collected first, it starts at once.
pytestmark = [pytest.mark.browser, pytest.mark.slurm, pytest.mark.long_wait]

PASSWORD = "correct horse battery staple"
RUN_TAG = f"mg-why-{uuid.uuid4().hex[:8]}"
SHOTS = Path("/tmp/shots")
HOG = "python3 -c 'import time; b = b\"x\" * (300 * 2**20); time.sleep(30)'"
CASES: dict[str, tuple[str, dict[str, str], str]] = {
    # case: (script body, options, the explanation's code once it is there)
    "oom": (HOG, {"mem": "100M", "time": "2"}, "out_of_memory"),
    "killed": ("kill -9 $$", {"time": "2"}, "killed_by_signal"),
    "exit3": ("exit 3", {"time": "2"}, "exit_code"),
    "begin": ("true", {"time": "2", "begin": "now+2hours"}, "begin_time"),
    "cancelled": ("sleep 300", {"time": "10"}, "cancelled"),
    "timeout": ("sleep 300", {"time": "1"}, "timeout"),
}


@pytest.fixture(scope="module")
def live(
    gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveGateway, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('why') / 'gateway.db'}"
    token = seed_alice(database_url, PASSWORD, "browser")
    with live_gateway(gateway_settings, database_url, tmp_path_factory.mktemp("logs")) as gateway:
        yield gateway, token
    subprocess.run(["scancel", f"--name={RUN_TAG}"], check=False)


def log_in(browser: Any, url: str, locale: str) -> Any:
    page = browser.new_context(base_url=url, locale=locale).new_page()
    page.goto("/login")
    page.locator("input[name=username]").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def shoot(page: Any, screenshot_dir: Path, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for folder in (SHOTS, screenshot_dir):
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.long_wait
def test_each_reason_on_the_job_page_in_english_and_french(
    browser: Any, live: tuple[LiveGateway, str], screenshot_dir: Path
) -> None:
    gateway, token = live
    api = httpx.Client(base_url=f"{gateway.url}/api/v1", headers={"Authorization": f"Bearer {token}"})
    jobs: dict[str, str] = {}
    for case, (body, options, _code) in CASES.items():
        sent = {"partition": "debug", "job_name": RUN_TAG, "output": "/dev/null", **options}
        response = api.post("/jobs", json={"script": f"#!/bin/bash\n{body}\n", "options": sent})
        assert response.status_code == 202, response.text
        jobs[case] = response.json()["id"]
    english, french = log_in(browser, gateway.url, "en-GB"), log_in(browser, gateway.url, "fr-FR")

    english.goto(f"/jobs/{jobs['cancelled']}")
    english.get_by_role("button", name="Cancel this job").click()
    for case, (_body, _options, code) in CASES.items():
        english.goto(f"/jobs/{jobs[case]}")
        # The page refreshes itself until the job ends; a waiting job shows its reason at once.
        english.locator(f"#job-reason[data-code={code}]").wait_for(timeout=180_000)
        shoot(english, screenshot_dir, f"reason-{case}-en")
        french.goto(f"/jobs/{jobs[case]}")
        french.locator(f"#job-reason[data-code={code}]").wait_for(timeout=30_000)
        shoot(french, screenshot_dir, f"reason-{case}-fr")

    said = {case: api.get(f"/jobs/{job_id}").json()["explanation"] for case, job_id in jobs.items()}
    assert re.fullmatch(r"ran out of memory \(used \d{3} MB of 100 MB\)", said["oom"]["text"]["en"])
    assert said["killed"]["text"]["fr"] == "tué par le signal 9 (SIGKILL)"
    assert said["exit3"]["text"]["en"] == "failed with exit code 3"
    assert said["cancelled"]["text"] == {"en": "cancelled by alice", "fr": "annulé par alice"}
    assert said["timeout"]["text"]["en"] == "reached its time limit (1 min)"
    english.goto(f"/jobs/{jobs['oom']}")
    assert "Exit code" not in english.content()
    english.goto("/jobs")
    shoot(english, screenshot_dir, "reason-list-en")
    french.goto("/jobs")
    shoot(french, screenshot_dir, "reason-list-fr")
    api.post(f"/jobs/{jobs['begin']}/cancel")
