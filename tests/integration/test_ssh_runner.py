"""SshRunner and SshConnectionPool against the dev cluster's real sshd (127.0.0.1:2222)."""

from __future__ import annotations

import resource
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.common import cMSG_CHANNEL_EOF

from myriagate.errors import (
    BackendError,
    ConfigError,
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    UnsafeValue,
)
from myriagate.runners import CertificateAuthority, SshConnectionPool, SshRunner, UserKey
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS
from tests.integration.conftest import DevCluster

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("devcluster")]

PRINTABLE_HOSTILE = [s for s in HOSTILE_STRINGS if "\x00" not in s]
NUL_HOSTILE = [s for s in HOSTILE_STRINGS if "\x00" in s]


@pytest.fixture
def fresh_pool(devcluster: DevCluster, ca: CertificateAuthority) -> Iterator[SshConnectionPool]:
    """A pool of its own, so connection counts start at zero."""
    pool = SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, ca)
    yield pool
    pool.close()


@pytest.fixture
def no_canary() -> Iterator[None]:
    Path(CANARY).unlink(missing_ok=True)
    yield
    assert not Path(CANARY).exists(), "a hostile string was executed"


@pytest.mark.parametrize("login", ["alice", "bob"])
def test_commands_run_as_the_login(ssh_runner_for: Callable[[str], SshRunner], login: str) -> None:
    assert ssh_runner_for(login).run(["id", "-un"]).text == f"{login}\n"


@pytest.mark.parametrize("value", PRINTABLE_HOSTILE)
def test_hostile_argument_arrives_byte_for_byte(
    ssh_runner_for: Callable[[str], SshRunner], value: str, no_canary: None
) -> None:
    result = ssh_runner_for("alice").run(["printf", "%s", value])
    assert result.stdout == value.encode()


def test_hostile_arguments_in_one_argv_stay_separate(
    ssh_runner_for: Callable[[str], SshRunner], no_canary: None
) -> None:
    result = ssh_runner_for("alice").run(["printf", "%s\\0", *PRINTABLE_HOSTILE])
    assert result.stdout.split(b"\0")[:-1] == [s.encode() for s in PRINTABLE_HOSTILE]


@pytest.mark.parametrize("value", NUL_HOSTILE)
def test_argument_with_nul_is_refused_before_anything_is_sent(
    fresh_pool: SshConnectionPool, value: str
) -> None:
    with pytest.raises(UnsafeValue, match="NUL"):
        SshRunner(fresh_pool, "alice").run(["printf", "%s", value])
    assert fresh_pool.stats().connects == 0


def test_exit_status_and_stderr_come_back(ssh_runner_for: Callable[[str], SshRunner]) -> None:
    runner = ssh_runner_for("bob")
    result = runner.run(["sh", "-c", "echo out; echo err >&2; exit 7"], check=False)
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    with pytest.raises(SchedulerRejected) as info:
        runner.run(["sh", "-c", "echo '  sbatch: error: Invalid account  ' >&2; exit 1"])
    assert info.value.detail == "sbatch: error: Invalid account"


def test_stdin_large_stdout_and_stderr_do_not_deadlock(ssh_runner_for: Callable[[str], SshRunner]) -> None:
    payload = bytes(range(256)) * 20_000  # 5 MB, more than the SSH window, echoed back at the same time
    script = "head -c 3000000 /dev/zero >&2; cat"
    result = ssh_runner_for("alice").run(["sh", "-c", script], stdin=payload, timeout=60)
    assert result.stdout == payload
    assert len(result.stderr) == 3_000_000


def test_second_command_reuses_the_transport(fresh_pool: SshConnectionPool) -> None:
    runner = SshRunner(fresh_pool, "alice")
    runner.run(["true"])
    first = fresh_pool.transport_for("alice")
    runner.run(["true"])
    stats = fresh_pool.stats()
    assert (stats.connects, stats.channels, stats.open_transports) == (1, 2, 1)
    assert fresh_pool.transport_for("alice") is first


def test_each_login_has_its_own_transport(fresh_pool: SshConnectionPool) -> None:
    assert SshRunner(fresh_pool, "alice").run(["id", "-un"]).text == "alice\n"
    assert SshRunner(fresh_pool, "bob").run(["id", "-un"]).text == "bob\n"
    assert SshRunner(fresh_pool, "alice").run(["id", "-un"]).text == "alice\n"
    assert fresh_pool.stats().connects == 2


def test_eight_concurrent_submitters_share_one_transport(fresh_pool: SshConnectionPool) -> None:
    # Quick commands, half of them given stdin they never read: the server closes their
    # channels while we still write, which once made sshd drop the shared connection.
    runner = SshRunner(fresh_pool, "alice")
    outputs: list[bytes] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                stdin = b"x" * 100 if n % 2 else None
                outputs.append(runner.run(["printf", "%s", f"{n}-{i}"], stdin=stdin).stdout)
                runner.run(["true"], stdin=stdin)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(outputs) == sorted(f"{n}-{i}".encode() for n in range(8) for i in range(20))
    stats = fresh_pool.stats()
    assert (stats.connects, stats.dead, stats.channels) == (1, 0, 320)


def test_pool_reconnects_when_the_transport_was_closed_under_it(fresh_pool: SshConnectionPool) -> None:
    runner = SshRunner(fresh_pool, "alice")
    runner.run(["true"])
    transport = fresh_pool.transport_for("alice")
    assert transport is not None
    transport.close()
    assert runner.run(["id", "-un"]).text == "alice\n"
    stats = fresh_pool.stats()
    assert (stats.connects, stats.dead) == (2, 1)


def test_pool_reconnects_when_the_link_drops(fresh_pool: SshConnectionPool) -> None:
    runner = SshRunner(fresh_pool, "alice")
    runner.run(["true"])
    transport = fresh_pool.transport_for("alice")
    assert transport is not None
    # The socket dies without paramiko being told: the Transport may still look active.
    transport.sock.shutdown(socket.SHUT_RDWR)
    assert runner.run(["id", "-un"]).text == "alice\n"
    stats = fresh_pool.stats()
    assert (stats.connects, stats.dead) == (2, 1)


def test_connection_lost_while_the_command_runs_is_uncertain(fresh_pool: SshConnectionPool) -> None:
    runner = SshRunner(fresh_pool, "alice")
    runner.run(["true"])
    transport = fresh_pool.transport_for("alice")
    assert transport is not None
    timer = threading.Timer(0.5, transport.sock.shutdown, args=(socket.SHUT_RDWR,))
    timer.start()
    started = time.monotonic()
    with pytest.raises(SubmissionUncertain, match="may have run"):
        runner.run(["sleep", "5"], timeout=30)
    timer.join()
    assert time.monotonic() - started < 4
    assert runner.run(["id", "-un"]).text == "alice\n"


def test_connection_dying_while_stdin_eof_is_sent_is_uncertain(fresh_pool: SshConnectionPool) -> None:
    """The network dies just as the runner sends stdin's EOF: paramiko's socket write raises
    EOFError before its own thread has seen the connection go. The command was sent and may
    have run: SubmissionUncertain, never a bare EOFError (which the submission service does not
    take for a lost reply). Seen under load as test_uncertain_submission's cut at 8 ms."""
    runner = SshRunner(fresh_pool, "alice")
    runner.run(["true"])
    transport = fresh_pool.transport_for("alice")
    assert transport is not None
    send = transport._send_message

    def dying(message: paramiko.Message) -> None:
        if message.asbytes()[:1] == cMSG_CHANNEL_EOF:
            transport.sock.shutdown(socket.SHUT_RDWR)
            raise EOFError  # what paramiko's Packetizer raises when the socket write fails
        send(message)

    transport._send_message = dying
    started = time.monotonic()
    with pytest.raises(SubmissionUncertain, match="may have run"):
        runner.run(["cat"], stdin=b"input", timeout=30)
    assert time.monotonic() - started < 10
    assert runner.run(["id", "-un"]).text == "alice\n"  # a new connection


def _wait_closed(transport: object, within_s: float) -> float:
    """Seconds until ``transport`` is closed (nothing else touching the pool meanwhile)."""
    started = time.monotonic()
    while transport.is_active() and time.monotonic() - started < within_s:  # type: ignore[attr-defined]
        time.sleep(0.05)
    return time.monotonic() - started


def test_connection_closes_when_its_certificate_expires_and_the_next_command_logs_in_again(
    devcluster: DevCluster,
) -> None:
    """Catalog S19: sshd checks a certificate only at login, so the pool
    closes a connection itself when its certificate expires, even with nobody using it; the
    next command logs in again with a freshly signed certificate."""
    short = CertificateAuthority(devcluster.ca_key, validity_s=5, renew_before_s=1)
    pool = SshConnectionPool(
        devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, short, retire_before_expiry_s=0.5
    )
    try:
        runner = SshRunner(pool, "alice")
        assert runner.run(["id", "-un"]).text == "alice\n"
        first, first_cert = pool.transport_for("alice"), short.key_for("alice")
        assert first is not None
        waited = _wait_closed(first, within_s=10)
        assert not first.is_active(), "the connection outlived its certificate"
        assert waited < 6
        assert pool.stats().open_transports == 0
        time.sleep(max(0.0, first_cert.valid_before - time.time()))  # past the first certificate's end
        assert runner.run(["id", "-un"]).text == "alice\n"
        assert short.key_for("alice").key_id != first_cert.key_id
        stats = pool.stats()
        assert (stats.connects, stats.retired, stats.open_transports) == (2, 1, 1)
    finally:
        pool.close()


def test_idle_connection_is_closed_and_replaced(devcluster: DevCluster, ca: CertificateAuthority) -> None:
    pool = SshConnectionPool(
        devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, ca, max_idle_s=0.5
    )
    try:
        runner = SshRunner(pool, "bob")
        runner.run(["true"])
        first = pool.transport_for("bob")
        assert first is not None
        _wait_closed(first, within_s=5)
        assert not first.is_active()  # closed by the pool on time, not leaked until the next use
        runner.run(["true"])
        stats = pool.stats()
        assert (stats.connects, stats.retired) == (2, 1)
    finally:
        pool.close()


def test_forgetting_a_login_closes_its_connections_at_once(fresh_pool: SshConnectionPool) -> None:
    """Catalog S19: what a disabled user's login had open is closed now,
    a command in flight included; other logins keep theirs; the next use logs in again."""
    alice, bob = SshRunner(fresh_pool, "alice"), SshRunner(fresh_pool, "bob")
    alice.run(["true"])
    bob.run(["true"])
    alices, bobs = fresh_pool.transport_for("alice"), fresh_pool.transport_for("bob")
    outcome: list[BaseException] = []

    def long_command() -> None:
        try:
            alice.run(["sleep", "30"], timeout=60)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=long_command)
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert fresh_pool.forget("alice") == 1
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], SubmissionUncertain)
    assert alices is not None and not alices.is_active()
    assert bobs is not None and bobs.is_active()
    assert alice.run(["id", "-un"]).text == "alice\n"
    assert fresh_pool.stats().connects == 3


def test_timeout_is_transient_uncertain_and_kills_the_remote_command(
    ssh_runner_for: Callable[[str], SshRunner],
) -> None:
    runner = ssh_runner_for("alice")
    started = time.monotonic()
    with pytest.raises(SubmissionUncertain) as info:
        runner.run(["sleep", "987"], timeout=1.0)
    assert time.monotonic() - started < 5
    assert info.value.transient
    assert isinstance(info.value, SchedulerUnavailable)
    deadline = time.monotonic() + 5
    while _pgrep("alice", "sleep 987") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pgrep("alice", "sleep 987") == []
    assert runner.run(["id", "-un"]).text == "alice\n"  # the connection is still fine


def test_hundred_megabytes_of_output_are_refused_without_memory_blow_up(
    ssh_runner_for: Callable[[str], SshRunner],
) -> None:
    runner = ssh_runner_for("alice")
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BackendError, match="more than 16777216 bytes on stdout") as info:
        runner.run(["head", "-c", "100000000", "/dev/zero"], timeout=60)
    assert not info.value.transient
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert grown_mib < 80, f"peak memory grew by {grown_mib:.0f} MiB"
    assert runner.run(["id", "-un"]).text == "alice\n"


def test_unknown_host_key_is_refused(
    devcluster: DevCluster, ca: CertificateAuthority, tmp_path: Path
) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    line = other.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{devcluster.ssh_host}]:{devcluster.ssh_port} {line}\n")
    pool = SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, known_hosts, ca)
    try:
        with pytest.raises(ConfigError, match="CHANGED"):
            SshRunner(pool, "alice").run(["true"])
        assert pool.stats().open_transports == 0
    finally:
        pool.close()


def test_host_without_pinned_key_is_refused_at_startup(
    devcluster: DevCluster, ca: CertificateAuthority, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text((devcluster.known_hosts.read_text()).replace(str(devcluster.ssh_port), "2223"))
    with pytest.raises(ConfigError, match="no host key pinned"):
        SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, known_hosts, ca)


class _AlwaysAlice:
    """A key source that hands out alice's certificate whatever login is asked for."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self._ca = ca

    def key_for(self, login: str) -> UserKey:
        return self._ca.key_for("alice")


def test_certificate_for_alice_cannot_log_in_as_bob(devcluster: DevCluster, ca: CertificateAuthority) -> None:
    pool = SshConnectionPool(
        devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, _AlwaysAlice(ca)
    )
    try:
        with pytest.raises(PermissionDenied, match="'bob'"):
            SshRunner(pool, "bob").run(["id", "-un"])
        assert SshRunner(pool, "alice").run(["id", "-un"]).text == "alice\n"
    finally:
        pool.close()


def test_unreachable_port_did_not_start(
    devcluster: DevCluster, ca: CertificateAuthority, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(devcluster.known_hosts.read_text().replace(f":{devcluster.ssh_port} ", ":1 "))
    pool = SshConnectionPool(devcluster.ssh_host, 1, known_hosts, ca, connect_timeout=2)
    try:
        with pytest.raises(SchedulerUnavailable) as info:
            SshRunner(pool, "alice").run(["true"])
        assert not isinstance(info.value, SubmissionUncertain)
        assert info.value.transient
    finally:
        pool.close()


def _pgrep(login: str, pattern: str) -> list[str]:
    result = subprocess.run(
        ["pgrep", "-u", login, "-f", pattern], capture_output=True, text=True, check=False
    )
    return result.stdout.split()
