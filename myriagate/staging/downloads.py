"""Downloads over OpenSSH: compare both sides, stream what differs, verify here, rename.

The local end is the far-side helper's own code run in-process (``remote_helper``), so both
directions keep the same rules: partial files, sha256 before rename, links never followed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from myriagate.errors import ChecksumMismatch, StagingError, Text, UnsafeValue
from myriagate.ports import RemoteTree, StagedFile, TransferProgress
from myriagate.staging.far_side import Call, FarSide
from myriagate.staging.outcomes import TransferHooks, helper_error
from myriagate.staging.remote_helper import HelperError, Tree, op_commit, op_list, os_error_kind, partial_key
from myriagate.staging.ssh_command import describe
from myriagate.staging.streams import Received, StreamEnded, receive_files

_T = TypeVar("_T")


class Downloader:
    """Fetches files of an endpoint into a local directory through ``far``."""

    def __init__(self, far: FarSide, hooks: TransferHooks) -> None:
        self._far = far
        self._hooks = hooks

    def _local(self, action: Callable[[], _T], local_root: Path) -> _T:
        try:
            return action()
        except HelperError as exc:
            raise helper_error(exc, "the gateway", str(local_root), {}) from exc

    def _local_sha(self, tree: Tree, rel: str, local_root: Path) -> str:
        return self._local(lambda: tree.sha256_of(rel), local_root)

    def download(
        self,
        call: Call,
        src: RemoteTree,
        rels: list[str],
        local_root: Path,
        progress: TransferProgress | None,
    ) -> list[StagedFile]:
        local_root.mkdir(parents=True, exist_ok=True)
        tree = self._local(lambda: Tree(str(local_root.resolve())), local_root)
        here = self._local(
            lambda: op_list(tree, {"hash": "known", "files": [[r, -1] for r in rels]})["files"],
            local_root,
        )
        # The far side hashes a file only when ours has the same size (a possible skip).
        sizes = [h[1] if h[0] == "file" else -2 for h in here]
        there = self._far.call(
            call, src, "list", {"hash": "ifsize", "files": [[r, n] for r, n in zip(rels, sizes, strict=True)]}
        )["files"]
        done: dict[str, StagedFile] = {}
        wanted: list[tuple[str, int, int]] = []  # path, offset, size
        for rel, mine, theirs in zip(rels, here, there, strict=True):
            (my_state, my_size, my_sha, my_partial), (state, size, sha, _) = mine, theirs
            if state == "symlink":
                raise UnsafeValue(f"{rel!r} is a symlink on {describe(src)} under {src.path}; not followed")
            if state == "absent":
                raise StagingError(
                    Text(
                        "%(path)s not found on %(where)s under %(root)s",
                        path=repr(rel),
                        where=describe(src),
                        root=src.path,
                    )
                )
            if state != "file":
                raise StagingError(
                    Text(
                        "%(path)s is not a regular file on %(where)s under %(root)s",
                        path=repr(rel),
                        where=describe(src),
                        root=src.path,
                    )
                )
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
        call: Call,
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
            lambda: op_commit(
                tree,
                {
                    "files": [
                        {
                            "key": partial_key(r.path),
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
                Text(
                    "sha256 computed under %(local)s differs from %(place)s's for %(files)s; nothing "
                    "was written under the final name",
                    local=str(local_root),
                    place=describe(src),
                    files=", ".join(map(repr, bad)),
                )
            )
        return staged

    def _fetch(
        self,
        call: Call,
        src: RemoteTree,
        tree: Tree,
        wanted: list[tuple[str, int, int]],
        progress: TransferProgress | None,
    ) -> list[Received]:
        call.stats.ssh_sessions += 1
        total = sum(size - offset for _, offset, size in wanted)
        request = {"files": [{"path": rel, "offset": offset} for rel, offset, _ in wanted]}
        received = None
        with self._far.stream_argv(src, "send", total) as argv:
            session = self._far.popen(argv, src, drain_stdout=False)
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
                kind = os_error_kind(exc)
                raise helper_error(
                    HelperError(kind, "", exc.strerror or str(exc)), "the gateway", str(tree.real), {}
                ) from exc
            tail = watch.read_rest(stream)
            rc, _, err = watch.finish()
        call.stats.bytes_resumed += sum(o for _, o, _ in wanted)
        if received is None:
            self._far.result(src, rc or 255, tail, err, {})
            raise StagingError(
                f"connection to {describe(src)} lost mid-transfer; calling again resumes", transient=True
            )
        self._far.result(src, rc, b"{}" if rc == 0 else tail, err, {})
        call.stats.bytes_sent += sum(size - offset for _, offset, size in wanted)
        call.stats.files_sent += len(wanted)
        return received
