"""The cluster files API's write operations (issue #17) in process, over a fake cluster:
mkdir, rename, copy, remove (recursive only when asked, a dry run first), disk usage and
wildcards matched on the cluster; problem details for every refusal, in French when asked;
a read-only area takes no change and nothing reaches the cluster for a refused request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.errors import NotFound, PermissionDenied
from myriagate.profiles.file_areas import FileArea
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.changes import FileChanges
from myriagate.services.people.auth import User
from myriagate.web.api.file_changes import get_file_changes
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory, FakeTree
from tests.fakes.profiles import dev_profile
from tests.web.conftest import MakeUser, assert_problem

BASE = "/api/v1/clusters/devcluster/files"


def _profile() -> ClusterProfile:
    """The dev cluster's profile with a third area, read-only."""
    profile = dev_profile()
    shared = FileArea(name="shared", root="/shared", writable=False, label="Shared", label_fr="Partagé")
    files = profile.files.model_copy(update={"areas": (*profile.files.areas, shared)})
    return profile.model_copy(update={"files": files})


@pytest.fixture
def fake(app: FastAPI) -> FakeClusterFilesFactory:
    fake = FakeClusterFilesFactory()
    profile = _profile()

    def profile_of(name: str | None) -> ClusterProfile:
        if name not in (None, profile.name):
            raise NotFound(f"unknown cluster {name!r}")
        return profile

    changes = FileChanges(profile=profile_of, files_for=lambda _cluster: fake)
    app.dependency_overrides[get_file_changes] = lambda: changes  # cleared by the app fixture
    return fake


@pytest.fixture
def tree(fake: FakeClusterFilesFactory) -> FakeTree:
    tree = fake.tree("alice")
    tree.files.update({b"run1/out.txt": b"12345", b"run1/sub/a.h5": b"abc", b"run1/b.h5": b"", b"-rf": b"d"})
    tree.links[b"escape"] = b"/etc"
    tree.dirs.add(b"bobs")
    tree.refuse[b"bobs"] = PermissionDenied("the cluster does not let your login change 'bobs'")
    return tree


@pytest.fixture
def alice(tree: FakeTree, make_user: MakeUser, auth_client: Callable[[User], TestClient]) -> TestClient:
    return auth_client(make_user("researcher", login="alice"))


def test_mkdir_makes_each_missing_level_as_alice(
    alice: TestClient, fake: FakeClusterFilesFactory, tree: FakeTree
) -> None:
    made = alice.post(f"{BASE}/home/mkdir", json={"path": "new/deep", "parents": True})
    assert made.status_code == 201, made.text
    assert made.json() == {
        "cluster": "devcluster", "area": "home", "path": "new/deep", "created": ["new", "new/deep"]
    }  # fmt: skip
    assert fake.calls[-1][:2] == ("alice", "mkdir")
    assert_problem(alice.post(f"{BASE}/home/mkdir", json={"path": "new"}), 409, "already_exists")
    assert_problem(alice.post(f"{BASE}/home/mkdir", json={"path": "nope/x"}), 404, "not_found")


def test_rename_keeps_an_existing_target_unless_asked(alice: TestClient, tree: FakeTree) -> None:
    refused = alice.post(f"{BASE}/home/rename", json={"path": "-rf", "to": "run1/out.txt"})
    assert_problem(refused, 409, "already_exists")
    assert tree.files[b"run1/out.txt"] == b"12345"
    moved = alice.post(f"{BASE}/home/rename", json={"path": "-rf", "to": "run1/out.txt", "overwrite": True})
    assert moved.status_code == 200 and moved.json()["to"] == "run1/out.txt"
    assert tree.files[b"run1/out.txt"] == b"d" and b"-rf" not in tree.files


def test_copy_says_what_it_made(alice: TestClient, tree: FakeTree) -> None:
    assert_problem(
        alice.post(f"{BASE}/home/copy", json={"path": "run1", "to": "run2"}), 422, "invalid_request"
    )
    copied = alice.post(f"{BASE}/home/copy", json={"path": "run1", "to": "run2", "recursive": True})
    assert copied.status_code == 201, copied.text
    body = copied.json()
    assert (body["files"], body["size_bytes"], body["complete"], body["to"]) == (3, 8, True, "run2")
    assert tree.files[b"run2/sub/a.h5"] == b"abc"


def test_delete_needs_recursive_for_a_full_directory_and_counts(alice: TestClient, tree: FakeTree) -> None:
    refused = alice.delete(f"{BASE}/home/entry", params={"path": "run1"})
    assert_problem(refused, 409, "conflict")
    assert b"run1/out.txt" in tree.files
    would = alice.delete(f"{BASE}/home/entry", params={"path": "run1", "recursive": True, "dry_run": True})
    assert would.json()["dry_run"] is True and would.json()["files"] == 3
    assert b"run1/out.txt" in tree.files
    gone = alice.delete(f"{BASE}/home/entry", params={"path": "run1", "recursive": True}).json()
    assert (gone["files"], gone["directories"], gone["size_bytes"], gone["dry_run"]) == (3, 2, 8, False)
    assert not [p for p in tree.files if p.startswith(b"run1")]
    link = alice.delete(f"{BASE}/home/entry", params={"path": "escape"}).json()
    assert link["links"] == 1 and b"escape" not in tree.links


def test_usage_and_glob(alice: TestClient) -> None:
    usage = alice.get(f"{BASE}/home/usage", params={"path": "run1"}).json()
    assert (usage["files"], usage["apparent_size_bytes"], usage["partial"], usage["stopped"]) == (
        3,
        8,
        False,
        None,
    )
    found = alice.get(f"{BASE}/home/glob", params={"pattern": "run1/*.txt"}).json()
    assert found["total"] == 1 and [e["path"] for e in found["entries"]] == ["run1/out.txt"]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code"),
    [
        ("post", "/shared/mkdir", {"json": {"path": "x"}}, 403, "permission_denied"),
        ("post", "/shared/rename", {"json": {"path": "a", "to": "b"}}, 403, "permission_denied"),
        ("delete", "/shared/entry", {"params": {"path": "a"}}, 403, "permission_denied"),
        ("post", "/home/mkdir", {"json": {"path": "../bob"}}, 422, "unsafe_value"),
        ("post", "/home/mkdir", {"json": {"path": "/etc/x"}}, 422, "unsafe_value"),
        ("post", "/home/mkdir", {"json": {"path": "a\nb"}}, 422, "unsafe_value"),
        ("post", "/home/mkdir", {"json": {"path": ""}}, 422, "invalid_request"),
        ("post", "/home/mkdir", {"json": {"path": "x", "mode": "777"}}, 422, None),
        ("post", "/home/rename", {"json": {"path": "-rf", "to": "../x"}}, 422, "unsafe_value"),
        ("post", "/home/rename", {"json": {"path": "run1", "to": "run1/sub/x"}}, 422, "invalid_request"),
        ("post", "/home/copy", {"json": {"path": "escape/passwd", "to": "p"}}, 422, "unsafe_value"),
        ("delete", "/home/entry", {"params": {}}, 422, "invalid_request"),
        ("delete", "/home/entry", {"params": {"path": "bobs"}}, 403, "permission_denied"),
        ("delete", "/home/entry", {"params": {"path": "nothing"}}, 404, "not_found"),
        ("delete", "/nowhere/entry", {"params": {"path": "x"}}, 404, "not_found"),
        ("get", "/home/usage", {"params": {"max_entries": 0}}, 422, "invalid_request"),
        ("get", "/home/usage", {"params": {"max_seconds": 1000}}, 422, "invalid_request"),
        ("get", "/home/glob", {"params": {"pattern": "run*/x"}}, 422, "invalid_request"),
        ("get", "/home/glob", {"params": {"pattern": "escape/*"}}, 422, "unsafe_value"),
    ],
)
def test_every_refusal_is_a_problem_and_changes_nothing(
    alice: TestClient,
    tree: FakeTree,
    method: str,
    url: str,
    kwargs: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    before = (dict(tree.files), dict(tree.links), set(tree.dirs))
    response = getattr(alice, method)(BASE + url, **kwargs)
    assert_problem(response, status, code)
    assert (tree.files, tree.links, tree.dirs) == before


def test_a_read_only_area_is_refused_in_french_before_any_call(
    alice: TestClient, fake: FakeClusterFilesFactory
) -> None:
    response = alice.post(f"{BASE}/shared/mkdir", json={"path": "x"}, headers={"Accept-Language": "fr"})
    problem = assert_problem(response, 403, "permission_denied")
    assert "lecture seule" in problem["detail"]
    assert fake.calls == []


def test_the_write_api_needs_a_signed_in_caller(client: TestClient, fake: FakeClusterFilesFactory) -> None:
    assert_problem(client.post(f"{BASE}/home/mkdir", json={"path": "x"}), 401, "not_authenticated")
    assert fake.calls == []
