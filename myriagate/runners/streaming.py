"""Commands whose standard output is read as a stream, as one login: a file being downloaded.

``CommandRunner.run`` collects a command's whole output (bounded at 16 MiB); a download of a
10 GiB file must instead hand each chunk on as it arrives and hold no more than a window of it.
These open the command like their runners do (the same argv checks, the same clean
environment, the same marker against what a login's start-up files print, the same pooled
connection and certificate) and return a ``CommandStream`` to read from. Back-pressure is SSH's
own: what is not read stays in the channel's window (about 2 MiB), and the cluster waits.
Leaving the context before the end kills the command (SIGKILL through sshd, or the process
group locally) and closes its channel.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

import paramiko

from myriagate.domain import values
from myriagate.errors import BackendError, SchedulerUnavailable, UnsafeValue
from myriagate.runners import channel_io
from myriagate.runners.environment import DEFAULT_PATH, remote_prefix
from myriagate.runners.local import LocalRunner
from myriagate.runners.outcome import checked_argv
from myriagate.runners.pool import SshConnectionPool

_PRINTF = "/usr/bin/printf"
_CHUNK = 1 << 20
_MAX_BEFORE_MARKER = 1 << 20  # what start-up files may print before the command: dropped
_MAX_STDERR = 1 << 16  # kept for the error message; the rest is read and dropped
_SEND_POLL_S = 0.01


class CommandStream:
    """What a streamed command printed: ``read(n)`` gives up to n bytes, b"" at the end."""

    def read(self, size: int = _CHUNK) -> bytes:
        raise NotImplementedError

    def exit_status(self, timeout: float) -> int:
        """The command's exit status once its output ended (-1 when it did not say in time)."""
        raise NotImplementedError

    @property
    def error_text(self) -> str:
        """The start of what the command wrote on stderr."""
        raise NotImplementedError


class _ChannelStream(CommandStream):
    def __init__(self, chan: paramiko.Channel, marker: bytes, idle_timeout: float) -> None:
        self._chan = chan
        self._marker = marker
        self._idle = idle_timeout
        self._before: bytearray | None = bytearray()  # None once the marker was seen
        self._pending = b""
        self._stderr = bytearray()
        self.finished = False

    def send_all(self, data: bytes) -> None:
        pending = memoryview(data)
        deadline = time.monotonic() + self._idle
        while pending:
            sent = channel_io.send_data(self._chan, pending)
            if sent is None:
                return  # the command ended without reading it all: its answer says why
            pending = pending[sent:]
            if not sent:
                if time.monotonic() > deadline:
                    raise BackendError("the cluster did not take the request in time")
                time.sleep(_SEND_POLL_S)
        while not channel_io.send_eof(self._chan):
            time.sleep(_SEND_POLL_S)

    def _drain_stderr(self) -> None:
        while self._chan.recv_stderr_ready():
            data = self._chan.recv_stderr(65536)
            if len(self._stderr) < _MAX_STDERR:
                self._stderr += data[: _MAX_STDERR - len(self._stderr)]

    def _raw(self, size: int) -> bytes:
        deadline = time.monotonic() + self._idle
        while True:
            self._drain_stderr()
            if self._chan.recv_ready():
                return bytes(self._chan.recv(size))
            if self._chan.eof_received or self._chan.closed:
                self._drain_stderr()
                if not self._chan.recv_ready():
                    self.finished = True
                    return b""
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendError(f"the cluster sent nothing for {self._idle:g} s: the transfer was stopped")
            select.select([self._chan.fileno()], [], [], remaining)

    def read(self, size: int = _CHUNK) -> bytes:
        while self._before is not None:
            data = self._raw(_CHUNK)
            if not data:
                raise BackendError("the login's shell did not run the command as sent")
            self._before += data
            start = self._before.find(self._marker)
            if start >= 0:
                self._pending = bytes(self._before[start + len(self._marker) :])
                self._before = None
            elif len(self._before) > _MAX_BEFORE_MARKER:
                raise BackendError("the login's start-up files printed too much before the command")
        if self._pending:
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        return self._raw(size)

    def exit_status(self, timeout: float) -> int:
        if not self._chan.status_event.wait(timeout):
            return -1
        return int(self._chan.recv_exit_status())

    @property
    def error_text(self) -> str:
        self._drain_stderr()
        return self._stderr.decode("utf-8", "replace").strip()


class _SshLoginCommands:
    """A login's commands on its pooled channel, started behind a marker (streamed or fed)."""

    def __init__(self, pool: SshConnectionPool, login: str, *, path: str = DEFAULT_PATH) -> None:
        self._pool = pool
        self._login = values.login(login)
        self._prefix = remote_prefix(self._login, path)

    @contextlib.contextmanager
    def _started(self, argv: Sequence[str]) -> Iterator[tuple[paramiko.Channel, bytes]]:
        """The channel running ``argv`` and the marker line its output starts after."""
        command = checked_argv(argv)
        if "=" in command[0]:
            raise UnsafeValue(f"program name {command[0]!r} contains '='")
        marker = f"MG-{secrets.token_hex(8)}"
        with self._pool.channel(self._login) as chan:
            try:
                chan.exec_command(f"{_PRINTF} '%s\\n' {marker}; " + self._prefix + shlex.join(command))
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise SchedulerUnavailable(f"{self._pool.host} refused to run {command[0]}") from exc
            yield chan, marker.encode() + b"\n"


def _kill_channel(chan: paramiko.Channel) -> None:
    """Left before its end: the command is killed through sshd and its channel closed."""
    channel_io.send_signal(chan, "KILL")
    chan.close()


class SshStreams(_SshLoginCommands):
    """Streamed commands as ``login`` through an ``SshConnectionPool`` (see the module)."""

    @contextlib.contextmanager
    def open(self, argv: Sequence[str], *, stdin: bytes, idle_timeout: float) -> Iterator[CommandStream]:
        with self._started(argv) as (chan, marker):
            stream = _ChannelStream(chan, marker, idle_timeout)
            try:
                stream.send_all(stdin)
                yield stream
            finally:
                if not stream.finished:
                    _kill_channel(chan)


class _ProcessStream(CommandStream):
    def __init__(self, proc: subprocess.Popen[bytes], idle_timeout: float) -> None:
        self._proc = proc
        self._idle = idle_timeout
        self.finished = False

    def read(self, size: int = _CHUNK) -> bytes:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], self._idle)
        if not ready:
            raise BackendError(f"the command sent nothing for {self._idle:g} s: the transfer was stopped")
        data = os.read(fd, size)
        if not data:
            self.finished = True
        return data

    def exit_status(self, timeout: float) -> int:
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1

    @property
    def error_text(self) -> str:
        assert self._proc.stderr is not None
        if self._proc.poll() is None:
            return ""
        return self._proc.stderr.read(_MAX_STDERR).decode("utf-8", "replace").strip()


class LocalStreams:
    """Streamed commands through a ``LocalRunner`` (this host, as its login)."""

    def __init__(self, runner: LocalRunner) -> None:
        self._runner = runner

    @contextlib.contextmanager
    def open(self, argv: Sequence[str], *, stdin: bytes, idle_timeout: float) -> Iterator[CommandStream]:
        proc = self._runner._start(checked_argv(argv), True)  # the same start, as that login
        stream = _ProcessStream(proc, idle_timeout)
        try:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(stdin)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            yield stream
        finally:
            _end_process(proc, finished=False)


def _end_process(proc: subprocess.Popen[bytes], *, finished: bool) -> None:
    """Killed (its process group) unless it ``finished``, waited for, its pipes closed."""
    if proc.poll() is None and not finished:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()
