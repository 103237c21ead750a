"""Data staging in a real browser, against the real dev cluster and storage sshd.

alice submits a script from the form with an input file (sent by the page's script through the
upload API, with a progress bar and the browser's sha256) and an output pattern to "caen"; the
live server's worker stages the input in with the gateway's real OpenSSH stager, Slurm runs the
job, the worker stages the result out to 127.0.0.1:2223; the job page's timeline shows
staging_in → … → staging_out → completed and the dataset page's checksum is the sha256 of the
file on disk under /srv/myriagate-storage/caen/…. The "paris" endpoint cannot be chosen, and
forcing it is refused next to the field. Every page is saved as a screenshot.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
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

CAEN = Path("/srv/myriagate-storage/caen")
PARIS = Path("/srv/myriagate-storage/paris")
RUN_TAG = f"mg-webstage-{uuid.uuid4().hex[:8]}"
SCRIPT = f"""#!/bin/bash
#SBATCH --job-name={RUN_TAG}
set -eu
mkdir -p results
sha256sum input.csv > results/inputs.sha256
tr a-z A-Z < input.csv > results/upper.txt
sleep 20
"""
# 20 s: the timeline must show "running", so the job must outlast one worker loop, which a
# loaded machine stretched past 8 s (its outside-jobs sweep charges the shared cluster's
# other jobs; seen with the slurm tier running beside this one).
# Recorded across page loads: every value the upload progress bar takes.
PROGRESS_PROBE = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("upload-progress");
  if (!bar) { return; }
  new MutationObserver(() => console.log("upload-progress " + bar.value))
    .observe(bar, { attributes: true, attributeFilter: ["value"] });
});
"""


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    if not os.access(CAEN, os.R_OK):
        pytest.skip(f"{CAEN} is not readable here: the storage sshd of deploy/devcluster/up.sh is needed")
    database_url = f"sqlite:///{tmp_path_factory.mktemp('webstage') / 'gateway.db'}"
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
        # Server and worker share the spool: the upload lands there, the worker reads it.
        "MYRIAGATE_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log") as gateway:
        yield gateway
    subprocess.run(["scancel", f"--name={RUN_TAG}"], check=False)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_submit_with_an_input_file_and_results_to_caen(
    browser: Any, live: LiveGateway, screenshot_dir: Path, tmp_path: Path
) -> None:
    shots = screenshot_dir
    # 4 MB of text: big enough for the bar to move through intermediate values.
    source = tmp_path / "input.csv"
    source.write_text("".join(f"{i},station-{i % 97},temp\n" for i in range(200_000)))
    page = log_in(browser, live, "alice", shots)
    progress: list[float] = []
    page.on(
        "console",
        lambda m: progress.append(float(m.text.split()[1])) if m.text.startswith("upload-progress") else None,
    )
    page.context.add_init_script(PROGRESS_PROBE)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Submit a job").click()
    page.get_by_label("My own script").check()
    page.get_by_label("Job script (with #SBATCH lines if you like)").fill(SCRIPT)
    page.get_by_label("--partition", exact=True).select_option("debug")
    page.get_by_label("--time", exact=True).fill("3")
    page.get_by_label("--job-name", exact=True).fill(RUN_TAG)
    page.get_by_label("Input files", exact=True).set_input_files(str(source))
    page.get_by_label("Result files to keep").fill("results/*")
    store = page.get_by_label("Store the results in")
    assert store.input_value() == "caen"
    paris = page.locator("#store option[value=paris]")
    assert paris.is_disabled()
    assert paris.inner_text() == "Paris, FR-IDF — outside the allowed regions"
    # The live estimate lists the chosen file (not sent yet) and where results go.
    plan = page.locator("#staging-plan")
    plan.get_by_text("input.csv").wait_for(timeout=10_000)
    assert "will be stored in Caen, FR-NOR" in plan.inner_text()
    shot(page, shots, "20-submit-with-data")

    # Loopback sends 4 MB in one progress event: DevTools' network throttling (upload at
    # 2 MB/s) lets the bar show its intermediate values, as on a real link.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttled = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2_000_000}
    cdp.send("Network.emulateNetworkConditions", throttled)
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"), timeout=60_000)
    cdp.send("Network.emulateNetworkConditions", throttled | {"uploadThroughput": -1})
    job_url = page.url
    assert progress and progress[-1] == 100, progress
    assert any(0 < value < 100 for value in progress), progress  # the bar moved while sending
    shot(page, shots, "21-job-staging-in")

    # The page refreshes itself through every step until the results are stored.
    page.locator("#live .state-completed").first.wait_for(timeout=180_000)
    shot(page, shots, "22-job-completed-with-dataset")
    timeline = page.locator("ol.timeline").inner_text()
    order = ["copying input files", "being submitted", "waiting", "running", "copying results", "completed"]
    positions = [timeline.find(label) for label in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), timeline
    assert "its input files, if any, copied and their checksums checked" in timeline
    assert "result file(s) stored in Caen (FR-NOR) and verified" in timeline
    inputs = page.locator("#staged-inputs").inner_text()
    assert sha256_of(source) in inputs and "input.csv" in inputs

    # The dataset page: the checksum shown is the sha256 of the file stored in Caen.
    page.locator("#output-dataset").click()
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f-]{36}$"))
    assert page.locator("#location").inner_text() == "Caen, FR-NOR"
    root = page.locator("dd code").nth(1).inner_text()
    assert root.startswith(str(CAEN) + "/")
    rows = page.locator("table tbody tr")
    shown = {rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("code.sha256").inner_text()
             for i in range(rows.count())}  # fmt: skip
    assert set(shown) == {"results/inputs.sha256", "results/upper.txt"}
    for path, checksum in shown.items():
        assert checksum == sha256_of(Path(root) / path), path
    assert (Path(root) / "results/upper.txt").read_text() == source.read_text().upper()
    # The job itself saw the bytes the browser sent.
    assert (Path(root) / "results/inputs.sha256").read_text().split()[0] == sha256_of(source)
    assert page.get_by_role("link", name=re.compile(r"^job ")).first.get_attribute(
        "href"
    ) == job_url.removeprefix(live.url)
    shot(page, shots, "23-dataset")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download results/upper.txt").click()
    downloaded = Path(download_info.value.path())
    assert sha256_of(downloaded) == shown["results/upper.txt"]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Datasets").click()
    page.wait_for_url(re.compile(r"/datasets$"))  # not the dataset page's own table of 2 files
    assert page.locator("table tbody tr").count() == 1
    shot(page, shots, "24-datasets")


def test_paris_cannot_be_chosen_and_forcing_it_is_refused(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    before = sorted(PARIS.rglob("*")) if os.access(PARIS, os.R_OK) else []
    page = log_in(browser, live, "alice", screenshot_dir)
    page.goto("/submit")
    paris = page.locator("#store option[value=paris]")
    assert paris.is_disabled()
    playwright_error = pytest.importorskip("playwright.sync_api").Error
    with pytest.raises(playwright_error):  # a disabled option is not selectable
        page.get_by_label("Store the results in").select_option("paris", timeout=2_000)
    assert page.get_by_label("Store the results in").input_value() == "caen"
    # A hand-made request (the option enabled by hand) is refused by the server, at the field.
    page.get_by_label("My own script").check()
    page.get_by_label("Job script (with #SBATCH lines if you like)").fill("#!/bin/bash\ntrue\n")
    page.get_by_label("--time", exact=True).fill("1")
    page.get_by_label("--job-name", exact=True).fill(RUN_TAG)
    page.get_by_label("Result files to keep").fill("results/*")
    force_paris = "o => { o.disabled = false; o.selected = true; }"
    paris.evaluate(force_paris)
    page.get_by_role("button", name="Submit", exact=True).click()
    page.locator("#store-error").wait_for(timeout=10_000)
    assert "FR-IDF" in page.locator("#store-error").inner_text()
    assert page.get_by_label("Store the results in").get_attribute("aria-invalid") == "true"
    assert page.url.endswith("/submit")
    screenshot = screenshot_dir / "25-paris-refused.png"
    page.screenshot(path=str(screenshot), full_page=True)
    after = sorted(PARIS.rglob("*")) if os.access(PARIS, os.R_OK) else []
    assert after == before  # not a byte written there
