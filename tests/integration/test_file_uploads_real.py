"""Uploads into file areas (issue #17) through the real API (uvicorn on a free port) on the dev
cluster's sshd, as alice's own login: written as alice, resumed after a cut, hostile names kept
literally, links never followed, two uploads of one name never mixed, a full disk (an 8 MiB
tmpfs of alice's, deploy/devcluster/up.sh) refused cleanly, and a 2 GiB upload with this
process's memory watched (the server runs in it)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.hostile import CANARY, HOSTILE_STRINGS
from tests.integration import test_api_real_cluster as api_real

gateway, server, alice = api_real.gateway, api_real.server, api_real.alice

pytestmark = pytest.mark.slurm
BASE = "/clusters/devcluster/files"
SMALL_DISK = Path("/scratch/alice/small-disk")  # 8 MiB tmpfs, alice's (deploy/devcluster/up.sh)


@pytest.fixture
def workdir() -> Iterator[str]:
    """A fresh directory in alice's home, made as root then given to her."""
    name = f"mg-up-{uuid.uuid4().hex[:8]}"
    path = Path("/home/alice") / name
    path.mkdir(mode=0o755)
    shutil.chown(path, "alice", "alice")
    yield name
    shutil.rmtree(path, ignore_errors=True)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _begin(client: httpx.Client, area: str, path: str, data: bytes, **extra: object) -> httpx.Response:
    body = {"path": path, "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}
    return client.post(f"{BASE}/{area}/uploads", json=body)


def _put(client: httpx.Client, area: str, path: str, data: bytes, **extra: object) -> dict[str, Any]:
    started = _begin(client, area, path, data, **extra)
    assert started.status_code == 201, started.text
    sent = client.patch(
        f"{BASE}/{area}/uploads/{started.json()['id']}", content=data, headers={"Upload-Offset": "0"}
    )
    assert sent.status_code == 200, sent.text
    body: dict[str, Any] = sent.json()
    return body


def _hidden(directory: Path) -> list[str]:
    return [n for n in os.listdir(directory) if n.startswith(".myriagate-upload-")]


def test_an_upload_is_written_as_alice_resumed_and_placed_whole(alice: httpx.Client, workdir: str) -> None:
    data = os.urandom(5 << 20)
    started = _begin(alice, "home", f"{workdir}/data.bin", data)
    assert started.status_code == 201, started.text
    url = f"{BASE}/home/uploads/{started.json()['id']}"
    first = alice.patch(url, content=data[: 2 << 20], headers={"Upload-Offset": "0"}).json()
    assert first["offset"] == 2 << 20 and not first["complete"]
    here = Path("/home/alice") / workdir
    assert not (here / "data.bin").exists() and len(_hidden(here)) == 1
    assert alice.get(url).json()["offset"] == 2 << 20
    _problem(alice.patch(url, content=b"x", headers={"Upload-Offset": "0"}), 409, "upload_offset_mismatch")
    done = alice.patch(url, content=data[2 << 20 :], headers={"Upload-Offset": str(2 << 20)}).json()
    assert done["complete"] and done["sha256"] == hashlib.sha256(data).hexdigest()
    placed = here / "data.bin"
    assert placed.read_bytes() == data and _hidden(here) == []
    assert placed.stat().st_uid == os.stat(here).st_uid  # alice's, written as alice
    assert done["file"]["uid"] == placed.stat().st_uid
    _problem(_begin(alice, "home", f"{workdir}/data.bin", b"again"), 409, "already_exists")
    assert _put(alice, "home", f"{workdir}/data.bin", b"again", overwrite=True)["complete"]
    assert placed.read_bytes() == b"again"


def test_hostile_names_are_kept_literally_and_nothing_runs(alice: httpx.Client, workdir: str) -> None:
    # Every hostile string a path may hold ('/' made '_'); control characters are refused below.
    names = [s.replace("/", "_") for s in HOSTILE_STRINGS if not re.search(r"[\x00-\x1f\x7f]", s)]
    for i, name in enumerate(names):
        assert _put(alice, "home", f"{workdir}/{name}", b"x" * (i + 1))["complete"], name
    here = Path("/home/alice") / workdir
    assert sorted(os.listdir(here)) == sorted(set(names))
    assert not Path(CANARY).exists() and not Path("/home/alice/_tmp_myriagate-pwned").exists()
    for refused in ("a\nb", "tab\there", "\x1f\x1e", "x" * 256, "..", "-rf/../../x"):
        _problem(_begin(alice, "home", f"{workdir}/{refused}", b"x"), 422, "unsafe_value")
    _problem(_begin(alice, "home", "../bob/x", b"x"), 422, "unsafe_value")


def test_links_at_the_target_or_on_the_way_are_never_followed(alice: httpx.Client, workdir: str) -> None:
    here = Path("/home/alice") / workdir
    os.symlink("/home/bob", here / "to-bob")
    os.symlink("/home/alice/.bashrc", here / "to-bashrc")
    for link in (here / "to-bob", here / "to-bashrc"):
        os.lchown(link, *_ids("alice"))
    before = Path("/home/alice/.bashrc").read_bytes() if Path("/home/alice/.bashrc").exists() else None
    _problem(_begin(alice, "home", f"{workdir}/to-bob/planted", b"x"), 422, "unsafe_value")
    _problem(_begin(alice, "home", f"{workdir}/to-bashrc", b"x", overwrite=True), 422, "unsafe_value")
    assert not Path("/home/bob/planted").exists()
    after = Path("/home/alice/.bashrc").read_bytes() if Path("/home/alice/.bashrc").exists() else None
    assert before == after and os.readlink(here / "to-bashrc") == "/home/alice/.bashrc"


def _ids(login: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(login)
    return entry.pw_uid, entry.pw_gid


def test_the_cluster_refuses_what_alice_may_not_write(alice: httpx.Client, workdir: str) -> None:
    here = Path("/home/alice") / workdir
    (here / "bobs").mkdir(mode=0o755)
    shutil.chown(here / "bobs", "bob", "bob")
    _problem(_begin(alice, "home", f"{workdir}/bobs/x", b"x"), 403, "permission_denied")
    assert os.listdir(here / "bobs") == []


def test_two_uploads_of_one_name_one_wins_whole(alice: httpx.Client, workdir: str) -> None:
    datas = [b"A" * (3 << 20), b"B" * (3 << 20)]
    ids = []
    for data in datas:
        started = _begin(alice, "home", f"{workdir}/same.bin", data)
        assert started.status_code == 201
        ids.append(started.json()["id"])
    results: list[httpx.Response | None] = [None, None]

    def send(i: int) -> None:
        url = f"{BASE}/home/uploads/{ids[i]}"
        results[i] = alice.patch(url, content=datas[i], headers={"Upload-Offset": "0"})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results if r is not None)
    assert statuses == [200, 409], [r.text for r in results if r is not None]
    here = Path("/home/alice") / workdir
    assert (here / "same.bin").read_bytes() in datas and _hidden(here) == []


def test_an_upload_that_does_not_fit_fails_cleanly(alice: httpx.Client) -> None:
    assert os.path.ismount(SMALL_DISK), "deploy/devcluster/up.sh mounts an 8 MiB tmpfs here"
    for name in os.listdir(SMALL_DISK):
        (SMALL_DISK / name).unlink()
    early = _problem(
        _begin(alice, "scratch", "small-disk/big.bin", b"x" * (9 << 20)), 507, "insufficient_storage"
    )
    assert "no room" in early["detail"]
    # Fits when begun (8 MiB free), then the disk fills meanwhile: ENOSPC mid-stream.
    data = os.urandom(6 << 20)
    started = _begin(alice, "scratch", "small-disk/late.bin", data)
    assert started.status_code == 201
    filler = SMALL_DISK / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * (5 << 20))
    url = f"{BASE}/scratch/uploads/{started.json()['id']}"
    late = _problem(
        alice.patch(url, content=data, headers={"Upload-Offset": "0"}), 507, "insufficient_storage"
    )
    assert sorted(os.listdir(SMALL_DISK)) == ["filler"]  # no partial file left, visible or hidden
    # What is free once the partial file is given back (it said "0 bytes free"), grouped.
    free = int(re.search(r"\(([\d,]+) bytes free\)", late["detail"])[1].replace(",", ""))  # type: ignore[index]
    assert 2 << 20 < free <= (8 << 20) - (5 << 20), late["detail"]
    filler.unlink()
    _problem(alice.get(url), 404, "not_found")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _pattern(size: int) -> Iterator[bytes]:
    """``size`` bytes in 1 MiB chunks, each different (a counter in a random block)."""
    block = bytearray(os.urandom(1 << 20))
    for i in range(0, size, 1 << 20):
        block[:8] = i.to_bytes(8, "big")
        yield bytes(block[: min(1 << 20, size - i)])


@pytest.mark.long_wait  # started first in the parallel slurm tier
@pytest.mark.timeout(900)
def test_a_2_gib_upload_streams_with_flat_memory(alice: httpx.Client) -> None:
    size = 2 << 30
    target = Path("/scratch/alice") / f"mg-big-{uuid.uuid4().hex[:8]}.bin"
    chunks = list(_pattern(64 << 20))  # 64 distinct MiB, repeated: kept small in memory here
    expected = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for i in range(size >> 20):
            yield chunks[i % len(chunks)]

    for chunk in body():
        expected.update(chunk)
    started = alice.post(
        f"{BASE}/scratch/uploads",
        json={"path": target.name, "size_bytes": size, "sha256": expected.hexdigest()},
    )
    assert started.status_code == 201, started.text
    baseline, peak, done = _rss_bytes(), [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    began = time.monotonic()
    try:
        sent = alice.patch(
            f"{BASE}/scratch/uploads/{started.json()['id']}",
            content=body(),
            headers={"Upload-Offset": "0", "Content-Length": str(size)},
            timeout=900,
        )
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - began
    try:
        assert sent.status_code == 200, sent.text
        assert sent.json()["complete"] and sent.json()["sha256"] == expected.hexdigest()
        assert target.stat().st_size == size
        growth = peak[0] - baseline
        rate = size / elapsed / 2**20
        print(f"2 GiB upload in {elapsed:.1f} s ({rate:.0f} MiB/s); RSS growth {growth / 2**20:.1f} MiB")
        assert growth < 64 << 20, f"memory grew by {growth / 2**20:.0f} MiB for a 2 GiB upload"
    finally:
        target.unlink(missing_ok=True)
