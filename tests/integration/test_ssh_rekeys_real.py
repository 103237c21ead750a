"""SSH re-keys in the middle of streams, against the dev cluster's real sshd (issue #17: a 2 GiB
download died with "Key-exchange timed out waiting for key negotiation").

paramiko re-keys every 512 MiB received; here the pool's Transport is told to re-key every
256 KiB (``Packetizer.REKEY_BYTES``), so what a 2 GiB transfer meets four times happens hundreds
of times in seconds. The cause (paramiko issue #822, ``runners/rekeying.py``): a CLOSE the server
sent before it read paramiko's KEXINIT was answered by paramiko's transport thread, which then
waited for the very key exchange it had to carry on. Plain paramiko is shown stuck first, then
every way the gateway uses a login's connection is run through re-keys: commands, streamed
downloads and tunnels (the interactive proxy's) whose ends fall in one, a fed upload, all at
once. Each of the four fails without ``RekeySafeTransport``; each checks that the case it is
about was reached (``messages_held``), so a change of timing cannot make it pass vacuously.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import paramiko
import pytest

from myriagate.runners import CertificateAuthority, SshConnectionPool, SshRunner, load_pinned_host_keys
from myriagate.runners.feeds import SshFeeds
from myriagate.runners.rekeying import RekeySafeTransport
from myriagate.runners.streaming import SshStreams
from tests.integration.conftest import DevCluster

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("devcluster")]

REKEY_EVERY = 256 * 1024  # paramiko's own: 512 MiB
STUCK_AFTER_S = 10.0  # paramiko's clear_to_send_timeout is 30 s: a stuck exchange fails sooner here
# Sizes around and across the re-key interval, so commands end at every point of one.
SIZES = [100_000 + 37_813 * i for i in range(40)]


@pytest.fixture
def pool(devcluster: DevCluster) -> Iterator[SshConnectionPool]:
    """A pool of its own, its certificates allowing tunnels as the gateway's do."""
    ca = CertificateAuthority(devcluster.ca_key, permit_port_forwarding=True)
    pool = SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, ca)
    yield pool
    pool.close()


def _rekeying_often(pool: SshConnectionPool, login: str = "alice") -> RekeySafeTransport:
    SshRunner(pool, login).run(["true"])  # logs in
    transport = pool.transport_for(login)
    assert isinstance(transport, RekeySafeTransport)
    transport.packetizer.REKEY_BYTES = REKEY_EVERY
    transport.clear_to_send_timeout = STUCK_AFTER_S
    return transport


def _same_connection_throughout(pool: SshConnectionPool, transport: RekeySafeTransport) -> None:
    stats = pool.stats()
    assert (stats.connects, stats.dead) == (1, 0), stats
    assert pool.transport_for("alice") is transport and transport.is_active()


def _plain_paramiko(devcluster: DevCluster, ca: CertificateAuthority) -> paramiko.Transport:
    """A login as the pool makes it, but on paramiko's own Transport."""
    pinned = load_pinned_host_keys(devcluster.known_hosts, devcluster.ssh_host, devcluster.ssh_port)
    sock = socket.create_connection((devcluster.ssh_host, devcluster.ssh_port), timeout=10)
    transport = paramiko.Transport(sock)
    options = transport.get_security_options()
    options.key_types = [t for t in options.key_types if t in pinned.key_types]
    transport.start_client(timeout=10)
    pinned.verify(transport.get_remote_server_key())
    transport.auth_publickey("alice", ca.key_for("alice").pkey)
    transport.packetizer.REKEY_BYTES = REKEY_EVERY
    transport.clear_to_send_timeout = STUCK_AFTER_S
    return transport


def _cat(transport: paramiko.Transport, size: int) -> int:
    """Bytes read from ``head -c size`` on a channel of ``transport``, as paramiko's docs do it."""
    chan = transport.open_session(timeout=10)
    try:
        chan.settimeout(3 * STUCK_AFTER_S)
        chan.exec_command(f"head -c {size} /dev/zero")
        received = 0
        while data := chan.recv(1 << 16):
            received += len(data)
        return received
    finally:
        chan.close()


def test_plain_paramiko_gets_stuck_when_a_command_ends_during_its_rekey(
    devcluster: DevCluster, ca: CertificateAuthority
) -> None:
    """The defect itself, without any of our code: when this fails, paramiko has fixed #822
    and runners/rekeying.py can go."""
    transport = _plain_paramiko(devcluster, ca)
    try:
        failure: object = None
        for size in SIZES:
            try:
                received = _cat(transport, size)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                failure = exc  # "Key-exchange timed out waiting for key negotiation" (or a timeout)
                break
            if received != size:
                failure = f"{received} of {size} bytes: the connection died under the command"
                break
        assert failure is not None, "paramiko no longer stalls on a CLOSE during its re-key (#822 fixed?)"
        # Its own thread gives up too (after clear_to_send_timeout): the whole connection goes.
        deadline = time.monotonic() + 3 * STUCK_AFTER_S
        while transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not transport.is_active(), f"stuck, then {failure}, yet the connection lives"
    finally:
        transport.close()


def test_commands_ending_during_a_rekey_keep_the_connection(pool: SshConnectionPool) -> None:
    transport = _rekeying_often(pool)
    runner = SshRunner(pool, "alice")
    for size in SIZES:
        assert len(runner.run(["head", "-c", str(size), "/dev/zero"], timeout=30).stdout) == size
    assert transport.messages_held > 0, "no CLOSE came during a re-key: the case was not reached"
    _same_connection_throughout(pool, transport)


def _numbers(lines: int) -> bytes:
    return hashlib.sha256("".join(f"{n}\n" for n in range(1, lines + 1)).encode()).digest()


def _download(pool: SshConnectionPool, lines: int) -> bytes:
    digest = hashlib.sha256()
    with SshStreams(pool, "alice").open(["seq", "1", str(lines)], stdin=b"", idle_timeout=30) as stream:
        while chunk := stream.read():
            digest.update(chunk)
        assert stream.exit_status(10) == 0
    return digest.digest()


def _upload(pool: SshConnectionPool, size: int) -> tuple[bytes, bytes]:
    sent = hashlib.sha256()
    block = bytes(range(256)) * 4096  # 1 MiB
    with SshFeeds(pool, "alice").open(["sha256sum"], head=b"", idle_timeout=30) as feed:
        for _ in range(size >> 20):
            assert feed.write(block)
            sent.update(block)
        answer = feed.answer()
    return answer.split()[0], sent.hexdigest().encode()


def test_streamed_downloads_and_a_fed_upload_cross_rekeys(pool: SshConnectionPool) -> None:
    transport = _rekeying_often(pool)
    lines = 3_000_000  # about 21 MiB of output: some 80 re-keys
    assert _download(pool, lines) == _numbers(lines)
    # Downloads of 110 KB to 1.5 MB end at every point of a re-key; when one's CLOSE fell in a
    # re-key (usually within a few), five more, then done.
    reached = None
    for i, lines in enumerate(range(20_000, 220_000, 3_917)):
        assert _download(pool, lines) == _numbers(lines)
        reached = i if reached is None and transport.messages_held else reached
        if reached is not None and i >= reached + 5:
            break
    assert reached is not None, "no download's CLOSE came during a re-key: the case was not reached"
    got, sent = _upload(pool, 32 << 20)
    assert got == sent
    _same_connection_throughout(pool, transport)


@contextlib.contextmanager
def _app(sizes: Sequence[int]) -> Iterator[int]:
    """The port of a TCP server on 127.0.0.1 (the login node's loopback here), an app answering
    through a tunnel: it reads a request to its end, sends the next of ``sizes`` bytes, closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        answers = iter(sizes)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                while conn.recv(4096):
                    pass
                conn.sendall(bytes(next(answers)))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def _through_tunnel(pool: SshConnectionPool, port: int) -> int:
    """Bytes the app answered: the request is sent and its end marked (EOF), so sshd closes the
    channel as soon as the app has answered and hung up, a CLOSE that paramiko must answer."""
    received = 0
    with pool.tunnel("alice", "127.0.0.1", port) as chan:
        chan.settimeout(3 * STUCK_AFTER_S)
        chan.sendall(b"GET /\r\n\r\n")
        chan.shutdown_write()
        while data := chan.recv(1 << 16):
            received += len(data)
    return received


def test_tunnels_whose_app_closes_during_a_rekey_keep_the_connection(pool: SshConnectionPool) -> None:
    transport = _rekeying_often(pool)
    # Answers of 150-950 KB end at every point of a re-key; when one's CLOSE fell in a re-key
    # (usually within a few), ten more, then done.
    sizes = [150_000 + (37_813 * i) % 800_000 for i in range(200)]
    reached = None
    with _app(sizes) as port:
        for i, size in enumerate(sizes):
            assert _through_tunnel(pool, port) == size
            reached = i if reached is None and transport.messages_held else reached
            if reached is not None and i >= reached + 10:
                break
    assert reached is not None, "no CLOSE came during a re-key in 200 tunnels: the case was not reached"
    _same_connection_throughout(pool, transport)


def test_everything_at_once_on_one_connection_through_rekeys(pool: SshConnectionPool) -> None:
    """A download, an upload, a tunnel and short commands share the Transport, as in the gateway."""
    transport = _rekeying_often(pool)
    errors: list[BaseException] = []

    def guarded(work: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        return threading.Thread(target=run)

    def commands() -> None:
        runner = SshRunner(pool, "alice")
        for size in SIZES[:20]:
            assert len(runner.run(["head", "-c", str(size), "/dev/zero"], timeout=30).stdout) == size

    def download() -> None:
        assert _download(pool, 2_000_000) == _numbers(2_000_000)

    def upload() -> None:
        got, sent = _upload(pool, 24 << 20)
        assert got == sent

    started = time.monotonic()
    with _app([8 << 20]) as port:

        def tunnel() -> None:
            assert _through_tunnel(pool, port) == 8 << 20

        threads = [guarded(download), guarded(upload), guarded(tunnel), guarded(commands)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not [t for t in threads if t.is_alive()], f"stuck after {time.monotonic() - started:.0f} s"
    assert errors == []
    _same_connection_throughout(pool, transport)
