"""Bounds on every ssh session the stager starts: how long, how much, how silent.

A session runs on the far side as a researcher's login, through that login's shell and its
start-up files, which the login controls: they can print a gigabyte, sleep forever, or trickle
output. So no session is read without limits (docs/staging.md, "Hostile logins"):

- **start**: the far-side helper announces itself on stderr (``READY``) as its first act; a
  session whose helper has not within ``start_timeout_s`` (the SSH handshake of a connection of
  its own, the login's shell and start-up files, Python's start) is ended;
- **stall**: once started, a session with no byte moving either way for ``stall_timeout_s`` is
  ended (the helper writes a heartbeat newline on stderr every few seconds while it hashes or
  walks a tree silently);
- **ceiling**: no session lasts longer than ``max_session_s``, whatever it says (a login can
  forge the helper's announcement and then trickle bytes);
- **size**: a reply (stdout of a non-streaming operation) beyond ``max_reply_bytes`` and stderr
  beyond ``max_stderr_bytes`` end the session; memory stays bounded by them.

Ending a session kills the local ``ssh`` process. That alone does not unblock anyone: a session
on a ControlMaster hands its pipes to the master, which keeps them open as long as the far
side's process lives (``sleep`` in a ``~/.bashrc`` ignores a closed channel). So every read and
write of a session goes through this watch (``select`` with a short timeout, then a look at
whether the session ended), never a bare blocking call.
"""

from __future__ import annotations

import io
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO

from myriagate.errors import ConfigError, StagingError

READY = b"MYRIAGATE-HELPER-READY"
_READ_CHUNK = 1 << 16
_POLL_S = 0.1
# After the ssh process exited, pipes silent this long will not speak again (a master holds
# them for a far-side process that lingers).
_EXIT_GRACE_S = 2.0


@dataclass(frozen=True)
class SessionLimits:
    """Limits of one ssh session of the stager (settings ``MYRIAGATE_STAGING_*``)."""

    start_timeout_s: float = 30.0
    stall_timeout_s: float = 120.0
    max_session_s: float = 6 * 3600.0
    max_reply_bytes: int = 64 << 20
    max_stderr_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("start_timeout_s", "stall_timeout_s", "max_session_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"staging session limit {name} must be positive")
        if self.max_reply_bytes < 1024 or self.max_stderr_bytes < 1024:
            raise ConfigError("staging session output limits must be at least 1024 bytes")


class SessionWatch:
    """Watches one ssh session process and carries every read and write of its pipes.

    Threads of its own drain stderr (and stdout when ``drain_stdout``) and enforce the limits;
    ``write_all``, ``reader`` and ``read_rest`` are the caller's bounded I/O. ``touch()``
    records progress the caller made by other means.
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], limits: SessionLimits, where: str, *, drain_stdout: bool
    ) -> None:
        self._proc, self._limits, self._where = proc, limits, where
        self._born = self._last = time.monotonic()
        self._exited_at: float | None = None
        self._ready = False
        self._held = False
        self._why: str | None = None
        self._transient = False
        self._ended = threading.Event()
        self._finished = threading.Event()  # the caller saw the process exit
        self._out, self._err = bytearray(), bytearray()
        if proc.stdin is not None:
            os.set_blocking(proc.stdin.fileno(), False)  # writes wait in select, never in write
        drains = [(proc.stderr, self._err, "stderr")]
        if drain_stdout:
            drains.append((proc.stdout, self._out, "stdout"))
        self._drains = [
            threading.Thread(target=self._drain, args=args, name="mg-ssh-drain", daemon=True)
            for args in drains
        ]
        # Not joined: it ends at its next look once the caller saw the process exit.
        watcher = threading.Thread(target=self._watch, name="mg-ssh-watch", daemon=True)
        for thread in (*self._drains, watcher):
            thread.start()

    # ---- the caller's side --------------------------------------------------------------
    def touch(self) -> None:
        self._last = time.monotonic()

    def hold(self) -> None:
        """The session waits for the caller (started early): silence is not a stall."""
        self._held = True

    def resume(self) -> None:
        self._held = False
        self.touch()

    @property
    def ended(self) -> bool:
        """A limit ended the session."""
        return self._ended.is_set()

    def wait_writable(self, fd: int) -> None:
        """Return once ``fd`` takes bytes; BrokenPipeError when the session is over."""
        while True:
            if self._gone():
                raise BrokenPipeError(f"the session on {self._where} is over")
            _, writable, _ = select.select([], [fd], [], _POLL_S)
            if writable:
                return

    def write_all(self, fd: int, data: bytes | memoryview) -> None:
        """Write all of ``data`` to the session's stdin; BrokenPipeError when it is over."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
                self.touch()
            except BlockingIOError:
                self.wait_writable(fd)

    def reader(self, stream: IO[bytes] | None) -> io.BufferedReader:
        """A buffered reader of the session's stdout whose reads end (EOF) when it is over."""
        assert stream is not None
        return io.BufferedReader(_WatchedPipe(stream.fileno(), self), buffer_size=1 << 20)

    def read_rest(self, reader: io.BufferedReader) -> bytes:
        """What is left on ``reader``, up to ``max_reply_bytes``; more ends the session."""
        got = bytearray()
        while True:
            chunk = reader.read1(_READ_CHUNK)
            if not chunk:
                return bytes(got)
            got += chunk
            if len(got) > self._limits.max_reply_bytes:
                self._end(f"it wrote more than {self._limits.max_reply_bytes} bytes on stdout")
                return bytes(got[: self._limits.max_reply_bytes])

    def finish(self) -> tuple[int, bytes, bytes]:
        """Wait for the process and the drains; (exit status, drained stdout, stderr after
        the helper's announcement). Raises StagingError when a limit ended the session."""
        returncode = self._proc.wait()
        if self._exited_at is None:
            self._exited_at = time.monotonic()
        self._finished.set()
        for thread in self._drains:
            thread.join()
        if self._why is not None:
            raise self.error()
        err = bytes(self._err)
        at = err.find(READY)
        if at >= 0:
            err = err[at + len(READY) :]
        return returncode, bytes(self._out), err

    def error(self) -> StagingError:
        hint = (
            ""
            if self._transient
            else ". The login's shell start-up files (~/.bashrc, ~/.cshrc, ~/.zshenv…) run before "
            "every command the gateway sends there: they must stay quiet and quick"
        )
        return StagingError(f"session on {self._where} stopped: {self._why}{hint}", transient=self._transient)

    # ---- internals ----------------------------------------------------------------------
    def _gone(self) -> bool:
        """Nothing more will move: a limit ended the session, or its ssh process exited and
        its pipes stayed silent past the grace."""
        if self._ended.is_set():
            return True
        exited = self._exited_at
        return exited is not None and time.monotonic() - max(exited, self._last) > _EXIT_GRACE_S

    def wait_readable(self, fd: int) -> bool:
        """True once ``fd`` has bytes (or EOF); False when the session is over."""
        while True:
            readable, _, _ = select.select([fd], [], [], _POLL_S)
            if readable:
                return True
            if self._gone():
                return False

    def _drain(self, stream: IO[bytes] | None, buf: bytearray, name: str) -> None:
        if stream is None:
            return
        limit = self._limits.max_reply_bytes if name == "stdout" else self._limits.max_stderr_bytes
        fd = stream.fileno()
        while self.wait_readable(fd):
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError:
                return
            if not chunk or self._ended.is_set():
                return
            self.touch()
            if name == "stderr" and not self._ready:
                self._ready = READY in bytes(buf[-len(READY) :]) + chunk
            buf += chunk
            if len(buf) > limit:
                self._end(f"it wrote more than {limit} bytes on {name}")
                del buf[limit:]
                return

    def _watch(self) -> None:
        limits = self._limits
        while not self._finished.wait(_POLL_S):
            if self._proc.poll() is not None:
                if self._exited_at is None:
                    self._exited_at = time.monotonic()
                return
            now = time.monotonic()
            if now - self._born > limits.max_session_s:
                self._end(f"it ran longer than {limits.max_session_s:g} s")
            elif not self._ready and now - self._born > limits.start_timeout_s:
                self._end(f"the far side's helper did not start within {limits.start_timeout_s:g} s")
            elif self._ready and not self._held and now - self._last > limits.stall_timeout_s:
                # A hung disk or link as likely as a hostile login: calling again resumes.
                self._end(f"nothing moved for {limits.stall_timeout_s:g} s", transient=True)

    def _end(self, why: str, *, transient: bool = False) -> None:
        if self._why is None:
            self._why, self._transient = why, transient
        self._ended.set()
        if self._proc.poll() is None:
            self._proc.kill()


class _WatchedPipe(io.RawIOBase):
    """The raw stdout pipe of a session: reads wait in ``select`` and end when it is over."""

    def __init__(self, fd: int, watch: SessionWatch) -> None:
        self._fd, self._watch = fd, watch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._watch.wait_readable(self._fd):
            return 0
        n = os.readv(self._fd, [buffer])
        if n:
            self._watch.touch()
        return n
