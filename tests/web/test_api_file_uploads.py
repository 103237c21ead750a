"""Uploads into file areas through the API (issue #17), in process over a fake cluster: begin,
parts with Upload-Offset, resume after a cut, the file placed and listed, every refusal as
problem details (in French too), nothing written for a refused request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.services.people.auth import User
from myriagate.web.api.file_uploads import get_file_uploads
from myriagate.web.api.files import get_file_browser
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_browser
from myriagate.wiring_uploads import file_uploads
from tests.fakes.fake_cluster_uploads import FakeClusterUploadsFactory
from tests.web.conftest import MakeUser, assert_problem

BASE = "/api/v1/clusters/devcluster/files"


@pytest.fixture
def fake(app: FastAPI, gateway: Gateway) -> FakeClusterUploadsFactory:
    fake = FakeClusterUploadsFactory(free_bytes=1 << 20)
    browser = file_browser(gateway, lambda _profile, _settings, _backends: fake.files)
    uploads = file_uploads(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_browser] = lambda: browser  # cleared by the app fixture
    app.dependency_overrides[get_file_uploads] = lambda: uploads
    return fake


@pytest.fixture
def alice(
    fake: FakeClusterUploadsFactory, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> TestClient:
    fake.files.tree("alice").files[b"run1/old.txt"] = b"old"
    fake.files.tree("alice").links[b"run1/escape"] = b"/etc/passwd"
    return auth_client(make_user("researcher", login="alice"))


def _begin(client: TestClient, path: str, data: bytes, **extra: object) -> dict[str, object]:
    body = {"path": path, "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}
    response = client.post(f"{BASE}/scratch/uploads", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["upload-offset"] == "0"
    assert response.headers["location"].endswith(f"/scratch/uploads/{response.json()['id']}")
    return dict(response.json())


def test_an_upload_sent_in_parts_is_resumed_then_placed_and_listed(
    alice: TestClient, fake: FakeClusterUploadsFactory
) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    started = _begin(alice, "run1/cafe $(id) -rf.bin", data)
    assert (started["offset"], started["complete"], started["size_bytes"]) == (0, False, len(data))
    url = f"{BASE}/scratch/uploads/{started['id']}"
    first = alice.patch(url, content=data[:300_000], headers={"Upload-Offset": "0"})
    assert first.status_code == 200 and first.json()["offset"] == 300_000 and not first.json()["complete"]
    status = alice.get(url)
    assert status.json()["offset"] == 300_000 and status.headers["upload-offset"] == "300000"
    stale = alice.patch(url, content=data[:10], headers={"Upload-Offset": "0"})
    assert assert_problem(stale, 409, "upload_offset_mismatch")["offset"] == 300_000
    last = alice.patch(url, content=data[300_000:], headers={"Upload-Offset": "300000"})
    body = last.json()
    assert last.status_code == 200 and body["complete"] and body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["file"]["name"] == "cafe $(id) -rf.bin" and body["file"]["size_bytes"] == len(data)
    assert fake.files.tree("alice").files[b"run1/cafe $(id) -rf.bin"] == data
    listed = alice.get(f"{BASE}/scratch/list", params={"path": "run1"}).json()
    assert "cafe $(id) -rf.bin" in {e["name"] for e in listed["entries"]}
    assert {login for login, *_ in fake.calls} == {"alice"}
    assert alice.get(url).status_code == 404  # finished: nothing left to resume


def test_the_body_reaches_the_cluster_in_bounded_pieces(
    alice: TestClient, fake: FakeClusterUploadsFactory
) -> None:
    data = b"x" * (900_000)
    started = _begin(alice, "flat.bin", data)
    chunks = (data[i : i + 10_000] for i in range(0, len(data), 10_000))
    response = alice.patch(
        f"{BASE}/scratch/uploads/{started['id']}", content=chunks, headers={"Upload-Offset": "0"}
    )
    assert response.json()["complete"]
    assert max(fake.writers[-1].pieces) <= (1 << 20) + 65536


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [({"path": "../bob/x"}, 422, "unsafe_value"), ({"path": "a\nb"}, 422, "unsafe_value"),
     ({"path": "run1/old.txt"}, 409, "already_exists"), ({"path": "run1/escape"}, 422, "unsafe_value"),
     ({"path": "big", "size_bytes": 2 << 20}, 507, "insufficient_storage"),
     ({"path": "x", "sha256": "nothex"}, 422, "invalid_request"),
     ({"path": "x", "size_bytes": -1}, 422, "invalid_request"),
     ({"path": "x", "mode": "0777"}, 422, "invalid_request")],
)  # fmt: skip
def test_refused_uploads_are_problems_and_write_nothing(
    alice: TestClient, fake: FakeClusterUploadsFactory, body: dict[str, object], status: int, code: str
) -> None:
    before = dict(fake.files.tree("alice").files)
    response = alice.post(f"{BASE}/scratch/uploads", json={"size_bytes": 3, **body})
    assert_problem(response, status, code)
    assert fake.files.tree("alice").files == before and not fake.partials.get("alice")


def test_overwrite_replaces_and_a_wrong_checksum_keeps_nothing(
    alice: TestClient, fake: FakeClusterUploadsFactory
) -> None:
    started = _begin(alice, "run1/old.txt", b"new", overwrite=True)
    done = alice.patch(
        f"{BASE}/scratch/uploads/{started['id']}", content=b"new", headers={"Upload-Offset": "0"}
    )
    assert done.json()["complete"] and fake.files.tree("alice").files[b"run1/old.txt"] == b"new"
    bad = alice.post(
        f"{BASE}/scratch/uploads", json={"path": "y", "size_bytes": 3, "sha256": "0" * 64}
    ).json()
    wrong = alice.patch(f"{BASE}/scratch/uploads/{bad['id']}", content=b"abc", headers={"Upload-Offset": "0"})
    assert_problem(wrong, 502, "checksum_mismatch")
    assert b"y" not in fake.files.tree("alice").files


def test_a_part_past_the_size_a_forged_id_and_a_cancel(
    alice: TestClient, fake: FakeClusterUploadsFactory
) -> None:
    started = _begin(alice, "z.bin", b"abc")
    url = f"{BASE}/scratch/uploads/{started['id']}"
    assert_problem(
        alice.patch(url, content=b"abcdef", headers={"Upload-Offset": "0"}), 422, "invalid_request"
    )
    assert_problem(alice.patch(url, content=b"abc"), 422, "invalid_request")  # no Upload-Offset
    assert_problem(alice.get(f"{BASE}/scratch/uploads/u1.forged.sig"), 404, "not_found")
    assert_problem(alice.get(f"{BASE}/home/uploads/{started['id']}"), 404, "not_found")  # another area
    assert alice.delete(url).status_code == 204
    assert_problem(alice.get(url), 404, "not_found")


def test_refusals_are_said_in_french(alice: TestClient) -> None:
    french = {"Accept-Language": "fr"}
    started = _begin(alice, "fr.bin", b"abcdef")
    url = f"{BASE}/scratch/uploads/{started['id']}"
    alice.patch(url, content=b"abc", headers={"Upload-Offset": "0"})
    stale = alice.patch(url, content=b"abc", headers={"Upload-Offset": "0", **french})
    body = assert_problem(stale, 409, "upload_offset_mismatch")
    assert body["title"] == "Décalage de l'envoi" and "le cluster détient 3 octets" in str(body["detail"])
    forged = assert_problem(alice.get(f"{BASE}/scratch/uploads/u1.x.y", headers=french), 404, "not_found")
    assert "aucun envoi de ce nom" in str(forged["detail"])
