"""Uploading from the file browser without JavaScript (issue #17), in process over a fake
cluster, in English and French: a plain multipart form, each file handed to the upload use
case in pieces as alice, placed and said once; an existing name kept unless "replace" is
ticked; a post over the stated limit refused before its body is read; no file, no CSRF token
or a read-only area change nothing. The JavaScript path is the upload API itself
(tests/web/test_api_file_uploads.py) and the browser test."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from myriagate.web.pages import file_upload_pages
from tests.fakes.fake_cluster_files import FakeTree
from tests.fakes.fake_cluster_uploads import FakeClusterUploadsFactory
from tests.web import file_write_fixtures
from tests.web.file_write_fixtures import HOME, SHARED, csrf, error_of, notices
from tests.web.test_pages_access import assert_escaped

# Shared fixtures (a module's fixtures override the conftest's): the fake cluster, alice signed in.
alice_user = file_write_fixtures.alice_user
client = file_write_fixtures.client
fake = file_write_fixtures.fake
lang = file_write_fixtures.lang
tree = file_write_fixtures.tree

ODD = "<img src=x onerror=alert(1)> $(id) 'q'.txt"
UPLOADED = {
    "en": f"2 file(s) uploaded: run1/{ODD}, run1/big.bin.",
    "fr": f"2 fichier(s) déposé(s) : run1/{ODD}, run1/big.bin.",
}
BIG = bytes(range(256)) * 12_000  # 3 MB: several 1 MiB pieces


def _post(client: TestClient, files: list[tuple[str, bytes]], **fields: str) -> httpx.Response:
    answer: httpx.Response = client.post(
        f"{HOME}/upload",
        data={"csrf_token": csrf(client), "path": "run1", **fields},
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
    )
    return answer


def test_the_form_states_its_limit(client: TestClient, lang: str) -> None:
    page = client.get(HOME, params={"path": "run1"}).text
    assert 'id="upload-limits"' in page
    assert ("1.1 GB" if lang == "en" else "1,1 Go") in page


def test_files_posted_without_javascript_are_placed_as_alice_in_pieces(
    client: TestClient, fake: FakeClusterUploadsFactory, tree: FakeTree, lang: str
) -> None:
    answer = _post(client, [(ODD, b"hello"), ("big.bin", BIG)])
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"]).text
    assert notices(page) == [UPLOADED[lang]]
    assert_escaped(page)
    assert tree.files[f"run1/{ODD}".encode()] == b"hello" and tree.files[b"run1/big.bin"] == BIG
    assert {call[0] for call in fake.calls} == {"alice"}
    assert not fake.partials.get("alice")  # nothing half-written left
    assert max(len(w.pieces) for w in fake.writers) >= 3  # streamed in 1 MiB pieces, never whole


def test_an_existing_name_is_kept_unless_replace_is_ticked(
    client: TestClient, tree: FakeTree, lang: str
) -> None:
    kept = _post(client, [("out.txt", b"new")])
    assert kept.status_code == 409 and tree.files[b"run1/out.txt"] == b"12345"
    assert 'href="/files/devcluster/home?path=run1" id="back"' in kept.text
    replaced = _post(client, [("out.txt", b"new")], overwrite="1")
    assert replaced.status_code == 303 and tree.files[b"run1/out.txt"] == b"new"


def test_files_before_a_refused_one_are_said_once_back_in_the_directory(
    client: TestClient, tree: FakeTree, lang: str
) -> None:
    answer = _post(client, [("first.txt", b"1"), ("out.txt", b"2")])
    assert answer.status_code == 409 and tree.files[b"run1/first.txt"] == b"1"
    page = client.get(HOME, params={"path": "run1"}).text
    assert len(notices(page)) == 1 and "run1/first.txt" in notices(page)[0]


def test_refusals_change_nothing(
    client: TestClient, fake: FakeClusterUploadsFactory, tree: FakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:

    token = csrf(client)
    before = dict(tree.files)
    no_file = client.post(
        f"{HOME}/upload",
        data={"csrf_token": token, "path": "run1"},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert no_file.status_code == 422
    forged = client.post(
        f"{HOME}/upload", data={"path": "run1"}, files=[("files", ("evil.sh", b"x", "text/plain"))]
    )
    assert forged.status_code == 403
    shared = client.post(
        f"{SHARED}/upload",
        data={"csrf_token": token, "path": ""},
        files=[("files", ("evil.sh", b"x", "text/plain"))],
    )
    assert shared.status_code == 403
    link = _post(client, [("escape", b"through the link")])
    assert link.status_code == 422 and tree.links[b"run1/escape"] == b"/etc"
    monkeypatch.setattr(file_upload_pages, "FORM_UPLOAD_MAX_BYTES", 1000)
    too_big = _post(client, [("big.bin", BIG)])
    assert too_big.status_code == 422 and "JavaScript" in error_of(too_big.text)
    assert tree.files == before and not fake.partials.get("alice")
