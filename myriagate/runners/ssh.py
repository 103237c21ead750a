"""SshRunner: commands on a cluster login node, as one login, over the pooled SSH connection.

This is the one place where argv becomes a string: the remote sshd hands the command to the
login's shell, which parses it again, so every element is quoted with ``shlex.join``. That
quoting is POSIX sh's; logins whose shell is csh/tcsh are not supported. Every command starts
with ``/usr/bin/env -i`` and the gateway's own variables (``runners.environment``), so what the
login's start-up files export never reaches Slurm or a job.
"""

from __future__ import annotations

import secrets
import select
import shlex
import time
from collections.abc import Sequence

import paramiko

from myriagate.domain import values
from myriagate.errors import SchedulerUnavailable, UnsafeValue
from myriagate.ports import CommandResult
from myriagate.runners import channel_io
from myriagate.runners.environment import DEFAULT_PATH, remote_prefix
from myriagate.runners.outcome import (
    DEFAULT_MAX_OUTPUT_BYTES,
    checked_argv,
    finish,
    outcome_unknown,
    output_too_large,
)
from myriagate.runners.pool import SshConnectionPool

_CHUNK = 65536
_PRINTF = "/usr/bin/printf"  # absolute: the login's PATH has no say
# While stdin or its EOF waits for window space or a key exchange, poll this often.
_SEND_POLL_S = 0.01


class SshRunner:
    """A ``CommandRunner`` acting as ``login`` through an ``SshConnectionPool``; thread-safe.

    Errors: SchedulerUnavailable when no channel could be opened (the command did not start);
    SubmissionUncertain (a SchedulerUnavailable) when the command was sent and then the
    timeout passed or the connection dropped (it may have run); BackendError when the output
    exceeds ``max_output_bytes``; SchedulerRejected for a non-zero exit when ``check``.
    """

    def __init__(
        self,
        pool: SshConnectionPool,
        login: str,
        *,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        path: str = DEFAULT_PATH,
    ) -> None:
        self._pool = pool
        self._login = values.login(login)
        self._max_output_bytes = max_output_bytes
        self._prefix = remote_prefix(self._login, path)

    @property
    def login(self) -> str:
        return self._login

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        command = checked_argv(argv)
        if "=" in command[0]:
            # env would take it for one more variable, not for the program to run.
            raise UnsafeValue(f"program name {command[0]!r} contains '='")
        deadline = time.monotonic() + timeout
        # Printed right before the command: what the login's start-up files print comes before
        # it and is dropped, so a greeting or a number never reaches a parser (sbatch's id, a
        # tag lookup that would read "absent" and allow a second sbatch).
        marker = f"MG-{secrets.token_hex(8)}"
        with self._pool.channel(self._login) as chan:
            try:
                chan.exec_command(f"{_PRINTF} '%s\\n' {marker}; " + self._prefix + shlex.join(command))
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if chan.get_transport() is not None and chan.get_transport().is_active():
                    # The server answered "no" to exec: nothing ran.
                    raise SchedulerUnavailable(f"{self._pool.host} refused to run {command[0]}") from exc
                raise outcome_unknown(command, f"connection lost while starting: {exc}") from exc
            try:
                stdout, stderr = _exchange(chan, command, stdin or b"", deadline, self._max_output_bytes)
            except TimeoutError as exc:
                _kill_remote(chan)
                raise outcome_unknown(command, f"no exit after {timeout:g} s, abandoned") from exc
            except BaseException:
                _kill_remote(chan)
                raise
            if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                _kill_remote(chan)
                raise outcome_unknown(command, f"no exit status after {timeout:g} s")
            if chan.exit_status == -1 and _lost(chan):
                raise outcome_unknown(command, "the connection dropped before the exit status came")
            returncode = chan.recv_exit_status()
        start = stdout.find(marker.encode() + b"\n")
        if start < 0:
            # The login's shell did not run what was sent (a start-up file that exits or execs
            # something else): nothing it printed can be trusted, and the command may have run.
            detail = f"the login's shell did not run the command as sent (exit {returncode})"
            raise outcome_unknown(command, detail)
        stdout = stdout[start + len(marker) + 1 :]
        return finish(command, returncode, stdout, stderr, check=check)


def _exchange(
    chan: paramiko.Channel, argv: tuple[str, ...], stdin: bytes, deadline: float, limit: int
) -> tuple[bytes, bytes]:
    """Write stdin and read stdout and stderr together until EOF, bounded and with a deadline.

    Reading both streams in one loop matters: the server stops sending once a stream's window
    is full, so draining only one of two large streams would deadlock.
    """
    out, err = bytearray(), bytearray()
    pending = memoryview(stdin)
    eof_pending = True
    readable = chan.fileno()  # signalled when stdout or stderr data (or EOF) arrives
    while True:
        progressed = False
        while chan.recv_ready():
            out += chan.recv(_CHUNK)
            progressed = True
            if len(out) > limit:
                raise output_too_large(argv, "stdout", limit)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(_CHUNK)
            progressed = True
            if len(err) > limit:
                raise output_too_large(argv, "stderr", limit)
        if pending:
            sent = channel_io.send_data(chan, pending)
            # None: the command is gone without reading it all; its exit status says why.
            pending = pending[sent:] if sent is not None else pending[:0]
            progressed = progressed or bool(sent)
        if not pending and eof_pending and channel_io.send_eof(chan):
            eof_pending = False
            progressed = True
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            return bytes(out), bytes(err)
        if progressed:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        # Waiting for window or for a key exchange to end is not signalled on ``readable``.
        wait = min(remaining, _SEND_POLL_S) if pending or eof_pending else remaining
        select.select([readable], [], [], wait)


def _lost(chan: paramiko.Channel) -> bool:
    transport = chan.get_transport()
    return transport is None or not transport.is_active()


def _kill_remote(chan: paramiko.Channel) -> None:
    """Ask sshd to SIGKILL the command, then close the channel.

    Closing alone leaves a command that ignores its stdin running on the login node.
    """
    channel_io.send_signal(chan, "KILL")
    chan.close()
