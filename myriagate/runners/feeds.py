"""Commands whose standard input is fed as a stream, as one login: a file being uploaded.

``runners.streaming`` hands a command's *output* on as it comes; these hand it its *input* as
it comes (the body of an upload, chunk by chunk), then read its short answer. They open the
command exactly as the streaming runners do (``SshStreams``/``LocalStreams``: the same argv
checks, clean environment, marker against what start-up files print, pooled connection and
certificate). Back-pressure is SSH's own: ``write`` returns once the channel's window took the
bytes, so the gateway never holds more than a chunk and the window (about 2 MiB), whatever the
file's size. A command that stops reading early (it refused the upload, the disk is full) makes
``write`` return False; its answer says why. Leaving the context before the answer kills it.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator, Sequence

import paramiko

from myriagate.errors import BackendError
from myriagate.runners import channel_io
from myriagate.runners.local import LocalRunner
from myriagate.runners.outcome import checked_argv
from myriagate.runners.streaming import (
    CommandStream,
    _ChannelStream,
    _end_process,
    _kill_channel,
    _ProcessStream,
    _SshLoginCommands,
)

_POLL_S = 0.005
_MAX_ANSWER = 1 << 16


class CommandFeed:
    """A started command: ``write`` feeds its stdin, ``answer`` ends it and reads its stdout."""

    def write(self, data: bytes) -> bool:
        """Send ``data`` (blocks while the command is slow); False once it stopped reading."""
        raise NotImplementedError

    def answer(self) -> bytes:
        """End stdin, then the command's whole output (bounded: an answer is one short line)."""
        raise NotImplementedError

    @property
    def error_text(self) -> str:
        raise NotImplementedError


def _read_answer(stream: CommandStream) -> bytes:
    out = bytearray()
    while chunk := stream.read(_MAX_ANSWER):
        out += chunk
        if len(out) > _MAX_ANSWER:
            raise BackendError("the cluster's answer to an upload was too long")
    return bytes(out)


class _ChannelFeed(CommandFeed):
    def __init__(self, chan: paramiko.Channel, stream: _ChannelStream, idle_timeout: float) -> None:
        self._chan = chan
        self._stream = stream
        self._idle = idle_timeout
        self.done = False

    def write(self, data: bytes) -> bool:
        pending = memoryview(data)
        deadline = time.monotonic() + self._idle
        while pending:
            sent = channel_io.send_data(self._chan, pending)
            if sent is None or self._chan.exit_status_ready():
                return False  # it ended (refused, failed): its answer says why
            if sent:
                pending = pending[sent:]
                deadline = time.monotonic() + self._idle
                continue
            self._stream._drain_stderr()  # a window of its stderr must not stall it
            if time.monotonic() > deadline:
                raise BackendError(f"the cluster took nothing for {self._idle:g} s: the upload was stopped")
            self._chan.out_buffer_cv.acquire()  # woken when the window opens (paramiko's own)
            try:
                self._chan.out_buffer_cv.wait(_POLL_S * 10)
            finally:
                self._chan.out_buffer_cv.release()
        return True

    def answer(self) -> bytes:
        while not channel_io.send_eof(self._chan):
            time.sleep(_POLL_S)
        out = _read_answer(self._stream)
        self.done = True
        return out

    @property
    def error_text(self) -> str:
        return self._stream.error_text


class SshFeeds(_SshLoginCommands):
    """Fed commands as ``login`` through an ``SshConnectionPool`` (see the module)."""

    @contextlib.contextmanager
    def open(self, argv: Sequence[str], *, head: bytes, idle_timeout: float) -> Iterator[CommandFeed]:
        """The command started, ``head`` (its program and request) already sent."""
        with self._started(argv) as (chan, marker):
            feed = _ChannelFeed(chan, _ChannelStream(chan, marker, idle_timeout), idle_timeout)
            try:
                feed.write(head)
                yield feed
            finally:
                if not feed.done:
                    _kill_channel(chan)


class _PipeFeed(CommandFeed):
    def __init__(self, proc: subprocess.Popen[bytes], idle_timeout: float) -> None:
        self._proc = proc
        self._stream = _ProcessStream(proc, idle_timeout)
        self.done = False

    def write(self, data: bytes) -> bool:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, ValueError):
            return False
        return True

    def answer(self) -> bytes:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        out = _read_answer(self._stream)
        self._proc.wait()
        self.done = True
        return out

    @property
    def error_text(self) -> str:
        return self._stream.error_text


class LocalFeeds:
    """Fed commands through a ``LocalRunner`` (this host, as its login)."""

    def __init__(self, runner: LocalRunner) -> None:
        self._runner = runner

    @contextlib.contextmanager
    def open(self, argv: Sequence[str], *, head: bytes, idle_timeout: float) -> Iterator[CommandFeed]:
        proc = self._runner._start(checked_argv(argv), True)  # the same start, as that login
        feed = _PipeFeed(proc, idle_timeout)
        try:
            feed.write(head)
            yield feed
        finally:
            _end_process(proc, finished=feed.done)
