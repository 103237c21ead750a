"""MeteredStager: any Stager, with the bytes, duration, rate and failures of transfers recorded.

Bytes are counted from the stager's own progress callback (bytes actually sent or received),
so files skipped because they are already at the destination do not count as moved. A
transfer retried inside one call restarts its progress from zero: only increases count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from myriagate.domain.skipped_results import SkippedFile
from myriagate.errors import MyriagateError
from myriagate.observability.metrics import TRANSFER_BYTES, TRANSFER_ERRORS, TRANSFER_RATE, TRANSFER_SECONDS
from myriagate.ports import RemoteTree, StagedFile, Stager, TransferProgress

T = TypeVar("T")


class _ByteMeter:
    """A progress callback that adds each increase of ``done`` to the bytes counter at once,
    so a long transfer shows its rate while it runs, then forwards to the caller's callback."""

    def __init__(self, direction: str, host: str, forward: TransferProgress | None) -> None:
        self._counter = TRANSFER_BYTES.labels(direction, host)
        self._forward = forward
        self._lock = threading.Lock()
        self._last = 0
        self.moved = 0

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if done < self._last:  # a new stream within the same call (a retry) starts over
                self._last = 0
            delta, self._last = done - self._last, done
            self.moved += delta
        if delta > 0:
            self._counter.inc(delta)
        if self._forward is not None:
            self._forward(done, total)


class MeteredStager:
    """Delegates to ``inner`` and records each upload/download (``scan`` moves no file data)."""

    def __init__(self, inner: Stager) -> None:
        self.inner = inner

    def upload(
        self,
        local_root: Path,
        files: Sequence[str],
        dest: RemoteTree,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        meter = _ByteMeter("upload", dest.host, progress)
        return self._measure(
            "upload", dest.host, meter, lambda: self.inner.upload(local_root, files, dest, progress=meter)
        )

    def download(
        self,
        src: RemoteTree,
        files: Sequence[str],
        local_root: Path,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        meter = _ByteMeter("download", src.host, progress)
        return self._measure(
            "download", src.host, meter, lambda: self.inner.download(src, files, local_root, progress=meter)
        )

    def scan(
        self,
        src: RemoteTree,
        patterns: Sequence[str],
        *,
        newer_than_ns: int | None = None,
        skipped: list[SkippedFile] | None = None,
    ) -> list[StagedFile]:
        return self.inner.scan(src, patterns, newer_than_ns=newer_than_ns, skipped=skipped)

    def _measure(self, direction: str, host: str, meter: _ByteMeter, transfer: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return transfer()
        except MyriagateError as exc:
            TRANSFER_ERRORS.labels(direction, host, exc.code).inc()
            raise
        except Exception:
            TRANSFER_ERRORS.labels(direction, host, "internal_error").inc()
            raise
        finally:
            elapsed = time.perf_counter() - started
            TRANSFER_SECONDS.labels(direction, host).observe(elapsed)
            if meter.moved > 0 and elapsed > 0:
                TRANSFER_RATE.labels(direction, host).observe(meter.moved / elapsed)

    def close(self) -> None:
        """Close the inner stager (its SSH master connections) when it has anything to close."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
