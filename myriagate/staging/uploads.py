"""Uploads over OpenSSH: list the destination, send what differs, verify there, rename.

Each upload is three sessions on one ControlMaster: ``list`` (state at the destination: sizes,
manifest sha256, partial data), the data stream (``streams``), and ``commit`` (sha256 computed
at the destination from disk, compared, atomic rename, manifest update). docs/staging.md
("## Transport") states the rules this keeps.
"""

from __future__ import annotations

import contextlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from myriagate.errors import ChecksumMismatch, StagingError, Text, UnsafeValue
from myriagate.ports import RemoteTree, StagedFile, TransferProgress
from myriagate.staging.checksums import HashCache, LocalSource, resolve_sources
from myriagate.staging.far_side import DIRECT_MIN_BYTES, Call, FarSide, Session
from myriagate.staging.outcomes import TransferHooks
from myriagate.staging.ssh_command import describe
from myriagate.staging.streams import Outgoing, send_files

_PREFETCH_MIN_BYTES = 1 << 20


class Uploader:
    """Sends local files to an endpoint through ``far``; ``cache`` and ``hasher`` hash sources."""

    def __init__(
        self, far: FarSide, cache: HashCache, hasher: ThreadPoolExecutor, hooks: TransferHooks
    ) -> None:
        self._far = far
        self._cache = cache
        self._hasher = hasher
        self._hooks = hooks

    def upload(
        self,
        call: Call,
        local_root: Path,
        rels: list[str],
        dest: RemoteTree,
        progress: TransferProgress | None,
    ) -> list[StagedFile]:
        # The far side lists while this side stats its sources: for an unchanged resync of many
        # files, both cost about the same and overlap. A destination file of the right size
        # that the manifest cannot vouch for is hashed in a second call (rare: not ours).
        with contextlib.ExitStack() as stack:
            early: Session | None = None
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mg-list") as pool:
                listed = pool.submit(
                    self._far.call,
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
                if total >= DIRECT_MIN_BYTES and any(self._cache.get(s) is None for s in big):
                    # Probably a first transfer of large data: its connection (handshake, far-side
                    # start) is set up while the listing runs; it waits for its header.
                    early = self._far.start_recv(dest, total, stack)
                # While the far side lists: what each file's result is if it proves unchanged
                # (its sha256 is then the one cached here), so a resync only compares after.
                cached = zip(sources, self._cache.get_many(sources), strict=True)
                unchanged = [StagedFile(s.path, s.size, c) if c else None for s, c in cached]
                listing = listed.result()["files"]
            done = self._plan_and_send(call, sources, rels, listing, dest, progress, early, unchanged)
        return [done[rel] for rel in rels]

    def _plan_and_send(
        self,
        call: Call,
        sources: list[LocalSource],
        rels: list[str],
        listing: list[Any],
        dest: RemoteTree,
        progress: TransferProgress | None,
        early: Session | None,
        unchanged: list[StagedFile | None],
    ) -> dict[str, StagedFile]:
        unknown = [i for i, (src, e) in enumerate(zip(sources, listing, strict=True))
                   if e[0] == "file" and e[1] == src.size and e[2] is None]  # fmt: skip
        if unknown:
            hashed = self._far.call(
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
                raise StagingError(
                    Text(
                        "%(path)s exists on %(where)s and is not a regular file",
                        path=repr(src.path),
                        where=describe(dest),
                    )
                )
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
        call: Call,
        outgoing: list[Outgoing],
        dest: RemoteTree,
        progress: TransferProgress | None,
        early: Session | None = None,
    ) -> dict[str, StagedFile]:
        names = {o.key: o.source.path for o in outgoing}
        batch = uuid.uuid4().hex
        shas = self._send(call, outgoing, dest, progress, names, batch, early)
        if self._hooks.before_verify is not None:
            self._hooks.before_verify([o.source.path for o in outgoing])
        commit = self._far.call(
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
                Text(
                    "sha256 computed on %(place)s differs from the source for %(files)s; nothing was "
                    "written under the final name and the partial data was deleted",
                    place=describe(dest),
                    files=", ".join(map(repr, bad)),
                )
            )
        return staged

    def _send(
        self,
        call: Call,
        outgoing: list[Outgoing],
        dest: RemoteTree,
        progress: TransferProgress | None,
        names: dict[str, str],
        batch: str,
        early: Session | None = None,
    ) -> dict[str, str]:
        call.stats.ssh_sessions += 1
        with contextlib.ExitStack() as stack:
            session = early or self._far.start_recv(dest, sum(o.length for o in outgoing), stack)
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
        self._far.result(dest, rc, out, err, names)
        if shas is None:
            raise StagingError(
                f"connection to {describe(dest)} lost mid-transfer; calling again resumes", transient=True
            )
        call.stats.files_sent += len(outgoing)
        return shas
