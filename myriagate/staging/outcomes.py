"""What a transfer reports: its statistics, its test seams, and the far side's answers turned
into our errors (each saying what happened and where)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from myriagate.errors import StagingError, UnsafeValue
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
        return StagingError(f"destination disk full on {where} ({root}) while writing {path!r}")
    if exc.kind == "permission":
        return StagingError(f"permission denied on {where}: {target} ({exc.detail})")
    if exc.kind == "read_only":
        return StagingError(f"read-only file system on {where}: {target}")
    if exc.kind == "unsafe":
        unsafe = UnsafeValue(f"{path!r} on {where} under {root}: {exc.detail}")
        unsafe.value = path  # the worker audits the refusal with it (staging.refused)
        return unsafe
    if exc.kind == "missing":
        return StagingError(f"{path!r} not found on {where} under {root}")
    if exc.kind == "truncated":
        return StagingError(f"transfer of {path!r} with {where} was cut: {exc.detail}", transient=True)
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
        raise StagingError(f"{python} is not available on {where}; the stager needs it there")
    if rc == _CONNECTION_LOST_RC or rc < 0:
        raise StagingError(f"connection to {where} lost: {detail}; calling again resumes", transient=True)
    raise StagingError(f"{where}: {detail}")
