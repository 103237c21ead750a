"""What the file browser's write pages' tests share (issue #17): the app over one fake cluster
(its files, changes and uploads, all as the login asking), the dev profile with a third area
that is read-only, alice signed in with the form in English or French, her forms' CSRF token.
Imported by name into the test modules (fixtures of a module override the conftest's)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.profiles.file_areas import FileArea
from myriagate.web.api.file_changes import get_file_changes
from myriagate.web.api.file_uploads import get_file_uploads
from myriagate.web.api.files import get_file_browser
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_browser, file_changes
from myriagate.wiring_uploads import file_uploads
from tests.conftest import CLUSTER
from tests.fakes.fake_cluster_files import FakeTree
from tests.fakes.fake_cluster_uploads import FakeClusterUploadsFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import csrf_of, logged_in

HOME = f"/files/{CLUSTER}/home"
SHARED = f"/files/{CLUSTER}/shared"
HOSTILE_NAME = 'it\'s "q" $(id) <script>'


@pytest.fixture
def fake(app: FastAPI, gateway: Gateway) -> FakeClusterUploadsFactory:
    """One fake cluster behind the browser, the changes and the uploads; a read-only area
    ``shared`` added to the dev cluster's profile."""
    profile = gateway.profiles[CLUSTER]
    shared = FileArea(name="shared", root="/shared", writable=False, label="Shared", label_fr="Partagé")
    files = profile.files.model_copy(update={"areas": (*profile.files.areas, shared)})
    gateway.profiles[CLUSTER] = profile.model_copy(update={"files": files})
    fake = FakeClusterUploadsFactory(free_bytes=1 << 24)
    browser = file_browser(gateway, lambda _profile, _settings, _backends: fake.files)
    changes = file_changes(gateway, lambda _profile, _settings, _backends: fake.files)
    uploads = file_uploads(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_browser] = lambda: browser  # cleared by the app fixture
    app.dependency_overrides[get_file_changes] = lambda: changes
    app.dependency_overrides[get_file_uploads] = lambda: uploads
    return fake


@pytest.fixture
def tree(fake: FakeClusterUploadsFactory) -> FakeTree:
    tree = fake.files.tree("alice")
    tree.files.update(
        {
            b"run1/out.txt": b"12345",
            b"run1/sub/a.h5": b"abc",
            b"run1/-rf": b"dash",
            b"run1/caf\xe9": b"latin-1",
            b"run1/new\nline": b"n",
            b"empty/.keep": b"",
            b"shared-file": b"x",
        }
    )
    tree.links[b"run1/escape"] = b"/etc"
    return tree


@pytest.fixture(params=["en", "fr"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def alice_user(make_user: MakeUser) -> User:
    return make_user("researcher", username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def client(app: FastAPI, alice_user: User, tree: FakeTree, lang: str) -> TestClient:
    return logged_in(app, alice_user, lang=lang)


def csrf(client: TestClient) -> str:
    """The session's CSRF token, read from a form of the file browser."""
    return csrf_of(client.get(HOME, params={"path": "run1"}).text)


def calls(fake: FakeClusterUploadsFactory) -> int:
    """How many things reached the fake cluster (files and uploads)."""
    return len(fake.files.calls) + len(getattr(fake, "calls", []))


def notices(page: str) -> list[str]:
    """The notices of a page, as text."""
    return [html.unescape(re.sub(r"<[^>]+>", "", n)).strip()
            for n in re.findall(r'<p class="notice [a-z]+" role="status">(.*?)</p>', page, re.S)]  # fmt: skip


def error_of(page: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    assert found is not None, page
    return html.unescape(found.group(1))
