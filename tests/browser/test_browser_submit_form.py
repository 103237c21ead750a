"""Issue #15, the submit form in a real browser, with JavaScript and without, against the real
dev cluster: choosing a template changes the form (at once with JavaScript, on the next click
without, never sending the template the fields were drawn for); a job array is chosen,
given its range and submitted from the form, and Slurm runs it as an array."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myriagate.db.migrate import upgrade
from myriagate.settings import Settings
from tests.browser.test_browser_journey import PASSWORD, _seed, log_in, shot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

RUN_TAG = f"mg-webform-{uuid.uuid4().hex[:8]}"
JOB_PAGE = re.compile(r"/jobs/[0-9a-f-]{36}$")


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('webform') / 'gateway.db'}"
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


def slurm_tasks(job_page: Any, timeout_s: float = 60.0) -> set[int]:
    """The array task ids Slurm holds for the job shown on ``job_page``, once the gateway knows
    its Slurm id (``scontrol show job``: a line per task started, a range for those waiting)."""
    deadline = time.monotonic() + timeout_s
    slurm_id = ""
    while not slurm_id.isdigit():
        assert time.monotonic() < deadline, "the job never got a Slurm id"
        time.sleep(1)
        job_page.reload()
        cell = job_page.locator("dt", has_text="Slurm id").locator("xpath=following-sibling::dd[1]")
        slurm_id = cell.inner_text().strip()
    out = subprocess.run(["scontrol", "show", "job", "-o", slurm_id], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert set(re.findall(r"ArrayJobId=(\d+)", out)) == {slurm_id}, out  # an array job
    tasks: set[int] = set()
    for listed in re.findall(r"ArrayTaskId=(\S+)", out):  # 2, or 0-2%4, or 1,3-4 while waiting
        for piece in listed.split("%")[0].split(","):
            first, _, last = piece.partition("-")
            tasks.update(range(int(first), int(last or first) + 1))
    return tasks


def fill_resources(page: Any) -> None:
    page.get_by_label("--partition", exact=True).select_option("debug")
    page.get_by_label("--time", exact=True).fill("2")
    page.get_by_label("--job-name", exact=True).fill(RUN_TAG)


def test_with_javascript_the_template_changes_the_form_at_once(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    page = log_in(browser, live, "alice", screenshot_dir)
    page.goto("/submit")
    estimate = page.locator("#estimate")
    expect(estimate).to_contain_text("This job will hold")  # when the page opens, before any typing
    expect(page.get_by_role("button", name="Show its parameters")).to_be_hidden()
    page.evaluate("window.sameDocument = true")  # gone if the page were loaded again

    page.get_by_label("Choose a template").select_option(label="Python")
    expect(page.get_by_label("Python code", exact=True)).to_have_value(re.compile(r"^import platform"))
    expect(page.get_by_label("Message", exact=True)).to_have_count(0)
    expect(page.get_by_label("Interpreter", exact=True)).to_have_value("python3")

    page.get_by_label("Choose a template").select_option(label="Job array")
    array = page.get_by_label("--array", exact=True)
    expect(array).to_have_value("0-9")
    expect(array).to_be_visible()  # its section opened, since the template filled it in
    expect(estimate).to_contain_text("This job will hold")
    assert page.evaluate("window.sameDocument") is True
    assert page.get_by_label("Choose a template").input_value() == "array"

    fill_resources(page)
    array.fill("0-2")
    page.get_by_label("Command", exact=True).fill('echo "task $1 of the browser"')
    shot(page, screenshot_dir, "form-js-array")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(JOB_PAGE)
    assert slurm_tasks(page) == {0, 1, 2}  # Slurm runs the range typed


def test_without_javascript_the_chosen_template_is_honoured(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/submit")
    page.get_by_label("Username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/submit$"))
    expect(page.locator("#estimate")).to_contain_text("This job will hold")  # computed by the server

    # "Check and estimate" right after picking another template: the dropdown stays on it.
    page.get_by_label("Choose a template").select_option(label="Job array")
    page.get_by_role("button", name="Check and estimate").click()
    expect(page.get_by_label("--array", exact=True)).to_have_value("0-9")
    assert page.get_by_label("Choose a template").input_value() == "array"
    expect(page.get_by_label("Command", exact=True)).to_be_visible()

    # Enter in a field is "Check and estimate" (the form's hidden first button), not a redraw.
    page.get_by_label("--time", exact=True).fill("banana")
    page.get_by_label("--time", exact=True).press("Enter")
    expect(page.locator("#time-error")).to_be_visible()
    page.get_by_label("--time", exact=True).fill("")

    # Python picked, then Submit at once: the Python fields are shown, nothing is sent.
    page.get_by_label("Choose a template").select_option(label="Python")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.locator("#switched")).to_contain_text("Python")
    assert page.get_by_label("Choose a template").input_value() == "python"
    expect(page.get_by_label("Python code", exact=True)).to_have_value(re.compile(r"^import platform"))
    expect(page.get_by_label("--array", exact=True)).to_have_value("")  # the array's range went with it
    shot(page, screenshot_dir, "form-nojs-switched")

    # Job array again, with its own range, submitted from the form.
    page.get_by_label("Choose a template").select_option(label="Job array")
    page.get_by_role("button", name="Show its parameters").click()
    fill_resources(page)
    page.get_by_label("--array", exact=True).fill("0-1")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(JOB_PAGE)
    assert slurm_tasks(page) == {0, 1}
    context.close()
