"""OpenSshStager: the ``Stager`` port over OpenSSH's ``ssh`` with the gateway's certificates.

Why OpenSSH and not paramiko: paramiko's SFTP is CPU-bound well below what one OpenSSH stream
moves (docs/staging.md has the figures); and one stream of many small files (our own framing,
see ``streams``) beats a request per file. The stager owns the connections (``openssh_session``)
and runs the far-side helper through ``far_side``; ``uploads`` and ``downloads`` hold the two
directions. docs/staging.md ("## Transport") states the rules this keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from myriagate.domain.skipped_results import SkipKind, SkippedFile
from myriagate.domain.staging import output_pattern
from myriagate.ports import RemoteTree, StagedFile, TransferProgress
from myriagate.staging.checksums import HashCache
from myriagate.staging.downloads import Downloader
from myriagate.staging.far_side import Call, FarSide, check_names
from myriagate.staging.openssh_session import KeySource, SshSessions
from myriagate.staging.outcomes import TransferHooks, TransferStats
from myriagate.staging.session_watch import SessionLimits
from myriagate.staging.ssh_command import DEFAULT_REMOTE_PYTHON, checked_python, default_ciphers
from myriagate.staging.uploads import Uploader

# TransferHooks and TransferStats live in outcomes; callers import them from here.
__all__ = ["OpenSshStager", "TransferHooks", "TransferStats"]


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
        python = checked_python(remote_python)
        self._sessions = SshSessions(
            keys, connect_timeout_s=connect_timeout_s, ssh=ssh, ciphers=chosen,
            retire_before_expiry_s=retire_before_expiry_s,
        )  # fmt: skip
        self._far = FarSide(python, limits or SessionLimits(), self._sessions)
        hooks = hooks or TransferHooks()
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mg-hash")
        self._uploads = Uploader(self._far, HashCache(hash_cache_entries), self._hasher, hooks)
        self._downloads = Downloader(self._far, hooks)
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

    # ---- upload -------------------------------------------------------------------------
    def upload(
        self,
        local_root: Path,
        files: Sequence[str],
        dest: RemoteTree,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        call = Call()
        try:
            if not files:  # nothing to send: only the destination is made (a job's own directory)
                self._far.call(call, dest, "list", {"files": [], "create_root": True})
                return []
            return self._uploads.upload(call, local_root, check_names(files), dest, progress)
        finally:
            self.last_stats = call.stats

    # ---- download -----------------------------------------------------------------------
    def download(
        self,
        src: RemoteTree,
        files: Sequence[str],
        local_root: Path,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        call = Call()
        try:
            return self._downloads.download(call, src, check_names(files), local_root, progress)
        finally:
            self.last_stats = call.stats

    # ---- scan ---------------------------------------------------------------------------
    def scan(
        self,
        src: RemoteTree,
        patterns: Sequence[str],
        *,
        newer_than_ns: int | None = None,
        skipped: list[SkippedFile] | None = None,
    ) -> list[StagedFile]:
        call = Call()
        checked = [output_pattern(p) for p in patterns]
        request: dict[str, Any] = {"patterns": checked}
        if newer_than_ns is not None:
            request["newer_than_ns"] = int(newer_than_ns)
        try:
            answer = self._far.call(call, src, "scan", request)
        finally:
            self.last_stats = call.stats
        if skipped is not None:
            skipped.extend(_skipped_of(answer))
        return [StagedFile(f["path"], f["size"], f["sha256"]) for f in answer["files"]]


def _skipped_of(answer: dict[str, Any]) -> list[SkippedFile]:
    """The far side's ``skipped`` entries (a kind it should not send is taken for ``special``:
    whatever it is, it was not copied)."""
    out: list[SkippedFile] = []
    for entry in answer.get("skipped", []):
        kind = SkipKind.LINK if entry.get("kind") == "link" else SkipKind.SPECIAL
        out.append(SkippedFile(str(entry["path"]), kind))
    return out
