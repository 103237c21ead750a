"""The file browser's pages (issue #17) in a real browser, against the dev cluster: alice's home
browsed with and without JavaScript, in English and in French; hostile names made by alice
herself on the cluster shown literally (no script runs), a text file previewed (head, then
tail), a file downloaded, an image previewed. Screenshots at 1280 and 375 px in both
languages (test-artifacts/screenshots/ and /tmp/shots/files-*.png)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myriagate.runners import SshRunner
from myriagate.settings import Settings
from tests.browser.live_stack import live_gateway, seed_alice
from tests.cli.live_gateway import LiveGateway
from tests.integration.conftest import ca, ssh_pool, ssh_runner_for  # noqa: F401 - fixtures by name

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

PASSWORD = "correct horse battery staple"
SHOTS = Path("/tmp/shots")
TOKEN: list[str] = []  # alice's API token, set by the live fixture
NOTES = b"hello from the cluster\n" + b"".join(b"line %05d\n" % i for i in range(9000)) + b"the very end\n"
HOSTILE = [
    b"<img src=x onerror=alert(1)>.txt",
    b"<script>alert(2)<\\script>",
    b"-rf",
    b'it\'s "quoted" $(id)',
    b"new\nline",
    b"caf\xe9",
]
# Run as alice over SSH: names travel as hex on stdin, never on a command line.
MAKE_FILES = """
import json, os, sys
req = json.load(sys.stdin)
base = req["base"].encode()
os.makedirs(base + b"/sub", exist_ok=True)
for name, data in req["files"]:
    with open(base + b"/" + bytes.fromhex(name), "wb") as f:
        f.write(bytes.fromhex(data))
os.symlink("/etc/passwd", base + b"/escape")
"""


def tiny_png() -> bytes:
    """A 96x64 opaque gradient PNG, made here (no image library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"".join(bytes((x * 2, y * 3, 108)) for x in range(96)) for y in range(64))
    header = struct.pack(">IIBBBBB", 96, 64, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def live(gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('files') / 'gateway.db'}"
    TOKEN.append(seed_alice(database_url, PASSWORD, "browser"))
    with live_gateway(gateway_settings, database_url, tmp_path_factory.mktemp("logs")) as gateway:
        yield gateway


@pytest.fixture
def folder(ssh_runner_for: Callable[[str], SshRunner]) -> Iterator[str]:  # noqa: F811 - the fixture
    """A fresh directory in alice's home, filled by alice herself."""
    name = f"mg-browse-{uuid.uuid4().hex[:8]}"
    files = [(b"notes.txt", NOTES), (b"plot.png", tiny_png()), (b"sub/inner.txt", b"inner\n")]
    files += [(n, b"hostile\n") for n in HOSTILE]
    request = {"base": f"/home/alice/{name}", "files": [[n.hex(), d.hex()] for n, d in files]}
    ssh_runner_for("alice").run(["/usr/bin/python3", "-c", MAKE_FILES], stdin=json.dumps(request).encode())
    yield name
    shutil.rmtree(f"/home/alice/{name}", ignore_errors=True)


def log_in(browser: Any, url: str, locale: str, *, javascript: bool) -> tuple[Any, list[str]]:
    """A signed-in page, and the dialogs it opened (an injected script would alert(): none may)."""
    context = browser.new_context(
        base_url=url, locale=locale, java_script_enabled=javascript, accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )  # fmt: skip
    page = context.new_page()
    dialogs: list[str] = []

    def opened(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    page.goto("/login")
    page.locator("input[name=username]").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page, dialogs


def shoot(page: Any, screenshot_dir: Path, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for folder in (SHOTS, screenshot_dir):
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


WORDS = {
    "en-GB": {"files": "Files", "home": "Home", "modified": "Modified", "tail": "End of the file"},
    "fr-FR": {
        "files": "Fichiers", "home": "Répertoire personnel", "modified": "Modifié", "tail": "Fin du fichier",
    },
}  # fmt: skip


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_browse_alices_home_preview_and_download(
    browser: Any, live: LiveGateway, folder: str, screenshot_dir: Path, locale: str, javascript: bool
) -> None:
    words = WORDS[locale]
    lang = locale[:2]
    page, dialogs = log_in(browser, live.url, locale, javascript=javascript)
    page.locator("header nav.wide").get_by_role("link", name=words["files"], exact=True).click()
    page.wait_for_url(re.compile(r"/files$"))
    home = page.locator("a[href='/files/devcluster/home']")
    assert home.inner_text() == words["home"]
    home.click()
    page.wait_for_url(re.compile(r"/files/devcluster/home$"))
    # Newest first, through the column's links (twice: ascending, then descending).
    page.get_by_role("link", name=words["modified"]).click()
    page.get_by_role("link", name=words["modified"]).click()
    assert "order=desc" in page.url and "sort=mtime" in page.url
    page.get_by_role("link", name=f"{folder}/", exact=True).click()
    assert f"path={folder}" in page.url
    listing = page.locator("#listing")
    names = listing.locator("td.file-name")
    for shown in [
        "<img src=x onerror=alert(1)>.txt",
        "<script>alert(2)<\\\\script>",
        "-rf",
        'it\'s "quoted" $(id)',
    ]:
        assert names.get_by_text(shown, exact=True).count() == 1, shown
    assert names.get_by_text("new\\nline", exact=True).count() == 1
    assert names.get_by_text("caf\\xe9", exact=True).count() == 1
    assert "→ /etc/passwd" in listing.inner_text()
    # Shown, never opened (its row's "Change" link renames or deletes the link itself).
    assert listing.get_by_role("link", name="escape", exact=True).count() == 0
    kind = "js" if javascript else "nojs"
    if javascript:
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1  # no sideways scroll
            shoot(page, screenshot_dir, f"files-directory-{lang}-{width}")
        page.set_viewport_size({"width": 1280, "height": 900})

    # A text file: its head, then its tail.
    listing.get_by_role("link", name="notes.txt", exact=True).click()
    pane = page.locator("#preview-text")
    assert pane.inner_text().startswith("hello from the cluster\nline 00000")
    assert "the very end" not in pane.inner_text()
    page.get_by_role("link", name=words["tail"]).click()
    assert pane.inner_text().rstrip().endswith("line 08999\nthe very end")
    if javascript:  # the nicety: the end of a file is shown scrolled to its last line
        assert pane.evaluate("pre => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 2")
    if javascript:
        for width in (1280, 375):
            page.set_viewport_size({"width": width, "height": 900})
            shoot(page, screenshot_dir, f"files-preview-{lang}-{width}")
        page.set_viewport_size({"width": 1280, "height": 900})

    # Its download: the same bytes, under its own name.
    with page.expect_download() as started:
        page.locator("#download").click()
    download = started.value
    assert download.suggested_filename == "notes.txt"
    assert Path(download.path()).read_bytes() == NOTES

    # An image, shown from the download route with its type.
    page.go_back()
    page.go_back()
    page.get_by_role("link", name="plot.png", exact=True).click()
    image = page.locator("img.file-image")
    image.wait_for()
    if javascript:
        page.wait_for_load_state("load")  # images included
        assert image.evaluate("img => img.naturalWidth") == 96  # decoded: served as an image
    source = image.get_attribute("src")
    assert source is not None
    response = page.request.get(source)
    assert response.headers["content-type"] == "image/png" and response.body() == tiny_png()
    shoot(page, screenshot_dir, f"files-image-{lang}-{kind}")
    assert dialogs == []
    page.context.close()


def test_a_refusal_is_an_html_page_in_french(browser: Any, live: LiveGateway, screenshot_dir: Path) -> None:
    page, _dialogs = log_in(browser, live.url, "fr-FR", javascript=False)
    response = page.goto("/files/devcluster/home?path=../../etc")
    assert response is not None and response.status == 422
    assert "ne doit pas contenir" in page.locator("main").inner_text()
    shoot(page, screenshot_dir, "files-refused-fr")
    response = page.goto("/files/devcluster/home?path=mg-no-such-directory")
    assert response is not None and response.status == 404
    page.context.close()


def test_a_job_page_links_to_its_working_directory(browser: Any, live: LiveGateway, folder: str) -> None:
    """The job's --chdir, relative to alice's home (learnt from the cluster): the job page's
    link opens that directory in the file browser."""
    api = httpx.Client(base_url=f"{live.url}/api/v1", headers={"Authorization": f"Bearer {TOKEN[0]}"})
    options = {"partition": "debug", "time": "2", "output": "/dev/null", "chdir": f"{folder}/sub"}
    response = api.post("/jobs", json={"script": "#!/bin/bash\ntrue\n", "options": options})
    assert response.status_code == 202, response.text
    page, _dialogs = log_in(browser, live.url, "en-GB", javascript=False)
    page.goto(f"/jobs/{response.json()['id']}")
    page.locator("#job-files").click()
    # click() returns once the navigation is committed, not loaded: count() does not wait, so
    # wait for the listing's page to load first (it read an empty listing in CI under load).
    page.wait_for_url(re.compile(re.escape(f"/files/devcluster/home?path={folder}%2Fsub") + "$"))
    assert page.locator("#listing td.file-name").get_by_text("inner.txt", exact=True).count() == 1
    page.context.close()
