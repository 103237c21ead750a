"""Waiting for a job to end and streaming its output as it grows, by polling the API.

The API serves the *tail* of an output file (at most ``MAX_BYTES``), so following is done by
finding where the previous tail ends inside the new one. Transient failures (gateway
restarting, cluster briefly unreachable) are waited out: a researcher waiting for a
two-day job should not lose the wait to a gateway restart.
"""

from __future__ import annotations

import codecs
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TextIO

from rich.console import Console

from myriagate.cli.client import GatewayClient, Stream
from myriagate.errors import MyriagateError
from myriagate.web.api.schemas import JobOut

MAX_BYTES = 1024 * 1024  # the API's limit for one read
ANCHOR_BYTES = 512
FIRST_POLL_S = 1.0
MAX_POLL_S = 10.0

# `submit --wait` and `jobs logs --follow` exit codes, documented in docs/cli.md.
EXIT_JOB_COMPLETED = 0
EXIT_JOB_NOT_COMPLETED = 1

Sleep = Callable[[float], None]


def exit_code_for(job: JobOut) -> int:
    """0 when the job completed, 1 for any other final state (failed, cancelled, timeout, …)."""
    return EXIT_JOB_COMPLETED if job.state.is_success else EXIT_JOB_NOT_COMPLETED


def describe(job: JobOut) -> str:
    text = f"job {job.id} {job.state.value}"
    if job.exit_code is not None:
        text += f" (exit code {job.exit_code})"
    if job.reason and not job.state.is_success:
        text += f": {job.reason}"
    return text


class _Poller:
    """Exponential back-off between polls, reset when something changes."""

    def __init__(self, sleep: Sleep) -> None:
        self._sleep = sleep
        self.interval = FIRST_POLL_S

    def wait(self, changed: bool) -> None:
        self.interval = FIRST_POLL_S if changed else min(self.interval * 1.5, MAX_POLL_S)
        self._sleep(self.interval)


def _status(show_progress: bool, text: str) -> AbstractContextManager[object]:
    if not show_progress:
        return nullcontext()
    return Console(stderr=True).status(text)


def wait_for_job(
    client: GatewayClient, job_id: uuid.UUID, *, sleep: Sleep, show_progress: bool = True
) -> JobOut:
    """Poll until the job reaches a final state; a spinner on stderr shows where it is."""
    poller = _Poller(sleep)
    last = ""
    with _status(show_progress, f"waiting for job {job_id}…") as status:
        while True:
            try:
                job: JobOut = client.job(job_id)
            except MyriagateError as exc:
                if not exc.transient:
                    raise
                text, changed = f"{exc.title}: {exc.detail} — retrying", False
            else:
                if job.state.is_final:
                    return job
                slurm = f" (Slurm {job.slurm_job_id})" if job.slurm_job_id else ""
                reason = f": {job.reason}" if job.reason and job.reason != "None" else ""
                text = f"job {job_id}{slurm} {job.state.value}{reason}"
                changed = text != last
            if status is not None and text != last:
                status.update(text)  # type: ignore[attr-defined]
            last = text
            poller.wait(changed)


class TailFollower:
    """Turns successive tails of a growing file into the bytes not yet printed."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._printed = 0  # bytes of the file printed, when the whole file fits in a tail
        self._window = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, tail: bytes) -> str:
        if len(tail) < self.max_bytes and len(self._window) < self.max_bytes:
            # The whole file is in the tail: what is new starts where we stopped.
            new = tail[self._printed :] if len(tail) >= self._printed else tail
        else:
            new = self._after_overlap(tail)
        self._window = tail
        self._printed = len(tail)
        return self._decoder.decode(new)

    def _after_overlap(self, tail: bytes) -> bytes:
        """What follows the longest end of the previous tail that the new tail starts with.

        The longest overlap means the smallest growth consistent with both reads; with a
        file past ``max_bytes`` that repeats itself exactly, that guess may be short.
        """
        window = self._window
        if not window:
            return tail
        probe = tail[: min(ANCHOR_BYTES, len(window))]
        at = window.find(probe)
        while at >= 0:  # long overlaps: where the new tail's start sits in the old one
            if tail.startswith(window[at:]):
                return tail[len(window) - at :]
            at = window.find(probe, at + 1)
        for size in range(min(len(probe), len(tail)) - 1, 0, -1):  # overlaps shorter than the probe
            if tail[:size] == window[-size:]:
                return tail[size:]
        return b"\n[... output skipped: it grew faster than it could be read ...]\n" + tail

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


def follow_output(
    client: GatewayClient,
    job_id: uuid.UUID,
    *,
    sleep: Sleep,
    stream: Stream = "output",
    task: int | None = None,
    out: TextIO | None = None,
) -> JobOut:
    """Print the job's output as it grows until the job ends; return the final job."""
    out = out or sys.stdout
    follower = TailFollower()
    poller = _Poller(sleep)
    while True:
        try:
            # The state first: output read after a final state is seen is complete.
            job: JobOut = client.job(job_id)
            text = follower.feed(_tail_bytes(client, job_id, stream, task))
        except MyriagateError as exc:
            if not exc.transient:
                raise
            poller.wait(False)
            continue
        if text:
            out.write(text)
            out.flush()
        if job.state.is_final:
            out.write(follower.flush())
            out.flush()
            return job
        poller.wait(bool(text))


def _tail_bytes(client: GatewayClient, job_id: uuid.UUID, stream: Stream, task: int | None) -> bytes:
    return client.output_bytes(job_id, stream=stream, max_bytes=MAX_BYTES, task=task)
