"""Sessions that run the far-side helper on an endpoint: start, feed, watch, read the answer.

Every session is watched (``session_watch``): the far side runs as a researcher's login,
through that login's shell and start-up files, so no read is unbounded in size or time.
Small requests ride the endpoint's ControlMaster; a large data stream gets a connection of
its own. Every answer says where the far side worked, and ``check_landing`` refuses one that
worked anywhere else than asked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from myriagate.domain.staging import relative_path
from myriagate.errors import StagingError, UnsafeValue
from myriagate.ports import RemoteTree
from myriagate.staging.openssh_session import SshSessions
from myriagate.staging.outcomes import TransferStats, session_result
from myriagate.staging.remote_helper import RESERVED
from myriagate.staging.session_watch import SessionLimits, SessionWatch
from myriagate.staging.ssh_command import describe, helper_preamble, remote_command

# A data stream this large gets a connection of its own (see ``FarSide.stream_argv``).
DIRECT_MIN_BYTES = 64 << 20
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (named in the module from Python 3.10 on Linux only)


@dataclass
class Call:
    """One public call of the stager (an upload, a download, a scan) and what it moved."""

    stats: TransferStats = field(default_factory=TransferStats)


_VALID_CACHE_MAX = 200_000
_valid: dict[str, str] = {}  # raw name -> normalised; validation is pure, so a resync skips it


def check_names(files: Sequence[str]) -> list[str]:
    """The relative paths, validated and normalised, duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for raw in files:
        rel = _valid.get(raw)
        if rel is None:
            rel = relative_path(raw, "file")
            if rel.split("/")[0] == RESERVED:
                raise UnsafeValue(f"{rel!r}: {RESERVED}/ is reserved for the stager's own files")
            if len(_valid) >= _VALID_CACHE_MAX:
                _valid.clear()
            _valid[raw] = rel
        seen.setdefault(rel, None)
    return list(seen)


def check_landing(tree: RemoteTree, result: dict[str, Any]) -> None:
    """Refuse an answer from a far side that worked somewhere else than asked: the directory it
    really used must be the anchor under the root's real location. The helper walks the anchor
    without following links, so this holds unless something moved the tree under it; checked
    on every answer, before the gateway records anything."""
    real, base = result.get("real"), result.get("base_real")
    if real is None or base is None:
        raise StagingError(f"{describe(tree)} did not say where it worked under {tree.path}")
    expected = base if not tree.anchor else f"{base.rstrip('/')}/{tree.anchor}"
    if real != expected:
        raise UnsafeValue(
            f"{describe(tree)} worked in {real!r} instead of {expected!r} (under the endpoint's "
            f"root {tree.root!r}): refused, nothing recorded"
        )


@dataclass
class Session:
    """A started ssh session and its watch."""

    proc: subprocess.Popen[bytes]
    watch: SessionWatch


def reap(session: Session) -> None:
    """End a ``recv`` that was started but not used (or failed): an empty header, then wait."""
    proc = session.proc
    if proc.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None and not proc.stdin.closed:
                empty = json.dumps({"batch": uuid.uuid4().hex, "files": []}).encode() + b"\n"
                session.watch.write_all(proc.stdin.fileno(), empty)
                proc.stdin.close()
        try:
            proc.wait(timeout=10)  # its report is a few bytes, drained by the watch
        except subprocess.TimeoutExpired:
            proc.kill()
    with contextlib.suppress(StagingError):
        session.watch.finish()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class FarSide:
    """Runs helper operations on endpoints with ``python`` (an absolute path, already
    checked), each session bounded by ``limits``, over ``sessions``' connections."""

    def __init__(self, python: str, limits: SessionLimits, sessions: SshSessions) -> None:
        self.python = python
        self._limits = limits
        self._sessions = sessions

    @contextlib.contextmanager
    def stream_argv(self, tree: RemoteTree, op: str, nbytes: int) -> Iterator[list[str]]:
        """argv for a session: on the master, or, for a large data stream, on a connection of
        its own (one process less copying every byte)."""
        command = remote_command(self.python, op, tree.root, tree.anchor)
        if nbytes < DIRECT_MIN_BYTES:
            with self._sessions.session(tree, command) as argv:
                yield argv
        else:
            with self._sessions.direct(tree, command) as argv:
                yield argv

    def popen(self, argv: list[str], tree: RemoteTree, *, drain_stdout: bool) -> Session:
        """Start a session, its stdin already holding the helper's source. Its pipes are used
        through the watch only (``write_all``, ``reader``, the drains), never buffered."""
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # a 1 MiB pipe: fewer wake-ups of ssh (Linux)
            fcntl.fcntl(proc.stdin.fileno(), _F_SETPIPE_SZ, 1 << 20)
        watch = SessionWatch(proc, self._limits, describe(tree), drain_stdout=drain_stdout)
        # A far side gone already is told by its exit status (or the watch).
        with contextlib.suppress(BrokenPipeError):
            watch.write_all(proc.stdin.fileno(), helper_preamble())
        return Session(proc, watch)

    def start_recv(self, dest: RemoteTree, nbytes: int, stack: contextlib.ExitStack[bool | None]) -> Session:
        """The far side's ``recv``, started and waiting for its header; ``stack`` ends it (if
        nothing was sent: an empty header) and removes its key files."""
        argv = stack.enter_context(self.stream_argv(dest, "recv", nbytes))
        session = self.popen(argv, dest, drain_stdout=True)
        session.watch.hold()  # it waits for our header (started early): not the far side's stall
        stack.callback(reap, session)
        return session

    def call(
        self,
        call: Call,
        tree: RemoteTree,
        op: str,
        payload: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Run ``op`` with the JSON ``payload`` and return its checked answer."""
        call.stats.ssh_sessions += 1
        with self.stream_argv(tree, op, 0) as argv:
            session = self.popen(argv, tree, drain_stdout=True)
            proc = session.proc
            assert proc.stdin is not None
            try:
                session.watch.write_all(proc.stdin.fileno(), json.dumps(payload).encode())
            except BrokenPipeError:
                pass  # the far side stopped reading: its report (or the watch) says why
            finally:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            rc, out, err = session.watch.finish()
        result = self.result(tree, rc, out, err, names or {})
        check_landing(tree, result)
        return result

    def result(
        self, tree: RemoteTree, rc: int, out: bytes, err: bytes, names: dict[str, str]
    ) -> dict[str, Any]:
        """The far side's answer, or our error for its report (``outcomes.session_result``)."""
        return session_result(tree, self.python, rc, out, err, names)
