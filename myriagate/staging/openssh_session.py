"""OpenSSH connections for the stager: one ControlMaster per (host, port, login, known_hosts).

The master authenticates once with the gateway's short-lived certificate: the key and the
certificate are written to a fresh 0700 directory, ``ssh -M`` connects, and both files are
deleted as soon as the master is up (multiplexed sessions need no key). Every later command of
every transfer to that endpoint is a session on that connection, so a command costs a few
milliseconds instead of a handshake. The command lines themselves are built in
``ssh_command``.

A master lives as long as its certificate: it is retired (no new session) shortly before the
certificate expires and closed as soon as its last session ends; ``forget(login)`` closes a
login's masters at once (a disabled user). sshd checks a certificate only at login, so without
this an open master would outlive it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from myriagate.errors import ConfigError, StagingError, Text
from myriagate.ports import RemoteTree
from myriagate.staging.ssh_command import (
    check_tree,
    connection_error,
    describe,
    safe_option_path,
    ssh_options,
)

# Retire a master this long before its certificate expires.
DEFAULT_RETIRE_BEFORE_EXPIRY_S = 10.0
_REAP_MAX_WAIT_S = 60.0


class CertifiedKey(Protocol):
    """What ``runners.certificates.UserKey`` provides to OpenSSH tools."""

    @property
    def certificate(self) -> str: ...

    @property
    def openssh_private_key(self) -> str: ...

    @property
    def valid_before(self) -> int: ...


class KeySource(Protocol):
    """Hands out a certified key for a login (``runners.CertificateAuthority`` is one)."""

    def key_for(self, login: str) -> CertifiedKey: ...


@dataclass
class ControlMaster:
    """One ``ssh -M -N`` process we own, and the socket its sessions use."""

    tree: RemoteTree
    process: subprocess.Popen[bytes]
    workdir: Path
    socket: Path
    options: list[str]
    ssh: str
    retire_at: float = float("inf")  # wall clock: its certificate's end less a margin
    in_use: int = 0  # sessions started through ``SshSessions.session`` and not ended
    retired: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None and self.socket.exists()

    def argv(self, remote: str) -> list[str]:
        """argv of one session on this connection running ``remote`` (already shell-joined)."""
        return [self.ssh, *self.options, "-S", str(self.socket), "-o", "ControlMaster=no", "--",
                self.tree.host, remote]  # fmt: skip

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


class SshSessions:
    """ControlMasters by endpoint; thread-safe; ``close()`` ends every master it started."""

    def __init__(
        self,
        keys: KeySource,
        *,
        connect_timeout_s: float = 10.0,
        ssh: str = "ssh",
        ciphers: str | None = None,
        retire_before_expiry_s: float = DEFAULT_RETIRE_BEFORE_EXPIRY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ciphers is not None and not re.fullmatch(r"[a-z0-9@.,-]+", ciphers):
            raise ConfigError(f"ssh ciphers {ciphers!r} must be a comma-separated list of cipher names")
        self._ciphers = ciphers
        self._keys = keys
        self._timeout = connect_timeout_s
        self._ssh = ssh
        self._margin_s = retire_before_expiry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._reaper: threading.Thread | None = None
        self._closed = False
        self._masters: dict[tuple[str, int, str, str], ControlMaster] = {}
        self._retired: list[ControlMaster] = []  # sessions still running on them
        self.connects = 0  # handshakes made: what reuse saves

    @contextlib.contextmanager
    def session(self, tree: RemoteTree, remote: str) -> Iterator[list[str]]:
        """argv of a session on the endpoint's master running ``remote`` (shell-joined); the
        master is not closed for expiry before the block ends (the process must be done)."""
        master = self._acquire(tree)
        try:
            yield master.argv(remote)
        finally:
            self._release(master)

    def _acquire(self, tree: RemoteTree) -> ControlMaster:
        check_tree(tree)
        key = (tree.host, tree.port, tree.login, str(tree.known_hosts))
        doomed: list[ControlMaster] = []
        try:
            with self._lock:
                if self._closed:
                    raise StagingError("the stager is closed")
                current = self._masters.get(key)
                if current is not None and current.alive() and self._clock() < current.retire_at:
                    current.in_use += 1
                    return current
                if current is not None:
                    del self._masters[key]
                    doomed += self._retire(current)
                fresh = self._start(tree)
                fresh.in_use = 1
                self._masters[key] = fresh
                self._start_reaper()
                self._wake.notify_all()
                return fresh
        finally:
            for master in doomed:
                master.close()

    def _release(self, master: ControlMaster) -> None:
        with self._lock:
            master.in_use -= 1
            close = master.retired and master.in_use == 0 and master in self._retired
            if close:
                self._retired.remove(master)
        if close:
            master.close()

    def _retire(self, master: ControlMaster) -> list[ControlMaster]:
        """No new session on ``master``; the masters to close now (caller holds the lock)."""
        master.retired = True
        if master.in_use == 0:
            return [master]
        self._retired.append(master)
        return []

    def forget(self, login: str) -> int:
        """Close every master of ``login`` now, sessions in flight included (their transfers
        end as connection lost and resume later). Returns how many were closed."""
        with self._lock:
            doomed = [m for m in (*self._masters.values(), *self._retired) if m.tree.login == login]
            self._masters = {k: m for k, m in self._masters.items() if m.tree.login != login}
            self._retired = [m for m in self._retired if m.tree.login != login]
            for master in doomed:
                master.retired = True
        for master in doomed:
            master.close()
        return len(doomed)

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="ssh-master-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        """Retire masters when their certificate is about to expire, used or not."""
        while True:
            with self._lock:
                while not self._closed:
                    now = self._clock()
                    doomed: list[ControlMaster] = []
                    for key, master in list(self._masters.items()):
                        if now >= master.retire_at or not master.alive():
                            del self._masters[key]
                            doomed += self._retire(master)
                    if doomed:
                        break
                    waits = [_REAP_MAX_WAIT_S, *(m.retire_at - now for m in self._masters.values())]
                    self._wake.wait(max(0.0, min(waits)) + 0.01)
                else:
                    return
            for master in doomed:
                master.close()

    def _key_files(self, tree: RemoteTree) -> tuple[Path, Path, Path, float]:
        """A fresh 0700 directory holding the login's key and certificate: (dir, key, cert,
        the certificate's end)."""
        user_key = self._keys.key_for(tree.login)
        workdir = Path(tempfile.mkdtemp(prefix="mg-ssh-"))  # mkdtemp: mode 0700, ours only
        safe_option_path(workdir, "temporary directory")
        key_file, cert_file = workdir / "id", workdir / "id-cert.pub"
        key_file.touch(mode=0o600)
        key_file.write_text(user_key.openssh_private_key)
        cert_file.write_text(user_key.certificate + "\n")
        return workdir, key_file, cert_file, float(user_key.valid_before)

    @contextlib.contextmanager
    def direct(self, tree: RemoteTree, remote: str) -> Iterator[list[str]]:
        """argv of a connection of its own running ``remote``; its key files live until the
        block ends (the process must have finished by then)."""
        check_tree(tree)
        workdir, key_file, cert_file, _ = self._key_files(tree)
        try:
            identity = ["-i", str(key_file), "-o", f"CertificateFile={cert_file}", "-o", "ControlPath=none"]
            yield [
                self._ssh,
                *ssh_options(tree, self._timeout, self._ciphers),
                *identity,
                "--",
                tree.host,
                remote,
            ]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _start(self, tree: RemoteTree) -> ControlMaster:
        workdir, key_file, cert_file, valid_before = self._key_files(tree)
        sock = workdir / "cm"
        options = ssh_options(tree, self._timeout, self._ciphers)
        argv = [self._ssh, *options, "-i", str(key_file), "-o", f"CertificateFile={cert_file}",
                "-M", "-N", "-S", str(sock), "-o", "ControlPersist=no", "--", tree.host]  # fmt: skip
        try:
            # stderr to a file, not a pipe: a long-lived master must never block on a full pipe.
            with open(workdir / "ssh.err", "wb") as err:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=err)  # fmt: skip
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise ConfigError(f"cannot run {self._ssh}: {exc.strerror}") from exc
        master = ControlMaster(tree, proc, workdir, sock, options, self._ssh, valid_before - self._margin_s)
        try:
            self._wait_ready(master)
        except BaseException:
            master.close()
            raise
        finally:
            # The connection is authenticated (or failed): the key is no longer needed on disk.
            key_file.unlink(missing_ok=True)
            cert_file.unlink(missing_ok=True)
        self.connects += 1
        return master

    def _wait_ready(self, master: ControlMaster) -> None:
        deadline = time.monotonic() + self._timeout + 5
        check = [self._ssh, "-S", str(master.socket), "-O", "check", "--", master.tree.host]
        while time.monotonic() < deadline:
            if master.process.poll() is not None:
                raise connection_error(master.tree, _tail_of(master.workdir / "ssh.err"))
            if master.socket.exists() and _quick(check, max(0.1, deadline - time.monotonic())):
                return
            time.sleep(0.01)
        raise StagingError(
            Text("connecting to %(where)s timed out", where=describe(master.tree)), transient=True
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            masters = [*self._masters.values(), *self._retired]
            self._masters, self._retired = {}, []
            self._wake.notify_all()
        for master in masters:
            master.close()


def _quick(argv: list[str], timeout_s: float) -> bool:
    """True when a local ssh control command succeeds within ``timeout_s``."""
    try:
        return subprocess.run(argv, capture_output=True, check=False, timeout=timeout_s).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _tail_of(path: Path, limit: int = 64 << 10) -> str:
    """The end of a file ssh wrote its messages to (bounded: a server can say a lot)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
