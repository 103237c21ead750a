"""Issue #18 in a real browser: alice launches JupyterLab from /interactive, opens it, runs a
notebook cell on the compute node, and stops it; the job ended in Slurm and was charged.

A live gateway and worker over the dev cluster, allocations enforced (alice's project is granted
100 CPU-hours). The form's estimate shows what the session will hold; the page follows the
session without reloading until Connect appears; Connect opens JupyterLab in a new tab through
the gateway's proxy, where a notebook made from the launcher runs a cell printing the compute
node's host name, the Python environment (``sys.prefix``) and the Slurm job id; Stop from the
page ends the job (sacct: CANCELLED) and the worker settles it (the ledger's charge is what it
ran, below what was held). Every wait is on a condition the page or Slurm shows, never a sleep.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from myriagate.db.migrate import upgrade
from myriagate.db.models.allocations import EntryKind, LedgerEntry
from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job
from myriagate.db.session import make_engine, make_session_factory
from myriagate.settings import Settings
from tests.browser.test_browser_first_contact import shot
from tests.browser.test_browser_journey import PASSWORD, _seed
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

ENVIRONMENT = "/opt/myriagate-jupyter"  # the bundled app's default (deploy/devcluster/up.sh)
CELL = (
    'import os, socket, sys; print("host", socket.gethostname(), "prefix", sys.prefix, '
    '"job", os.environ["SLURM_JOB_ID"])'
)


@pytest.fixture(scope="module")
def live(
    gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveGateway, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('interactive') / 'gateway.db'}"
    upgrade(database_url)
    _seed(database_url)  # alice in caen-climat, 100 CPU-hours granted
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
        yield gateway, database_url


def _job_of(database_url: str) -> tuple[uuid.UUID, str | None]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            job = session.execute(
                sa.select(Job).join(InteractiveSession, InteractiveSession.job_id == Job.id)
            ).scalar_one()
            return job.id, job.slurm_job_id
    finally:
        engine.dispose()


def _ledger(database_url: str, job_id: uuid.UUID) -> dict[EntryKind, int]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(sa.select(LedgerEntry).where(LedgerEntry.job_id == job_id)).scalars()
            return {row.kind: row.core_seconds for row in rows}
    finally:
        engine.dispose()


def _charged(database_url: str, job_id: uuid.UUID) -> dict[EntryKind, int] | None:
    found = _ledger(database_url, job_id)
    return found if EntryKind.CHARGE in found else None


def _until(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.5)
    return found


def _run(lab: Any, cell: Any, attempts: int = 5) -> None:
    """Run ``cell`` (Ctrl+Enter: it stays selected) until JupyterLab takes it: its prompt leaves
    ``[ ]:`` for ``[*]:`` or ``[1]:``. A brand-new notebook's kernel drops some first runs:
    with JupyterLab opened directly, no gateway in between, 5 of 12 first runs stayed ``[ ]:``
    with no output (2026-12-05, /tmp diagnostic); the second always ran."""
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(attempts):
        cell.locator(".cm-content").click()
        lab.keyboard.press("Control+Enter")
        try:
            expect(prompt).not_to_have_text(re.compile(r"^\[ \]:$"), timeout=5_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"JupyterLab did not run the cell in {attempts} attempts")


def _open_notebook_and_run_a_cell(lab: Any, screenshot_dir: Path) -> str:
    """In JupyterLab: a Python notebook from the launcher, the cell typed and run; its output.
    The notebook is deleted afterwards (through the proxy, as alice): her home keeps nothing."""
    lab.locator("#jp-main-dock-panel").wait_for(timeout=60_000)  # JupyterLab's shell: Connect worked
    base = lab.url.split("/lab")[0]
    # A clean workspace shows the launcher, whatever tabs earlier sessions of alice left open.
    lab.goto(f"{base}/lab?reset")
    lab.locator('.jp-LauncherCard[data-category="Notebook"]').first.click(timeout=60_000)
    panel = lab.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    name = ""
    try:
        expect(panel.locator(".jp-Notebook-ExecutionIndicator").first).to_have_attribute(
            "data-status", "idle", timeout=60_000
        )  # the kernel has started and answers
        name = lab.locator(
            "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel"
        ).inner_text()
        cell = panel.locator(".jp-CodeCell").first
        cell.locator(".cm-content").click()
        lab.keyboard.insert_text(CELL)  # one input event: no auto-closed brackets or quotes
        _run(lab, cell)
        output = cell.locator(".jp-OutputArea-output").first
        try:
            expect(output).to_contain_text("prefix", timeout=60_000)
        finally:
            shot(lab, screenshot_dir, "interactive-03-notebook")
        return str(output.inner_text())
    finally:
        if name.endswith(".ipynb"):
            deleted = lab.evaluate(
                "async url => (await fetch(url, {method: 'DELETE'})).status", f"{base}/api/contents/{name}"
            )
            assert deleted == 204, (name, deleted)


def test_launch_jupyterlab_run_a_cell_and_stop_it_charged_like_any_job(
    browser: Any, live: tuple[LiveGateway, str], screenshot_dir: Path
) -> None:
    gateway, database_url = live
    context = browser.new_context(
        base_url=gateway.url, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Interactive").click()
    page.wait_for_url(re.compile(r"/interactive$"))
    page.get_by_label("Partition").select_option("debug")
    page.get_by_label("Time limit").fill("0:10:00")
    estimate = page.locator("#estimate")  # asked again as the fields change (app.js)
    expect(estimate).to_contain_text("Partition debug, time limit 10 min.", timeout=10_000)
    expect(estimate).to_contain_text("This job will hold 0.17 CPU-h of the")
    expect(estimate).to_contain_text("remaining in caen-climat")
    shot(page, screenshot_dir, "interactive-01-form")
    launched_at = time.monotonic()
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/interactive$"))
    job_id, slurm_id = _job_of(database_url)
    try:
        # The page follows the session (queued, starting) without reloading, until Connect.
        connect = page.locator("#sessions").get_by_role("link", name="Connect")
        connect.wait_for(timeout=90_000)
        ready_s = time.monotonic() - launched_at
        shot(page, screenshot_dir, "interactive-02-running")
        with context.expect_page() as opened:
            connect.click()
        lab = opened.value
        try:
            printed = _open_notebook_and_run_a_cell(lab, screenshot_dir)
        except AssertionError:
            print(gateway.log_tail(20_000))  # the proxy's side of it
            raise
        _, slurm_id = _job_of(database_url)
        assert f"host {socket.gethostname()}" in printed  # node vm is this machine
        assert f"prefix {ENVIRONMENT}" in printed
        assert f"job {slurm_id}" in printed
        lab.close()

        page.bring_to_front()
        page.locator("#sessions").get_by_role("button", name="Stop").click()
        page.wait_for_url(re.compile(r"/interactive$"))
        expect(page.locator("#sessions tr[data-state=ended]")).to_have_count(1, timeout=60_000)
        shot(page, screenshot_dir, "interactive-04-stopped")
    finally:
        if slurm_id:
            subprocess.run(["scancel", slurm_id], check=False)
    state = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", str(slurm_id), "-o", "State"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert state and state[0] == "CANCELLED", state
    # The worker settles the ended job: charged what it ran, the rest of the hold released.
    ledger = _until(lambda: _charged(database_url, job_id), 60, "the session's charge")
    assert 0 < ledger[EntryKind.CHARGE] < ledger[EntryKind.HOLD], ledger
    print(f"launch to Connect: {ready_s:.1f} s; ledger {ledger}")
