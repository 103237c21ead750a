"""SlurmRestBackend against the dev cluster's real slurmrestd (issue #16, "Bad input and faults").

- what the job really gets: it runs as the researcher, in their home, with their environment
  and ``--export`` values, never the gateway's;
- forged, expired and borrowed tokens are refused by slurmrestd itself and become
  PermissionDenied, logged;
- a slurmrestd stopped mid-way (a private instance on its own port, started and stopped by
  this test: the shared one on 6820 is never touched) makes the cluster unavailable, nothing is
  created meanwhile, and the retry after it is back submits exactly once;
- an answer dropped after slurmrestd received a submission is uncertain, and the tag finds
  the one job it created.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from structlog.testing import capture_logs

from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import PermissionDenied, SchedulerUnavailable, SubmissionUncertain
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_tokens import JwtMinter, read_key
from tests.contract.conftest import JWT_KEY, REST_URL

pytestmark = pytest.mark.slurm

RESTD = "/usr/sbin/slurmrestd"


def _backend(token_for: Callable[[str], str], url: str = REST_URL, timeout_s: float = 30) -> SlurmRestBackend:
    from myriagate.runners import LocalRunner

    files = SlurmCliBackend(LocalRunner(as_login="alice"))
    return SlurmRestBackend(SlurmRestClient(url, token_for, timeout_s=timeout_s), "alice", files=files)


@pytest.fixture
def key(devcluster: object) -> bytes:
    if not JWT_KEY.exists():
        pytest.skip(f"{JWT_KEY} is missing: a dev cluster without slurmrestd (bash deploy/devcluster/up.sh)")
    return read_key(JWT_KEY)


def _script(body: str, *options: str) -> RenderedScript:
    return RenderedScript(f"#!/bin/sh\n{body}\n", ("--partition=debug", "--time=2", "--ignore-pbs", *options))


def _jobs_tagged(tag: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i %k"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.endswith(f" {tag}")]


def _wait_final(backend: SlurmRestBackend, job_id: str, timeout_s: float = 90) -> JobState:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = backend.status([job_id]).get(job_id)
        if status is not None and status.state is not None and status.state.is_final:
            return status.state
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end in {timeout_s:g} s")


def test_a_job_runs_as_the_researcher_with_their_environment_not_the_gateways(
    key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYRIAGATE_SECRET_KEY", "gateway-secret-never-in-a-job")
    backend = _backend(JwtMinter(key).token)
    out = Path(f"/tmp/mg-rest-{uuid.uuid4().hex}.out")
    job_id = backend.submit(
        _script("id -un\npwd\nenv", f"--output={out}", "--export=ALL,MG_PROBE=42", "--mem=100M"),
        tag=f"mg:{uuid.uuid4()}",
    )
    try:
        assert _wait_final(backend, job_id) is JobState.COMPLETED
        lines = out.read_text().splitlines()
    finally:
        out.unlink(missing_ok=True)
    assert lines[:2] == ["alice", "/home/alice"]
    env = dict(line.split("=", 1) for line in lines[2:] if "=" in line)
    assert (env["MG_PROBE"], env["HOME"], env["USER"]) == ("42", "/home/alice", "alice")
    assert "MYRIAGATE_SECRET_KEY" not in env and "gateway-secret" not in "\n".join(lines)


def _forged(login: str) -> str:
    now = int(time.time())
    return jwt.encode(
        {"sun": login, "iat": now, "exp": now + 60}, b"not the cluster's key, 32 bytes!", "HS256"
    )


def _expired(key: bytes) -> Callable[[str], str]:
    def token(login: str) -> str:
        now = int(time.time())
        return jwt.encode({"sun": login, "iat": now - 600, "exp": now - 300}, key, "HS256")

    return token


@pytest.mark.parametrize("how", ["forged", "expired", "another login's"])
def test_a_token_slurm_does_not_accept_is_refused_and_logged(key: bytes, how: str) -> None:
    minter = JwtMinter(key)
    token_for = {
        "forged": _forged,
        "expired": _expired(key),
        "another login's": lambda _login: minter.token("bob"),  # bob's token, alice's name
    }[how]
    backend = _backend(token_for)

    with capture_logs() as logs, pytest.raises(PermissionDenied):
        backend.status(["1"])
    with pytest.raises(PermissionDenied):
        backend.submit(_script("true", "--hold"), tag=f"mg:{uuid.uuid4()}")
    assert any(e["event"] == "slurmrestd.token_refused" and e["login"] == "alice" for e in logs)


# --- slurmrestd stopped mid-way --------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateSlurmrestd:
    """slurmrestd on its own loopback port, as the dev cluster runs it (user slurmrestd,
    SLURM_JWT=daemon), started and stopped by this test through its own process id."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, minter: JwtMinter) -> None:
        plugins = ("-a", "rest_auth/jwt", "-s", "openapi/v0.0.38,openapi/dbv0.0.38")
        argv = [
            "runuser",
            "-u",
            "slurmrestd",
            "--",
            "env",
            "SLURM_JWT=daemon",
            RESTD,
            *plugins,
            f"127.0.0.1:{self.port}",
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = _backend(minter.token, self.url, timeout_s=5)
        deadline = time.monotonic() + 20
        while not probe.ping().reachable:
            assert time.monotonic() < deadline, "the private slurmrestd did not start"
            time.sleep(0.2)
        probe.client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def private_restd(key: bytes) -> Iterator[PrivateSlurmrestd]:
    if os.geteuid() != 0 or not Path(RESTD).exists():
        pytest.skip("needs root and slurmrestd to start a private instance")
    restd = PrivateSlurmrestd()
    restd.start(JwtMinter(key))
    yield restd
    restd.stop()


def test_slurmrestd_stopped_mid_way_is_unavailable_and_the_retry_submits_once(
    key: bytes, private_restd: PrivateSlurmrestd
) -> None:
    minter = JwtMinter(key)
    # A stopped slurmrestd refuses connections at once; the tag lookup after its restart reads
    # 30 days of the shared dev cluster's accounting, which takes seconds when the slurm tier
    # runs beside it (a 5 s timeout lost that answer in CI).
    backend = _backend(minter.token, private_restd.url, timeout_s=60)
    first = backend.submit(_script("sleep 60", "--hold"), tag=f"mg:{uuid.uuid4()}")
    tag = f"mg:{uuid.uuid4()}"
    try:
        private_restd.stop()

        with pytest.raises(SchedulerUnavailable) as down:
            backend.status([first])
        assert down.value.transient
        with pytest.raises(SchedulerUnavailable) as refused:
            backend.submit(_script("sleep 60", "--hold"), tag=tag)
        assert not isinstance(refused.value, SubmissionUncertain)  # nothing was sent
        assert not backend.ping().reachable
        assert _jobs_tagged(tag) == []

        private_restd.start(minter)  # back: the caller retries
        assert backend.status([first])[first].state is JobState.PENDING
        assert backend.find_by_tag(tag) is None
        second = backend.submit(_script("sleep 60", "--hold"), tag=tag)
        assert _jobs_tagged(tag) == [second]
    finally:
        for job_id in [first, *_jobs_tagged(tag)]:
            subprocess.run(["scancel", job_id], check=False)


# --- an answer dropped after the submission was received -----------------------------------
class DroppingProxy:
    """Forwards one HTTP request to slurmrestd, waits for its whole answer, then closes the
    client's connection without passing the answer on: the reply lost on its way back."""

    def __init__(self, target_port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target_port = target_port
        self.forwarded = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                with client, socket.create_connection(("127.0.0.1", self.target_port), timeout=30) as up:
                    request = _read_http(client)
                    up.sendall(request)
                    self.forwarded += 1
                    _read_http(up)  # slurmrestd answered: the job exists
                    client.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )

    def close(self) -> None:
        self.listener.close()


def _read_http(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_answer_dropped_after_a_submit_is_uncertain_and_the_tag_finds_the_one_job(key: bytes) -> None:
    proxy = DroppingProxy(int(REST_URL.rsplit(":", 1)[1]))
    minter = JwtMinter(key)
    dropping = _backend(minter.token, f"http://127.0.0.1:{proxy.port}", timeout_s=10)
    tag = f"mg:{uuid.uuid4()}"
    try:
        with pytest.raises(SubmissionUncertain):
            dropping.submit(_script("sleep 60", "--hold"), tag=tag)
        assert proxy.forwarded == 1

        found = _backend(minter.token).find_by_tag(tag)  # what the caller does before any retry

        assert found is not None and _jobs_tagged(tag) == [found]
    finally:
        proxy.close()
        for job_id in _jobs_tagged(tag):
            subprocess.run(["scancel", job_id], check=False)
