"""The file browser's write pages (issue #17) in process over a fake cluster, in English and
French: a new folder, an entry's page (rename, copy), delete after a confirmation that counts
what would go (a folder's content only when ticked), disk usage with why a figure is partial;
hostile names stay text; every refusal is the error page in the reader's language with a way
back; a post without the CSRF token or into a read-only area changes nothing."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.domain.file_changes import Usage, UsageStop
from myriagate.services.files.changes import FileChanges
from myriagate.web.api.file_changes import get_file_changes
from myriagate.wiring import Gateway
from tests.conftest import CLUSTER
from tests.fakes.fake_cluster_files import FakeTree
from tests.fakes.fake_cluster_uploads import FakeClusterUploadsFactory
from tests.web import file_write_fixtures
from tests.web.file_write_fixtures import HOME, HOSTILE_NAME, SHARED, csrf, notices
from tests.web.test_pages_access import assert_escaped

# Shared fixtures (a module's fixtures override the conftest's): the fake cluster, alice signed in.
alice_user = file_write_fixtures.alice_user
client = file_write_fixtures.client
fake = file_write_fixtures.fake
lang = file_write_fixtures.lang
tree = file_write_fixtures.tree

WORDS = {
    "en": {
        "upload": "Upload files here", "mkdir": "New folder", "made": "Folder {} made.",
        "conflict": "Already exists", "denied": "Permission denied", "back": "Back to where you were",
        "renamed": "run1/out.txt renamed to run1/résultat.txt.", "would": "2 file(s), 8 B",
        "removed": "run1 removed: 5 file(s), 2 folder(s), 1 link(s).", "usage": "Disk usage",
        "partial": "the count stopped after its time limit",
    },
    "fr": {
        "upload": "Déposer des fichiers ici", "mkdir": "Nouveau dossier", "made": "Dossier {} créé.",
        "conflict": "Existe déjà", "denied": "Accès refusé", "back": "Revenir où vous étiez",
        "renamed": "run1/out.txt renommé en run1/résultat.txt.", "would": "2 fichier(s), 8 o",
        "removed": "run1 supprimé : 5 fichier(s), 2 dossier(s), 1 lien(s).", "usage": "Occupation du disque",
        "partial": "le comptage s'est arrêté à sa limite de temps",
    },
}  # fmt: skip


def _follow(client: TestClient, answer: httpx.Response) -> str:
    """The page a change's redirect leads to (its notice is read there, once)."""
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"])
    assert page.status_code == 200, page.text
    return str(page.text)


def test_a_writable_directory_offers_its_forms_and_each_nameable_entry_its_changes(
    client: TestClient, lang: str
) -> None:
    page = client.get(HOME, params={"path": "run1"}).text
    words = WORDS[lang]
    assert words["upload"] in page and words["mkdir"] in page
    assert (
        'enctype="multipart/form-data"' in page
        and 'data-uploads="/api/v1/clusters/devcluster/files/home/uploads"' in page
    )
    assert '<script src="/static/file_uploads.js" defer></script>' in page
    assert f'href="{HOME}/change?path=run1%2F-rf"' in page
    assert f'href="{HOME}/change?path=run1%2Fescape"' in page  # a link itself can be renamed or removed
    # Names the forms could not give back as they are have no change link.
    assert "caf%EF%BF%BD" not in page and "change?path=run1%2Fcaf" not in page
    assert "change?path=run1%2Fnew" not in page
    assert f'href="{HOME}/usage?path=run1"' in page and f'href="{HOME}/save-dataset?path=run1"' in page


def test_a_files_page_links_to_its_changes_in_a_writable_area_only(client: TestClient) -> None:
    page = client.get(f"{HOME}/view", params={"path": "run1/out.txt"}).text
    assert f'<a href="{HOME}/change?path=run1%2Fout.txt" id="change">' in page
    assert 'id="change"' not in client.get(f"{SHARED}/view", params={"path": "shared-file"}).text


def test_a_read_only_area_shows_no_write_control(client: TestClient, lang: str) -> None:
    page = client.get(SHARED).text
    assert "upload-form" not in page and "mkdir-form" not in page and "/change?" not in page
    assert "file_uploads.js" not in page and WORDS[lang]["upload"] not in page
    assert f'href="{SHARED}/usage"' in page  # reading its usage changes nothing


def test_a_new_folder_with_a_hostile_name_is_made_as_alice_and_said_once(
    client: TestClient, fake: FakeClusterUploadsFactory, tree: FakeTree, lang: str
) -> None:
    answer = client.post(
        f"{HOME}/mkdir", data={"csrf_token": csrf(client), "path": "run1", "name": HOSTILE_NAME}
    )
    assert answer.headers["location"] == f"{HOME}?{urlencode({'path': 'run1'})}"
    page = _follow(client, answer)
    assert notices(page) == [WORDS[lang]["made"].format(f"run1/{HOSTILE_NAME}")]
    assert_escaped(page)
    assert f"run1/{HOSTILE_NAME}".encode() in tree.dirs
    assert fake.files.calls[-2][:2] == ("alice", "mkdir")
    assert notices(client.get(HOME, params={"path": "run1"}).text) == []  # said once


def test_refusals_are_the_error_page_in_the_readers_language_with_a_way_back(
    client: TestClient, tree: FakeTree, lang: str
) -> None:
    token = csrf(client)
    refused = client.post(f"{HOME}/mkdir", data={"csrf_token": token, "path": "", "name": "run1"})
    assert refused.status_code == 409
    assert f"<h1>{WORDS[lang]['conflict']}" in refused.text and WORDS[lang]["back"] in refused.text
    assert f'<a href="{HOME}" id="back">' in refused.text
    blank = client.post(f"{HOME}/mkdir", data={"csrf_token": token, "path": "run1", "name": "  "})
    assert blank.status_code == 422
    unsafe = client.post(f"{HOME}/mkdir", data={"csrf_token": token, "path": "run1", "name": "a\nb"})
    assert unsafe.status_code == 422 and "unsafe_value" in unsafe.text
    dots = client.post(f"{HOME}/rename", data={"csrf_token": token, "path": "run1/out.txt", "to": "../x"})
    assert dots.status_code == 422 and b"run1/out.txt" in tree.files


def test_without_the_csrf_token_or_in_a_read_only_area_nothing_changes(
    client: TestClient, fake: FakeClusterUploadsFactory, tree: FakeTree, lang: str
) -> None:
    token = csrf(client)
    before = len(fake.files.calls)
    forged = client.post(f"{HOME}/mkdir", data={"path": "", "name": "evil"})
    assert forged.status_code == 403 and b"evil" not in tree.dirs
    wrong = client.post(f"{HOME}/delete", data={"csrf_token": "x" * 43, "path": "run1", "recursive": "1"})
    assert wrong.status_code == 403 and b"run1/out.txt" in tree.files
    for action, fields in [
        ("mkdir", {"path": "", "name": "evil"}),
        ("rename", {"path": "shared-file", "to": "moved"}),
        ("copy", {"path": "shared-file", "to": "copied"}),
        ("delete", {"path": "shared-file"}),
    ]:
        answer = client.post(f"{SHARED}/{action}", data={"csrf_token": token, **fields})
        assert answer.status_code == 403, (action, answer.text)
        assert f"<h1>{WORDS[lang]['denied']}" in answer.text
    assert client.get(f"{SHARED}/change", params={"path": "shared-file"}).status_code == 403
    assert client.get(f"{SHARED}/delete", params={"path": "shared-file"}).status_code == 403
    assert len(fake.files.calls) == before and b"shared-file" in tree.files


COPY_OF_OUT = {"en": "out-copy.txt", "fr": "out-copie.txt"}


def test_rename_from_the_entry_page(client: TestClient, tree: FakeTree, lang: str) -> None:
    page = client.get(f"{HOME}/change", params={"path": "run1/out.txt"})
    assert page.status_code == 200
    assert "<code>out.txt</code></h1>" in page.text
    assert 'name="to" value="run1/out.txt"' in page.text
    # The copy's suggested name is in the page's language (it said "-copy" on French pages).
    assert f'value="run1/{COPY_OF_OUT[lang]}"' in page.text
    token = csrf(client)
    kept = client.post(f"{HOME}/rename", data={"csrf_token": token, "path": "run1/out.txt", "to": "run1/-rf"})
    assert kept.status_code == 409 and tree.files[b"run1/-rf"] == b"dash"
    assert 'id="rename-to" name="to" value="run1/-rf"' in kept.text and 'id="rename-to-error"' in kept.text
    moved = client.post(
        f"{HOME}/rename", data={"csrf_token": token, "path": "run1/out.txt", "to": "run1/résultat.txt"}
    )
    assert notices(_follow(client, moved)) == [WORDS[lang]["renamed"]]
    assert tree.files["run1/résultat.txt".encode()] == b"12345" and b"run1/out.txt" not in tree.files


def test_copy_a_file_and_a_folder_only_when_ticked(client: TestClient, tree: FakeTree) -> None:
    token = csrf(client)
    copied = client.post(
        f"{HOME}/copy", data={"csrf_token": token, "path": "run1/-rf", "to": "run1/-rf-copy"}
    )
    _follow(client, copied)
    assert tree.files[b"run1/-rf-copy"] == b"dash"
    assert 'name="recursive"' in client.get(f"{HOME}/change", params={"path": "run1/sub"}).text
    refused = client.post(f"{HOME}/copy", data={"csrf_token": token, "path": "run1/sub", "to": "sub2"})
    assert refused.status_code == 422 and b"sub2/a.h5" not in tree.files
    whole = client.post(
        f"{HOME}/copy", data={"csrf_token": token, "path": "run1/sub", "to": "sub2", "recursive": "1"}
    )
    _follow(client, whole)
    assert tree.files[b"sub2/a.h5"] == b"abc"


def test_delete_says_what_would_go_and_takes_a_folders_content_only_when_ticked(
    client: TestClient, fake: FakeClusterUploadsFactory, tree: FakeTree, lang: str
) -> None:
    confirm = client.get(f"{HOME}/delete", params={"path": "run1/sub"})
    assert confirm.status_code == 200
    assert 'name="recursive"' in confirm.text and "delete-form" in confirm.text
    assert "<code>sub</code></h1>" in confirm.text
    whole = client.get(f"{HOME}/delete", params={"path": "run1"})
    assert "5" in whole.text and b"run1/out.txt" in tree.files  # the dry run removed nothing
    single = client.get(f"{HOME}/delete", params={"path": "run1/out.txt"}).text
    assert 'name="recursive"' not in single
    token = csrf(client)
    kept = client.post(f"{HOME}/delete", data={"csrf_token": token, "path": "run1"})
    assert kept.status_code == 409 and b"run1/out.txt" in tree.files
    assert f'href="{HOME}/delete?path=run1" id="back"' in kept.text
    gone = client.post(f"{HOME}/delete", data={"csrf_token": token, "path": "run1", "recursive": "1"})
    assert gone.headers["location"] == HOME
    assert notices(_follow(client, gone)) == [WORDS[lang]["removed"]]
    assert not [p for p in tree.files if p.startswith(b"run1/")] and b"run1/escape" not in tree.links


def test_the_confirmation_counts_files_and_bytes(client: TestClient, tree: FakeTree, lang: str) -> None:
    page = client.get(f"{HOME}/delete", params={"path": "run1/sub"}).text
    tree.files[b"run1/sub/b.h5"] = b"12345"
    page = client.get(f"{HOME}/delete", params={"path": "run1/sub"}).text
    assert WORDS[lang]["would"] in re.sub(r"\s+", " ", page).replace("\u202f", " ").replace("\xa0", " ")


class PartialUsage:
    """A cluster whose disk-usage walk ran out of time (the fake's is always whole)."""

    def __init__(self, fake: FakeClusterUploadsFactory) -> None:
        self.fake = fake

    def for_login(self, login: str) -> PartialUsage:
        return self

    def usage(self, root: str, path: bytes, *, max_entries: int, max_seconds: float) -> Usage:
        return Usage(
            path, 4096 * 3, 1234, 12, 3, 1, partial=True, stopped=UsageStop.TIME, unreadable=0, seconds=30
        )


def test_disk_usage_says_why_a_figure_is_partial(
    app: FastAPI, gateway: Gateway, client: TestClient, fake: FakeClusterUploadsFactory, lang: str
) -> None:

    whole = client.get(f"{HOME}/usage", params={"path": "run1"})
    assert (
        whole.status_code == 200 and WORDS[lang]["usage"] in whole.text and "usage-partial" not in whole.text
    )
    partial = FileChanges(profile=gateway.profile, files_for=lambda _cluster: PartialUsage(fake))  # type: ignore[arg-type, return-value]
    app.dependency_overrides[get_file_changes] = lambda: partial
    page = client.get(f"{HOME}/usage").text
    assert 'id="usage-partial"' in page and WORDS[lang]["partial"] in page.replace("&#39;", "'")
    assert client.get(f"/files/{CLUSTER}/nowhere/usage").status_code == 404


@pytest.mark.parametrize("path", ["run1/new\nline", "../etc", "-"])
def test_an_entry_page_refuses_what_cannot_be_named(client: TestClient, path: str) -> None:
    assert client.get(f"{HOME}/change", params={"path": path}).status_code in (404, 422)


REFUSED = {"en": "must not contain a &#39;..&#39; component", "fr": "ne doit pas contenir de composant"}


def test_a_refused_rename_or_copy_is_its_form_again_with_the_error_by_the_field_and_what_was_typed(
    client: TestClient, tree: FakeTree, lang: str
) -> None:
    """A rename to '../x' was a bare error page: what was typed lost, the form gone (found
    trying it as a researcher); it is now the entry's page again, the error under the path."""
    token = csrf(client)
    typed = "run1/../../etc/x"
    dots = client.post(f"{HOME}/rename", data={"csrf_token": token, "path": "run1/out.txt", "to": typed})
    assert dots.status_code == 422 and b"run1/out.txt" in tree.files
    assert f'id="rename-to" name="to" value="{typed}"' in dots.text
    error = re.search(r'<span class="field-error" id="rename-to-error">([^<]*)</span>', dots.text)
    assert error is not None and REFUSED[lang] in error.group(1), dots.text
    assert (
        'aria-invalid="true"' in dots.text and f'value="run1/{COPY_OF_OUT[lang]}"' in dots.text
    )  # copy's default
    taken = client.post(f"{HOME}/copy", data={"csrf_token": token, "path": "run1/out.txt", "to": "run1/-rf"})
    assert taken.status_code == 409 and tree.files[b"run1/-rf"] == b"dash"
    assert 'id="copy-to" name="to" value="run1/-rf"' in taken.text and 'id="copy-to-error"' in taken.text
    assert 'id="rename-to" name="to" value="run1/out.txt"' in taken.text  # the other form as it was
