"""The cluster files API (issue #17) in process, over a fake cluster: JSON shapes, names shown
literally, problem details for every refusal, streamed downloads with byte ranges."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.errors import PermissionDenied
from myriagate.services.people.auth import User
from myriagate.web.api.files import get_file_browser
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_browser
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.web.conftest import MakeUser, assert_problem

BASE = "/api/v1/clusters/devcluster/files"


@pytest.fixture
def fake(app: FastAPI, gateway: Gateway) -> FakeClusterFilesFactory:
    fake = FakeClusterFilesFactory()
    browser = file_browser(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_browser] = lambda: browser  # cleared by the app fixture
    return fake


@pytest.fixture
def alice(
    fake: FakeClusterFilesFactory, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> TestClient:
    user = make_user("researcher", login="alice")
    tree = fake.tree("alice")
    tree.files.update(
        {
            b"run1/out.txt": b"line 1\nline 2\n",
            b"run1/caf\xe9 \n$(id).txt": b"odd",
            b"run1/-rf": b"dash",
            b"data.bin": bytes(range(256)) * 40,
        }
    )
    tree.links[b"run1/escape"] = b"/etc/passwd"
    tree.refuse[b"bobs"] = PermissionDenied("the cluster does not let your login read 'bobs'")
    tree.dirs.add(b"bobs")
    return auth_client(user)


def test_areas_list_the_profiles_areas_for_the_caller(alice: TestClient) -> None:
    areas = alice.get(f"{BASE}/areas").json()
    assert [(a["name"], a["root"], a["writable"]) for a in areas] == [
        ("home", "~", True),
        ("scratch", "/scratch/alice", True),
    ]
    assert areas[0]["label_fr"] == "Répertoire personnel"


def test_a_listing_shows_odd_names_escaped_and_links_unfollowed(alice: TestClient) -> None:
    body = alice.get(f"{BASE}/home/list", params={"path": "run1"}).json()
    assert body["total"] == 4 and body["next_cursor"] is None and body["path"] == "run1"
    entries = {e["name"]: e for e in body["entries"]}
    odd = entries["caf\\xe9 \\n$(id).txt"]
    assert odd["exact"] is False and odd["path"] == "run1/caf\\xe9 \\n$(id).txt"
    assert entries["-rf"]["exact"] is True and entries["-rf"]["path"] == "run1/-rf"
    link = entries["escape"]
    assert link["type"] == "symlink" and link["link_target"] == "/etc/passwd"
    out = entries["out.txt"]
    assert (out["type"], out["size_bytes"], out["permissions"], out["mode"]) == (
        "file",
        14,
        "-rw-r--r--",
        "0644",
    )
    assert out["modified_at"].startswith("2025-12-06T")


def test_listing_pages_with_a_cursor(alice: TestClient) -> None:
    first = alice.get(f"{BASE}/home/list", params={"path": "run1", "limit": 2, "sort": "name"}).json()
    assert [e["name"] for e in first["entries"]] == ["-rf", "caf\\xe9 \\n$(id).txt"]
    rest = alice.get(
        f"{BASE}/home/list", params={"path": "run1", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [e["name"] for e in rest["entries"]] == ["escape", "out.txt"] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("url", "params", "status", "code"),
    [
        ("/home/list", {"path": "../bob"}, 422, "unsafe_value"),
        ("/home/list", {"path": "/etc"}, 422, "unsafe_value"),
        ("/home/list", {"path": "a\nb"}, 422, "unsafe_value"),
        ("/home/list", {"path": "run1/escape"}, 422, "unsafe_value"),
        ("/home/list", {"path": "run1/out.txt"}, 422, "invalid_request"),
        ("/home/list", {"path": "bobs"}, 403, "permission_denied"),
        ("/home/list", {"path": "nothing"}, 404, "not_found"),
        ("/home/list", {"cursor": "forged"}, 422, "invalid_request"),
        ("/home/list", {"limit": 0}, 422, "invalid_request"),
        ("/home/list", {"sort": "owner"}, 422, None),
        ("/project/list", {}, 404, "not_found"),
        ("/home/stat", {"path": "nothing"}, 404, "not_found"),
        ("/home/preview", {"path": "data.bin"}, 422, "invalid_request"),
        ("/home/preview", {"path": "run1/out.txt", "max_bytes": 2_000_000}, 422, "invalid_request"),
        ("/home/preview", {"path": "run1"}, 422, "invalid_request"),
        ("/home/download", {"path": "run1/escape"}, 422, "unsafe_value"),
        ("/home/download", {"path": "bobs/x"}, 403, "permission_denied"),
        ("/home/download", {}, 422, "invalid_request"),
    ],
)
def test_every_refusal_is_a_problem_with_its_code(
    alice: TestClient, url: str, params: dict[str, object], status: int, code: str | None
) -> None:
    response = alice.get(BASE + url, params=params)
    assert_problem(response, status, code)


def test_a_refusal_is_said_in_french_when_asked(alice: TestClient) -> None:
    response = alice.get(f"{BASE}/nowhere/list", headers={"Accept-Language": "fr"})
    problem = assert_problem(response, 404, "not_found")
    assert "zone" in problem["detail"] and "home, scratch" in problem["detail"]


def test_a_preview_is_text_with_its_place_in_the_file(alice: TestClient) -> None:
    body = alice.get(
        f"{BASE}/home/preview", params={"path": "run1/out.txt", "end": "tail", "max_bytes": 7}
    ).json()
    assert (body["text"], body["offset"], body["size_bytes"], body["truncated"]) == ("line 2\n", 7, 14, True)


def test_a_download_is_an_attachment_with_ranges(alice: TestClient) -> None:
    data = bytes(range(256)) * 40
    whole = alice.get(f"{BASE}/home/download", params={"path": "data.bin"})
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(len(data))
    assert whole.headers["content-disposition"].startswith('attachment; filename="data.bin"')
    assert whole.headers["x-content-type-options"] == "nosniff"
    part = alice.get(
        f"{BASE}/home/download",
        params={"path": "data.bin"},
        headers={"Range": "bytes=100-199", "If-Range": whole.headers["etag"]},
    )
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    too_far = alice.get(
        f"{BASE}/home/download", params={"path": "data.bin"}, headers={"Range": "bytes=99999-"}
    )
    assert_problem(too_far, 416, "range_not_satisfiable")
    assert too_far.headers["content-range"] == f"bytes */{len(data)}"


def test_the_files_api_needs_a_signed_in_caller(client: TestClient, fake: FakeClusterFilesFactory) -> None:
    assert_problem(client.get(f"{BASE}/home/list"), 401, "not_authenticated")
    assert fake.calls == []
