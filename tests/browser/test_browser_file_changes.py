"""The file browser's write pages (issue #17) in a real browser against the dev cluster, as
alice: files dropped onto the listing sent with a progress bar each (DevTools upload throttling
so the bar moves) and resumed after the connection drops; the same upload without JavaScript
(a multipart form); a new folder with a hostile name, renamed, then deleted after the
confirmation page (its content only once the box is ticked), with and without JavaScript; a
folder saved as a dataset to caen and followed to completion, its files byte for byte on the
endpoint. Screenshots of every new page at 1280 and 375 px, English and French
(test-artifacts/screenshots/ and /tmp/shots/filechanges-*.png)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from myriagate.runners import SshRunner
from myriagate.settings import Settings
from tests.browser.live_stack import seed_alice
from tests.browser.test_browser_files import PASSWORD, log_in, shoot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER
from tests.integration.conftest import ca, ssh_pool, ssh_runner_for  # noqa: F401 - fixtures by name

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

CAEN = Path("/srv/myriagate-storage/caen")
HOSTILE = 'it\'s "q" $(id) <img src=x onerror=alert(1)>'
MAKE_FILES = """
import json, os, sys
req = json.load(sys.stdin)
base = req["base"].encode()
os.makedirs(base + b"/run1/sub", exist_ok=True)
for name, data in req["files"]:
    with open(base + b"/" + bytes.fromhex(name), "wb") as f:
        f.write(bytes.fromhex(data))
"""
FILES = [
    (b"run1/out.txt", b"result\n"),
    (b"run1/sub/deep.bin", bytes(range(256)) * 40),
    (b"notes.txt", b"hi\n"),
]
# A file made in the page: byte i is i % 251, so any lost or repeated piece shows.
MAKE_FILE_JS = """([name, size]) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) { bytes[i] = i % 251; }
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name));
  return dt;
}"""


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(251)) * (size // 251) + bytes(range(size % 251))


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('filechanges') / 'gateway.db'}"
    seed_alice(database_url, PASSWORD, "browser")
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(gateway_settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_ENFORCE_ALLOCATIONS": "false",
        "MYRIAGATE_POLL_MIN_S": "1",
        "MYRIAGATE_POLL_MAX_S": "2",
        "MYRIAGATE_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),  # the worker's relay
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log") as gateway:
        yield gateway


@pytest.fixture
def folder(ssh_runner_for: Callable[[str], SshRunner]) -> Iterator[str]:  # noqa: F811 - the fixture
    """A fresh directory in alice's home, filled by alice herself."""
    name = f"mg-write-{uuid.uuid4().hex[:8]}"
    request = {"base": f"/home/alice/{name}", "files": [[n.hex(), d.hex()] for n, d in FILES]}
    ssh_runner_for("alice").run(["/usr/bin/python3", "-c", MAKE_FILES], stdin=json.dumps(request).encode())
    yield name
    shutil.rmtree(f"/home/alice/{name}", ignore_errors=True)


def open_folder(
    browser: Any, live: LiveGateway, folder: str, locale: str, *, javascript: bool
) -> tuple[Any, list[str]]:
    """Alice's page of ``folder``, and the dialogs it opens (an injected script would alert())."""
    page, dialogs = log_in(browser, live.url, locale, javascript=javascript)
    page.goto(f"/files/devcluster/home?path={folder}")
    page.locator("#listing").wait_for()
    return page, dialogs


def throttle(page: Any, upload_bytes_per_s: int) -> Any:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {
        "offline": False,
        "latency": 0,
        "downloadThroughput": -1,
        "uploadThroughput": upload_bytes_per_s,
    }
    cdp.send("Network.emulateNetworkConditions", conditions)
    return cdp, conditions


def test_files_dropped_on_the_listing_are_sent_with_progress_and_resumed(
    browser: Any, live: LiveGateway, folder: str, screenshot_dir: Path
) -> None:
    page, dialogs = open_folder(browser, live, folder, "en-GB", javascript=True)
    size = 6_000_000
    # The first part's connection drops (aborted before a byte goes): the page asks the
    # cluster where the upload stands and sends from there.
    cut: list[str] = []

    def drop_first_part(route: Any) -> None:
        if route.request.method == "PATCH" and not cut:
            cut.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/clusters/devcluster/files/home/uploads/**", drop_first_part)
    _cdp, _conditions = throttle(page, 1_000_000)  # 1 MB/s: six seconds for 6 MB, the bar moves
    dropped = page.evaluate_handle(MAKE_FILE_JS, ["dropped <img src=x onerror=alert(1)> $(id).bin", size])
    page.dispatch_event("#listing-box", "dragover", {"dataTransfer": dropped})
    page.dispatch_event("#listing-box", "drop", {"dataTransfer": dropped})
    page.get_by_text("connection lost: resuming").wait_for(timeout=20_000)
    page.wait_for_function("() => { const b = document.querySelector('#upload-list progress'); "
                           "return b && b.value > 1000000 && b.value < b.max; }", timeout=20_000)  # fmt: skip
    assert cut  # the part that was cut, then resumed
    shoot(page, screenshot_dir, "filechanges-upload-progress-en-1280")
    name = "dropped <img src=x onerror=alert(1)> $(id).bin"
    # Once every file is in, the listing is read again and shows it.
    page.locator("#listing td.file-name").get_by_text(name, exact=True).wait_for(timeout=60_000)
    assert page.locator("#upload-list li").count() == 0
    on_disk = Path(f"/home/alice/{folder}/{name}")
    assert on_disk.stat().st_uid == Path("/home/alice").stat().st_uid  # written as alice
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == hashlib.sha256(pattern(size)).hexdigest()
    assert not [p for p in on_disk.parent.iterdir() if p.name.startswith(".myriagate-upload-")]
    assert dialogs == []
    page.context.close()


MAKE_FILES_JS = """(files) => {
  const dt = new DataTransfer();
  for (const [name, text] of files) { dt.items.add(new File([text], name)); }
  return dt;
}"""


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_when_one_file_is_refused_the_others_show_in_the_listing_and_the_refusal_stays(
    browser: Any, live: LiveGateway, folder: str, locale: str
) -> None:
    """One file already there (refused: not replaced) and one new: the new one used to be
    missing from the listing until a manual reload, since the page reloaded only when every
    file was sent (found uploading by hand as alice)."""
    page, dialogs = open_folder(browser, live, folder, locale, javascript=True)
    dropped = page.evaluate_handle(MAKE_FILES_JS, [["notes.txt", "not replaced\n"], ["fresh.txt", "new\n"]])
    page.dispatch_event("#listing-box", "drop", {"dataTransfer": dropped})
    page.locator("#listing td.file-name").get_by_text("fresh.txt", exact=True).wait_for(timeout=30_000)
    assert page.locator("#upload-list li.upload-failed").count() == 1  # the refusal is still there
    assert "notes.txt" in page.locator("#upload-list li.upload-failed").inner_text()
    said = "La liste montre maintenant" if locale == "fr-FR" else "The listing now shows the files"
    page.locator("#upload-list").get_by_text(said).wait_for()
    assert Path(f"/home/alice/{folder}/notes.txt").read_bytes() == b"hi\n"  # not replaced
    assert Path(f"/home/alice/{folder}/fresh.txt").read_bytes() == b"new\n"
    # The listing that came back still takes drops (the box kept its listeners).
    again = page.evaluate_handle(MAKE_FILES_JS, [["later.txt", "later\n"]])
    page.dispatch_event("#listing-box", "drop", {"dataTransfer": again})
    page.locator("#listing td.file-name").get_by_text("later.txt", exact=True).wait_for(timeout=30_000)
    assert dialogs == []
    page.context.close()


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_without_javascript_the_form_uploads(
    browser: Any, live: LiveGateway, folder: str, locale: str, tmp_path: Path
) -> None:
    page, _dialogs = open_folder(browser, live, folder, locale, javascript=False)
    source = tmp_path / "plain form.txt"
    source.write_bytes(b"sent by a plain form\n" * 1000)
    page.locator("#upload-files").set_input_files(str(source))
    page.locator("#upload-form button[type=submit]").click()
    page.locator("p.notice.ok").wait_for()
    assert "plain form.txt" in page.locator("p.notice.ok").inner_text()
    assert Path(f"/home/alice/{folder}/plain form.txt").read_bytes() == source.read_bytes()
    page.context.close()


WORDS = {
    "en-GB": {"made": "Folder", "delete": "Delete", "rename": "Rename", "change": "Change"},
    "fr-FR": {"made": "Dossier", "delete": "Supprimer", "rename": "Renommer", "change": "Modifier"},
}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_mkdir_rename_and_delete_after_the_confirmation(
    browser: Any, live: LiveGateway, folder: str, locale: str, javascript: bool, screenshot_dir: Path
) -> None:
    words = WORDS[locale]
    page, dialogs = open_folder(browser, live, folder, locale, javascript=javascript)
    page.locator("#mkdir-name").fill(HOSTILE)
    page.locator("#mkdir-form button[type=submit]").click()
    assert words["made"] in page.locator("p.notice.ok").inner_text()
    made = Path(f"/home/alice/{folder}/{HOSTILE}")
    assert made.is_dir() and made.stat().st_uid == Path("/home/alice").stat().st_uid
    (made / "inside.txt").write_bytes(b"x")  # content, so the delete needs the box ticked
    shutil.chown(made / "inside.txt", "alice", "alice")
    row = page.locator("#listing tr", has=page.get_by_text(f"{HOSTILE}/", exact=True))
    row.locator("a.change").click()
    page.locator("#rename-to").fill(f"{folder}/renamed -rf")
    page.locator("#rename-form button[type=submit]").click()
    assert not made.exists() and Path(f"/home/alice/{folder}/renamed -rf/inside.txt").exists()
    row = page.locator("#listing tr", has=page.get_by_text("renamed -rf/", exact=True))
    row.locator("a.change").click()
    page.locator("#delete-link").click()
    would = page.locator("#would").inner_text()
    assert re.search(r"\b1\b", would), would
    page.locator("#delete-form button[type=submit]").click()  # not ticked: the folder is kept
    assert page.locator("#back").count() == 1
    assert Path(f"/home/alice/{folder}/renamed -rf/inside.txt").exists()
    page.locator("#back").click()
    page.locator("#delete-recursive").check()
    page.locator("#delete-form button[type=submit]").click()
    page.locator("p.notice.ok").wait_for()
    assert not Path(f"/home/alice/{folder}/renamed -rf").exists()
    assert dialogs == []
    page.context.close()


def test_save_a_folder_as_a_dataset_followed_to_completion(
    browser: Any, live: LiveGateway, folder: str, screenshot_dir: Path
) -> None:
    if not os.access(CAEN, os.R_OK):
        pytest.skip(f"{CAEN} is not readable here: the storage sshd of deploy/devcluster/up.sh is needed")
    page, _dialogs = open_folder(browser, live, f"{folder}/run1", "en-GB", javascript=True)
    page.locator("#save-link").click()
    assert page.locator("#save-store option[value=paris]").is_disabled()
    page.locator("#save-name").fill(f"{folder} <i>run1</i>")
    page.locator("#save-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/dataset-transfers/[0-9a-f-]{36}$"))
    page.locator("#dataset-link").wait_for(timeout=120_000)  # the page reads itself again until done
    assert "Done: the dataset is stored." in page.locator("#transfer-state").inner_text()
    page.locator("#dataset-link").click()
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f-]{36}$"))
    assert f"home:/{folder}/run1" in page.locator("#saved-from").inner_text()
    root = Path(page.locator("dd code").nth(1).inner_text())
    assert str(root).startswith(str(CAEN) + "/")
    for path, data in FILES[:2]:
        assert (root / path.decode().removeprefix("run1/")).read_bytes() == data
    page.context.close()


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_screenshots_of_every_new_page(
    browser: Any, live: LiveGateway, folder: str, locale: str, screenshot_dir: Path
) -> None:
    """Each new page at 1280 and 375 px: none scrolls sideways on a phone."""
    lang = locale[:2]
    page, dialogs = open_folder(browser, live, folder, locale, javascript=True)
    page.locator("#mkdir-name").fill(HOSTILE)
    page.locator("#mkdir-form button[type=submit]").click()
    page.locator("p.notice.ok").wait_for()

    def both_widths(name: str) -> None:
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (name, width)
            shoot(page, screenshot_dir, f"filechanges-{name}-{lang}-{width}")
        page.set_viewport_size({"width": 1280, "height": 900})

    both_widths("directory")  # with the notice of the folder just made
    page.locator("#mkdir-name").fill(HOSTILE)
    page.locator("#mkdir-form button[type=submit]").click()  # it exists now: refused, with a way back
    page.locator("#back").wait_for()
    both_widths("refused")
    base = "/files/devcluster/home"
    shots = {
        "change": f"{base}/change?path={folder}/run1/out.txt",
        "delete": f"{base}/delete?path={folder}/run1",
        "usage": f"{base}/usage?path={folder}",
        "save": f"{base}/save-dataset?path={folder}/run1",
    }
    for name, url in shots.items():
        page.goto(url)
        both_widths(name)
    if os.access(CAEN, os.R_OK):
        page.goto(shots["save"])
        page.locator("#save-form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/dataset-transfers/[0-9a-f-]{36}$"))
        page.locator("#dataset-link").wait_for(timeout=120_000)
        both_widths("transfer")
        page.locator("#dataset-link").click()
        page.locator("#copy-here").click()
        page.locator("#copy-path").fill(f"{folder}/copied")
        both_widths("copy")
        page.locator("#copy-form button[type=submit]").click()
        page.locator("#transfer-state.ok").wait_for(timeout=120_000)  # read again until done
        assert Path(f"/home/alice/{folder}/copied/out.txt").read_bytes() == b"result\n"
    assert dialogs == []
    page.context.close()
