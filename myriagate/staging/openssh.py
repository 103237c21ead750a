"""OpenSshStager: the ``Stager`` port over OpenSSH's ``ssh`` with the gateway's certificates.

Why OpenSSH and not paramiko: paramiko's SFTP is CPU-bound near 80-90 MB/s here, while one
OpenSSH stream moves 300+ MB/s; and one stream of many small files (our own framing, see
``streams``) beats a request per file. Each transfer is three sessions on one ControlMaster:
``list`` (state at the destination: sizes, manifest sha256, partial data), the data stream,
and ``commit`` (sha256 computed at the destination from disk, compared, atomic rename, manifest
update). docs/staging.md ("## Transport") states the rules this keeps. Every session is
watched (``session_watch``): the far side runs as a researcher's login, through that login's
shell and start-up files, so no read is unbounded in size or time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myriagate.domain.staging import output_pattern, relative_path
from myriagate.errors import ChecksumMismatch, StagingError, UnsafeValue
from myriagate.ports import RemoteTree, StagedFile, TransferProgress
from myriagate.staging import remote_helper
from myriagate.staging.checksums import HashCache, LocalSource, resolve_sources
from myriagate.staging.openssh_session import (
    DEFAULT_REMOTE_PYTHON,
    KeySource,
    SshSessions,
    checked_python,
    default_ciphers,
    describe,
    helper_preamble,
    remote_command,
)
from myriagate.staging.outcomes import TransferHooks, TransferStats, helper_error, session_result
from myriagate.staging.remote_helper import RESERVED, HelperError, Tree
from myriagate.staging.session_watch import SessionLimits, SessionWatch
from myriagate.staging.streams import Outgoing, StreamEnded, receive_files, send_files

# TransferHooks and TransferStats live in outcomes; callers import them from here.
__all__ = ["OpenSshStager", "TransferHooks", "TransferStats"]

_DIRECT_MIN_BYTES = 64 << 20
_PREFETCH_MIN_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (named in the module from Python 3.10 on Linux only)


@dataclass
class _Call:
    stats: TransferStats = field(default_factory=TransferStats)


_VALID_CACHE_MAX = 200_000
_valid: dict[str, str] = {}  # raw name -> normalised; validation is pure, so a resync skips it


def _check_names(files: Sequence[str]) -> list[str]:
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
class _Session:
    """A started ssh session and its watch."""

    proc: subprocess.Popen[bytes]
    watch: SessionWatch


def _reap(session: _Session) -> None:
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


class OpenSshStager:
    """Uploads, downloads and scans through OpenSSH with short-lived certificates.

    ``keys`` is the gateway's ``CertificateAuthority`` (anything with ``key_for(login)``
    returning ``certificate``, ``openssh_private_key`` and ``valid_before``). ``ciphers``:
    ``"auto"`` prefers AES-GCM when this CPU has AES instructions (``None``: ssh's default).
    Masters live until their certificate expires, ``forget(login)`` or ``close()``; use it as a
    context manager or close it at shutdown. The far side needs Python (>= 3.7) at the absolute
    path ``remote_python``; ``limits`` bound every session (``session_watch``).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        remote_python: str = DEFAULT_REMOTE_PYTHON,
        connect_timeout_s: float = 10.0,
        ssh: str = "ssh",
        hooks: TransferHooks | None = None,
        hash_cache_entries: int = 200_000,
        ciphers: str | None = "auto",
        limits: SessionLimits | None = None,
        retire_before_expiry_s: float = 10.0,
    ) -> None:
        chosen = default_ciphers() if ciphers == "auto" else ciphers
        self._python = checked_python(remote_python)
        self._limits = limits or SessionLimits()
        self._sessions = SshSessions(
            keys, connect_timeout_s=connect_timeout_s, ssh=ssh, ciphers=chosen,
            retire_before_expiry_s=retire_before_expiry_s,
        )  # fmt: skip
        self._hooks = hooks or TransferHooks()
        self._cache = HashCache(hash_cache_entries)
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mg-hash")
        self.last_stats = TransferStats()

    def __enter__(self) -> OpenSshStager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sessions.close()
        self._hasher.shutdown(wait=True, cancel_futures=True)

    def forget(self, login: str) -> int:
        """Close every SSH connection made as ``login`` now (its user was disabled)."""
        return self._sessions.forget(login)

    @property
    def connects(self) -> int:
        return self._sessions.connects

    # ---- one session on the endpoint's master -------------------------------------------
    @contextlib.contextmanager
    def _stream_argv(self, tree: RemoteTree, op: str, nbytes: int) -> Iterator[list[str]]:
        """argv for a session: on the master, or, for a large data stream, on a connection of
        its own (one process less copying every byte: ~10-30% faster here on 1 GiB)."""
        command = remote_command(self._python, op, tree.root, tree.anchor)
        if nbytes < _DIRECT_MIN_BYTES:
            with self._sessions.session(tree, command) as argv:
                yield argv
        else:
            with self._sessions.direct(tree, command) as argv:
                yield argv

    def _popen(self, argv: list[str], tree: RemoteTree, *, drain_stdout: bool) -> _Session:
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
        return _Session(proc, watch)

    def _start_recv(self, dest: RemoteTree, nbytes: int, stack: contextlib.ExitStack[Any]) -> _Session:
        """The far side's ``recv``, started and waiting for its header; ``stack`` ends it (if
        nothing was sent: an empty header) and removes its key files."""
        argv = stack.enter_context(self._stream_argv(dest, "recv", nbytes))
        session = self._popen(argv, dest, drain_stdout=True)
        session.watch.hold()  # it waits for our header (started early): not the far side's stall
        stack.callback(_reap, session)
        return session

    def _call(
        self,
        call: _Call,
        tree: RemoteTree,
        op: str,
        payload: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        call.stats.ssh_sessions += 1
        with self._stream_argv(tree, op, 0) as argv:
            session = self._popen(argv, tree, drain_stdout=True)
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
        result = self._result(tree, rc, out, err, names or {})
        check_landing(tree, result)
        return result

    def _result(
        self, tree: RemoteTree, rc: int, out: bytes, err: bytes, names: dict[str, str]
    ) -> dict[str, Any]:
        return session_result(tree, self._python, rc, out, err, names)

    # ---- upload -------------------------------------------------------------------------
    def upload(
        self,
        local_root: Path,
        files: Sequence[str],
        dest: RemoteTree,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        call = _Call()
        try:
            if not files:  # nothing to send: only the destination is made (a job's own directory)
                self._call(call, dest, "list", {"files": [], "create_root": True})
                return []
            return self._upload(call, local_root, _check_names(files), dest, progress)
        finally:
            self.last_stats = call.stats

    def _upload(
        self,
        call: _Call,
        local_root: Path,
        rels: list[str],
        dest: RemoteTree,
        progress: TransferProgress | None,
    ) -> list[StagedFile]:
        # The far side lists while this side stats its sources: for an unchanged resync of many
        # files, both cost about the same and overlap. A destination file of the right size
        # that the manifest cannot vouch for is hashed in a second call (rare: not ours).
        with contextlib.ExitStack() as stack:
            early: _Session | None = None
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mg-list") as pool:
                listed = pool.submit(
                    self._call,
                    call,
                    dest,
                    "list",
                    {"hash": "known", "files": [[rel, -1] for rel in rels], "create_root": True},
                )
                sources = resolve_sources(local_root, rels)
                # Large sources start hashing now, overlapping the handshake and the listing.
                big = [s for s in sources if s.size > _PREFETCH_MIN_BYTES]
                self._cache.prefetch(big, self._hasher)
                total = sum(s.size for s in sources)
                if total >= _DIRECT_MIN_BYTES and any(self._cache.get(s) is None for s in big):
                    # Probably a first transfer of large data: its connection (handshake, far-side
                    # start) is set up while the listing runs; it waits for its header.
                    early = self._start_recv(dest, total, stack)
                # While the far side lists: what each file's result is if it proves unchanged
                # (its sha256 is then the one cached here), so a resync only compares after.
                cached = zip(sources, self._cache.get_many(sources), strict=True)
                unchanged = [StagedFile(s.path, s.size, c) if c else None for s, c in cached]
                listing = listed.result()["files"]
            done = self._plan_and_send(call, sources, rels, listing, dest, progress, early, unchanged)
        return [done[rel] for rel in rels]

    def _plan_and_send(
        self,
        call: _Call,
        sources: list[LocalSource],
        rels: list[str],
        listing: list[Any],
        dest: RemoteTree,
        progress: TransferProgress | None,
        early: _Session | None,
        unchanged: list[StagedFile | None],
    ) -> dict[str, StagedFile]:
        unknown = [i for i, (src, e) in enumerate(zip(sources, listing, strict=True))
                   if e[0] == "file" and e[1] == src.size and e[2] is None]  # fmt: skip
        if unknown:
            hashed = self._call(
                call, dest, "list", {"hash": "ifsize", "files": [[rels[i], sources[i].size] for i in unknown]}
            )["files"]
            for i, entry in zip(unknown, hashed, strict=True):
                listing[i] = entry
        done: dict[str, StagedFile] = {}
        outgoing: list[Outgoing] = []
        for src, mine, (state, size, sha, partial) in zip(sources, unchanged, listing, strict=True):
            if state == "symlink":
                raise UnsafeValue(
                    f"{src.path!r} is a symlink on {describe(dest)} under {dest.path}; not replaced"
                )
            if state == "other":
                raise StagingError(f"{src.path!r} exists on {describe(dest)} and is not a regular file")
            if state == "file" and size == src.size and sha:
                mine = mine or StagedFile(src.path, src.size, self._cache.sha(src))
                if mine.sha256 == sha:
                    done[src.path] = mine
                    call.stats.files_skipped += 1
                    continue
            outgoing.append(Outgoing(src, partial if 0 < partial <= src.size else 0))
        if outgoing:
            done.update(self._send_and_commit(call, outgoing, dest, progress, early))
        return done

    def _send_and_commit(
        self,
        call: _Call,
        outgoing: list[Outgoing],
        dest: RemoteTree,
        progress: TransferProgress | None,
        early: _Session | None = None,
    ) -> dict[str, StagedFile]:
        names = {o.key: o.source.path for o in outgoing}
        batch = uuid.uuid4().hex
        shas = self._send(call, outgoing, dest, progress, names, batch, early)
        if self._hooks.before_verify is not None:
            self._hooks.before_verify([o.source.path for o in outgoing])
        commit = self._call(
            call,
            dest,
            "commit",
            {
                "batch": batch,
                "files": [
                    {
                        "key": o.key,
                        "path": o.source.path,
                        "sha256": shas[o.source.path],
                        "size": o.source.size,
                        "mtime_ns": o.source.mtime_ns,
                    }
                    for o in outgoing
                ],
            },
            names,
        )["files"]
        staged: dict[str, StagedFile] = {}
        retry: list[Outgoing] = []
        bad: list[str] = []
        for item, result in zip(outgoing, commit, strict=True):
            if result["status"] == "ok":
                staged[item.source.path] = StagedFile(item.source.path, result["size"], result["sha256"])
            elif item.offset:
                retry.append(Outgoing(item.source, 0))  # stale partial data: send it all once more
            else:
                bad.append(item.source.path)
        if retry:
            staged.update(self._send_and_commit(call, retry, dest, progress))
        if bad:
            raise ChecksumMismatch(
                f"sha256 computed on {describe(dest)} differs from the source for "
                f"{', '.join(map(repr, bad))}; nothing was written under the final name and the "
                "partial data was deleted"
            )
        return staged

    def _send(
        self,
        call: _Call,
        outgoing: list[Outgoing],
        dest: RemoteTree,
        progress: TransferProgress | None,
        names: dict[str, str],
        batch: str,
        early: _Session | None = None,
    ) -> dict[str, str]:
        call.stats.ssh_sessions += 1
        with contextlib.ExitStack() as stack:
            session = early or self._start_recv(dest, sum(o.length for o in outgoing), stack)
            proc = session.proc
            assert proc.stdin is not None
            if self._hooks.transport_started is not None:
                self._hooks.transport_started(proc)
            shas: dict[str, str] | None = None
            session.watch.resume()
            try:
                watch = session.watch
                sent, shas = send_files(
                    proc.stdin.fileno(), outgoing, self._cache, progress, batch,
                    activity=watch.touch, wait_writable=watch.wait_writable,
                )  # fmt: skip
                call.stats.bytes_sent += sent
            except BrokenPipeError:
                pass  # the far side stopped reading: its report (or the watch) says why
            finally:
                proc.stdin.close()
            # The helper writes one small report at the end; the watch drains and bounds it.
            rc, out, err = session.watch.finish()
        call.stats.bytes_resumed += sum(o.offset for o in outgoing)
        self._result(dest, rc, out, err, names)
        if shas is None:
            raise StagingError(
                f"connection to {describe(dest)} lost mid-transfer; calling again resumes", transient=True
            )
        call.stats.files_sent += len(outgoing)
        return shas

    # ---- download -----------------------------------------------------------------------
    def download(
        self,
        src: RemoteTree,
        files: Sequence[str],
        local_root: Path,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        call = _Call()
        try:
            return self._download(call, src, _check_names(files), local_root, progress)
        finally:
            self.last_stats = call.stats

    def _local(self, action: Callable[[], Any], local_root: Path) -> Any:
        try:
            return action()
        except HelperError as exc:
            raise helper_error(exc, "the gateway", str(local_root), {}) from exc

    def _local_sha(self, tree: Tree, rel: str, local_root: Path) -> str:
        return str(self._local(lambda: tree.sha256_of(rel), local_root))

    def _download(
        self,
        call: _Call,
        src: RemoteTree,
        rels: list[str],
        local_root: Path,
        progress: TransferProgress | None,
    ) -> list[StagedFile]:
        local_root.mkdir(parents=True, exist_ok=True)
        tree: Tree = self._local(lambda: Tree(str(local_root.resolve())), local_root)
        here = self._local(
            lambda: remote_helper.op_list(tree, {"hash": "known", "files": [[r, -1] for r in rels]})["files"],
            local_root,
        )
        # The far side hashes a file only when ours has the same size (a possible skip).
        sizes = [h[1] if h[0] == "file" else -2 for h in here]
        there = self._call(
            call, src, "list", {"hash": "ifsize", "files": [[r, n] for r, n in zip(rels, sizes, strict=True)]}
        )["files"]
        done: dict[str, StagedFile] = {}
        wanted: list[tuple[str, int, int]] = []  # path, offset, size
        for rel, mine, theirs in zip(rels, here, there, strict=True):
            (my_state, my_size, my_sha, my_partial), (state, size, sha, _) = mine, theirs
            if state == "symlink":
                raise UnsafeValue(f"{rel!r} is a symlink on {describe(src)} under {src.path}; not followed")
            if state == "absent":
                raise StagingError(f"{rel!r} not found on {describe(src)} under {src.path}")
            if state != "file":
                raise StagingError(f"{rel!r} is not a regular file on {describe(src)} under {src.path}")
            if my_state == "symlink":
                raise UnsafeValue(f"{rel!r} is a symlink under {local_root}; not replaced")
            if my_state == "other":
                raise StagingError(f"{rel!r} exists under {local_root} and is not a regular file")
            if my_state == "file" and my_size == size and sha:
                local_sha = my_sha or self._local_sha(tree, rel, local_root)
                if local_sha == sha:
                    done[rel] = StagedFile(rel, size, local_sha)
                    call.stats.files_skipped += 1
                    continue
            wanted.append((rel, my_partial if 0 < my_partial <= size else 0, size))
        if wanted:
            done.update(self._fetch_and_commit(call, src, tree, wanted, local_root, progress))
        return [done[rel] for rel in rels]

    def _fetch_and_commit(
        self,
        call: _Call,
        src: RemoteTree,
        tree: Tree,
        wanted: list[tuple[str, int, int]],
        local_root: Path,
        progress: TransferProgress | None,
    ) -> dict[str, StagedFile]:
        received = self._fetch(call, src, tree, wanted, progress)
        if self._hooks.before_verify is not None:
            self._hooks.before_verify([w[0] for w in wanted])
        results = self._local(
            lambda: remote_helper.op_commit(
                tree,
                {
                    "files": [
                        {
                            "key": remote_helper.partial_key(r.path),
                            "path": r.path,
                            "sha256": r.sha256,
                            "size": r.size,
                            "mtime_ns": r.mtime_ns,
                        }
                        for r in received
                    ]
                },
            )["files"],
            local_root,
        )
        staged: dict[str, StagedFile] = {}
        retry, bad = [], []
        for (rel, offset, size), result in zip(wanted, results, strict=True):
            if result["status"] == "ok":
                staged[rel] = StagedFile(rel, result["size"], result["sha256"])
            elif offset:
                retry.append((rel, 0, size))
            else:
                bad.append(rel)
        if retry:
            staged.update(self._fetch_and_commit(call, src, tree, retry, local_root, progress))
        if bad:
            raise ChecksumMismatch(
                f"sha256 computed under {local_root} differs from {describe(src)}'s for "
                f"{', '.join(map(repr, bad))}; nothing was written under the final name"
            )
        return staged

    def _fetch(
        self,
        call: _Call,
        src: RemoteTree,
        tree: Tree,
        wanted: list[tuple[str, int, int]],
        progress: TransferProgress | None,
    ) -> list[Any]:
        call.stats.ssh_sessions += 1
        total = sum(size - offset for _, offset, size in wanted)
        request = {"files": [{"path": rel, "offset": offset} for rel, offset, _ in wanted]}
        received = None
        with self._stream_argv(src, "send", total) as argv:
            session = self._popen(argv, src, drain_stdout=False)
            proc, watch = session.proc, session.watch
            assert proc.stdin is not None and proc.stdout is not None
            if self._hooks.transport_started is not None:
                self._hooks.transport_started(proc)
            stream = watch.reader(proc.stdout)
            try:
                watch.write_all(proc.stdin.fileno(), json.dumps(request).encode())
                proc.stdin.close()
                items = [(r, o) for r, o, _ in wanted]
                received = receive_files(stream, tree, items, progress, total)
            except (StreamEnded, BrokenPipeError, ValueError):
                pass  # the far side stopped: its report (or the watch) says why
            except OSError as exc:
                proc.kill()
                with contextlib.suppress(StagingError):
                    session.watch.finish()
                kind = remote_helper.os_error_kind(exc)
                raise helper_error(
                    HelperError(kind, "", exc.strerror or str(exc)), "the gateway", str(tree.real), {}
                ) from exc
            tail = watch.read_rest(stream)
            rc, _, err = watch.finish()
        call.stats.bytes_resumed += sum(o for _, o, _ in wanted)
        if received is None:
            self._result(src, rc or 255, tail, err, {})
            raise StagingError(
                f"connection to {describe(src)} lost mid-transfer; calling again resumes", transient=True
            )
        self._result(src, rc, b"{}" if rc == 0 else tail, err, {})
        call.stats.bytes_sent += sum(size - offset for _, offset, size in wanted)
        call.stats.files_sent += len(wanted)
        return received

    # ---- scan ---------------------------------------------------------------------------
    def scan(
        self, src: RemoteTree, patterns: Sequence[str], *, newer_than_ns: int | None = None
    ) -> list[StagedFile]:
        call = _Call()
        checked = [output_pattern(p) for p in patterns]
        request: dict[str, Any] = {"patterns": checked}
        if newer_than_ns is not None:
            request["newer_than_ns"] = int(newer_than_ns)
        try:
            found = self._call(call, src, "scan", request)["files"]
        finally:
            self.last_stats = call.stats
        return [StagedFile(f["path"], f["size"], f["sha256"]) for f in found]
