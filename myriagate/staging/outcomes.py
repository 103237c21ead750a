"""What a transfer reports: its statistics, its test seams, and the far side's answers turned
into our errors (each saying what happened and where)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from myriagate.errors import StagingError, Text, UnsafeValue
from myriagate.ports import RemoteTree
from myriagate.staging.remote_helper import HelperError
from myriagate.staging.ssh_command import describe

_CONNECTION_LOST_RC = 255  # what ssh exits with when the connection fails or drops


@dataclass
class TransferStats:
    """What the last call moved; tests and the benchmark read it."""

    files_sent: int = 0
    files_skipped: int = 0
    bytes_sent: int = 0
    bytes_resumed: int = 0  # partial data found at the destination and not sent again
    ssh_sessions: int = 0


@dataclass
class TransferHooks:
    """Test seams: see the data-moving process, or touch the destination before verification."""

    transport_started: Callable[[subprocess.Popen[bytes]], None] | None = None
    before_verify: Callable[[list[str]], None] | None = None


def helper_error(exc: HelperError, where: str, root: str, names: dict[str, str]) -> Exception:
    path = names.get(exc.path, exc.path)
    target = f"{root}/{path}" if path else root
    if exc.kind == "disk_full":
        return StagingError(
            Text(
                "destination disk full on %(where)s (%(root)s) while writing %(path)s",
                where=where,
                root=root,
                path=repr(path),
            )
        )
    if exc.kind == "permission":
        return StagingError(
            Text(
                "permission denied on %(where)s: %(target)s (%(detail)s)",
                where=where,
                target=target,
                detail=exc.detail,
            )
        )
    if exc.kind == "read_only":
        return StagingError(
            Text("read-only file system on %(where)s: %(target)s", where=where, target=target)
        )
    if exc.kind == "unsafe":
        unsafe = UnsafeValue(f"{path!r} on {where} under {root}: {exc.detail}")
        unsafe.value = path  # the worker audits the refusal with it (staging.refused)
        return unsafe
    if exc.kind == "missing":
        return StagingError(
            Text("%(path)s not found on %(where)s under %(root)s", path=repr(path), where=where, root=root)
        )
    if exc.kind == "truncated":
        return StagingError(
            Text(
                "transfer of %(path)s with %(where)s was cut: %(detail)s",
                path=repr(path),
                where=where,
                detail=exc.detail,
            ),
            transient=True,
        )
    return StagingError(f"{where}: {target}: {exc.detail}")


def session_result(
    tree: RemoteTree, python: str, rc: int, out: bytes, err: bytes, names: dict[str, str]
) -> dict[str, Any]:
    """The helper's JSON answer, or the error its report, ssh's exit status or stderr means."""
    where = describe(tree)
    last = out.strip().rsplit(b"\n", 1)[-1] if out.strip() else b""
    report: object = None
    if last.startswith(b"{"):
        try:
            report = json.loads(last)
        except ValueError:
            report = None
    if isinstance(report, dict) and "error" in report:
        raise helper_error(
            HelperError(report["error"], report["path"], report["detail"]), where, tree.path, names
        )
    if rc == 0 and isinstance(report, dict):
        return report
    detail = err.decode("utf-8", "replace").strip()[-500:] or f"exit status {rc}"
    if rc == 127 or ("not found" in detail and python in detail):
        raise StagingError(
            Text(
                "%(python)s is not available on %(where)s; the stager needs it there",
                python=python,
                where=where,
            )
        )
    if rc == _CONNECTION_LOST_RC or rc < 0:
        raise StagingError(
            Text(
                "connection to %(where)s lost: %(detail)s; calling again resumes", where=where, detail=detail
            ),
            transient=True,
        )
    raise StagingError(f"{where}: {detail}")
