"""Cluster files (issue #17) through the real API (uvicorn on a free port) on the dev cluster's
sshd, as alice's own login: hostile names made by alice, a link out of her area, files of
bob's that the cluster itself refuses her, a 10,000-entry directory paged, a 400 MiB and a
2 GiB download with this process's memory watched (the 2 GiB one crosses four of paramiko's SSH
re-keys, each every 512 MiB received: tests/integration/test_ssh_rekeys_real.py re-keys often)."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from myriagate.runners import SshRunner
from tests.fakes.hostile import CANARY, HOSTILE_BYTES, HOSTILE_STRINGS
from tests.integration import test_api_real_cluster as api_real

# The real gateway, its uvicorn server and alice's API client, as the API's own real tests use.
gateway, server, alice = api_real.gateway, api_real.server, api_real.alice

pytestmark = pytest.mark.slurm
BASE = "/clusters/devcluster/files"
# '/' separates names: the payloads keep their shape with '_' ($(touch _tmp_myriagate-pwned)).
HOSTILE_NAMES = [s.replace("/", "_").encode() for s in HOSTILE_STRINGS if "\x00" not in s] + HOSTILE_BYTES
# Run as alice over SSH: makes the names it reads as hex on stdin (none on the command line).
MAKE_FILES = """
import json, os, sys
req = json.load(sys.stdin)
base = req["base"].encode()
os.makedirs(base, exist_ok=True)
for name, size in req["files"]:
    path = base + b"/" + bytes.fromhex(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20)) if size > 4096 else b"x" * left
            f.write(chunk)
            left -= len(chunk)
for name, target in req.get("links", []):
    os.symlink(target, base + b"/" + bytes.fromhex(name))
"""


@pytest.fixture
def workdir(ssh_runner_for: Callable[[str], SshRunner]) -> Iterator[tuple[str, Callable[..., None]]]:
    """A fresh directory in alice's home, and a way to fill it as alice."""
    name = f"mg-files-{uuid.uuid4().hex[:8]}"
    runner = ssh_runner_for("alice")

    def make(files: list[tuple[bytes, int]], links: list[tuple[bytes, str]] = ()) -> None:  # type: ignore[assignment]
        request = {
            "base": f"/home/alice/{name}",
            "files": [[n.hex(), size] for n, size in files],
            "links": [[n.hex(), target] for n, target in links],
        }
        runner.run(["/usr/bin/python3", "-c", MAKE_FILES], stdin=json.dumps(request).encode(), timeout=300)

    make([])
    yield name, make
    shutil.rmtree(f"/home/alice/{name}", ignore_errors=True)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["code"] == code
    return body


def test_hostile_names_made_on_the_cluster_are_listed_literally_and_read_back(
    alice: httpx.Client, workdir: tuple[str, Callable[..., None]]
) -> None:
    name, make = workdir
    make([(n, i + 1) for i, n in enumerate(HOSTILE_NAMES)])
    body = alice.get(f"{BASE}/home/list", params={"path": name}).json()
    assert body["total"] == len(HOSTILE_NAMES)
    shown = {e["name"]: e for e in body["entries"]}
    payload = b"$(touch _tmp_myriagate-pwned)"
    assert shown[payload.decode()]["size_bytes"] == HOSTILE_NAMES.index(payload) + 1
    assert "x\\ntouch _tmp_myriagate-pwned" in shown and "caf\\xe9" in shown and "-J evil" in shown
    assert not Path(CANARY).exists()
    assert not Path("/home/alice/_tmp_myriagate-pwned").exists()  # where a payload run would touch
    for entry in body["entries"]:
        if entry["exact"]:  # a name that is plain text can be asked for as it is shown
            got = alice.get(f"{BASE}/home/download", params={"path": entry["path"]})
            assert got.status_code == 200 and len(got.content) == entry["size_bytes"]
        else:  # newline, control character or not UTF-8: refused as a path, clearly
            _problem(alice.get(f"{BASE}/home/stat", params={"path": entry["path"]}), 404, "not_found")


def test_a_link_out_of_the_area_is_shown_and_refused(
    alice: httpx.Client, workdir: tuple[str, Callable[..., None]]
) -> None:
    name, make = workdir
    make([(b"inside.txt", 3)], links=[(b"to-bob", "/home/bob"), (b"to-passwd", "/etc/passwd")])
    entries = {e["name"]: e for e in alice.get(f"{BASE}/home/list", params={"path": name}).json()["entries"]}
    assert entries["to-bob"]["type"] == "symlink" and entries["to-bob"]["link_target"] == "/home/bob"
    _problem(alice.get(f"{BASE}/home/list", params={"path": f"{name}/to-bob"}), 422, "unsafe_value")
    _problem(alice.get(f"{BASE}/home/download", params={"path": f"{name}/to-passwd"}), 422, "unsafe_value")
    _problem(
        alice.get(f"{BASE}/home/preview", params={"path": f"{name}/to-bob/.bashrc"}), 422, "unsafe_value"
    )
    _problem(alice.get(f"{BASE}/home/list", params={"path": "../bob"}), 422, "unsafe_value")


def test_bobs_files_inside_alices_area_are_refused_by_the_cluster_itself(
    alice: httpx.Client, workdir: tuple[str, Callable[..., None]]
) -> None:
    name, _make = workdir
    here = Path(f"/home/alice/{name}")
    secret = here / "bobs-secret.txt"
    secret.write_text("bob's only\n")
    shutil.chown(secret, "bob", "bob")
    secret.chmod(0o600)
    private = here / "bobs-dir"
    private.mkdir(mode=0o700)
    (private / "inner.txt").write_text("bob's too\n")
    shutil.chown(private, "bob", "bob")
    listed = {e["name"] for e in alice.get(f"{BASE}/home/list", params={"path": name}).json()["entries"]}
    assert {"bobs-secret.txt", "bobs-dir"} <= listed  # her directory: she sees the names
    _problem(
        alice.get(f"{BASE}/home/download", params={"path": f"{name}/bobs-secret.txt"}),
        403,
        "permission_denied",
    )
    _problem(
        alice.get(f"{BASE}/home/preview", params={"path": f"{name}/bobs-secret.txt"}),
        403,
        "permission_denied",
    )
    _problem(alice.get(f"{BASE}/home/list", params={"path": f"{name}/bobs-dir"}), 403, "permission_denied")
    # alice's own scratch is 0700 and hers: read as alice (never as the service login), it lists.
    assert alice.get(f"{BASE}/scratch/list").status_code == 200


def test_a_directory_of_10000_entries_is_listed_in_pages(
    alice: httpx.Client, workdir: tuple[str, Callable[..., None]]
) -> None:
    name, make = workdir
    make([(f"many/f{i:05d}.dat".encode(), 0) for i in range(10_000)])
    seen: list[str] = []
    cursor = None
    started = time.monotonic()
    while True:
        params: dict[str, str | int] = {"path": f"{name}/many", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = alice.get(f"{BASE}/home/list", params=params).json()
        assert page["total"] == 10_000
        seen += [e["name"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    elapsed = time.monotonic() - started
    assert seen == [f"f{i:05d}.dat" for i in range(10_000)]
    assert elapsed < 30, f"10 pages of 1,000 took {elapsed:.1f} s"
    whole = alice.get(f"{BASE}/home/list", params={"path": f"{name}/many", "limit": 10_000}).json()
    assert len(whole["entries"]) == 10_000 and whole["next_cursor"] is None


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.long_wait  # about a minute: started first in the parallel slurm tier
@pytest.mark.parametrize("size", [400 << 20, 2 << 30], ids=["400MiB", "2GiB"])
def test_a_large_download_streams_with_flat_memory_and_ranges(
    alice: httpx.Client, workdir: tuple[str, Callable[..., None]], size: int
) -> None:
    name, make = workdir
    make([(b"big.bin", size)])
    local = Path(f"/home/alice/{name}/big.bin")  # the same file, read directly to compare
    expected = hashlib.sha256()
    with local.open("rb") as f:
        while chunk := f.read(1 << 20):
            expected.update(chunk)
    baseline = _rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    got = hashlib.sha256()
    received = 0
    started = time.monotonic()
    try:
        with alice.stream("GET", f"{BASE}/home/download", params={"path": f"{name}/big.bin"}) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(size)
            for chunk in response.iter_bytes():
                got.update(chunk)
                received += len(chunk)
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - started
    assert received == size and got.hexdigest() == expected.hexdigest()
    growth = peak[0] - baseline
    print(f"{size >> 20} MiB in {elapsed:.1f} s; peak RSS growth {growth / 2**20:.1f} MiB")
    assert growth < 64 * 1024 * 1024, f"memory grew by {growth / 2**20:.0f} MiB for a {size >> 20} MiB file"
    part = alice.get(
        f"{BASE}/home/download",
        params={"path": f"{name}/big.bin"},
        headers={"Range": "bytes=150000000-150000099"},
    )
    assert part.status_code == 206
    with local.open("rb") as f:
        f.seek(150_000_000)
        assert part.content == f.read(100)
    assert part.headers["content-range"] == f"bytes 150000000-150000099/{size}"


def _far_side_reads_of(login: str, path: Path) -> list[int]:
    """Processes of ``login`` running the file browser's ``read`` (python3 -I -S -c … read) with
    ``path`` open: only this test's, not another test's download as the same login beside it
    (CI at 28a1517 failed on one)."""
    uid = pwd.getpwnam(login).pw_uid
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
            owner = Path(f"/proc/{pid}").stat().st_uid
            if owner != uid or argv[-1:] != [b"read"] or b"-I" not in argv:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
            opened = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds if fd.isdigit()}
        except OSError:
            continue
        if str(path) in opened:
            found.append(int(pid))
    return found


def test_a_client_that_leaves_mid_download_stops_the_far_side(
    alice: httpx.Client, workdir: tuple[str, Callable[..., None]]
) -> None:
    name, make = workdir
    # Larger than every buffer on the way (loopback sockets autotune up to 32 MiB here, sshd and
    # SSH windows a few MiB): the far side is still sending when the client leaves.
    make([(b"big.bin", 256 * 1024 * 1024)])
    big = Path(f"/home/alice/{name}/big.bin")
    with alice.stream("GET", f"{BASE}/home/download", params={"path": f"{name}/big.bin"}) as response:
        chunks = response.iter_raw()  # kept: a dropped iterator closes the response at once
        next(chunks)
        time.sleep(0.5)
        assert _far_side_reads_of("alice", big), "the far side should still be sending (held back)"
    # The response closed with most of the file unread: the connection goes, and the gateway
    # stops reading and kills the far side.
    deadline = time.monotonic() + 15
    while _far_side_reads_of("alice", big) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _far_side_reads_of("alice", big) == []
