"""Waiting for a job to end and streaming its output as it grows, by polling the API.

The API serves the *tail* of an output file (at most ``MAX_BYTES``), so following is done by
finding where the previous tail ends inside the new one. Transient failures (gateway
restarting, cluster briefly unreachable) are waited out: a researcher waiting for a
two-day job should not lose the wait to a gateway restart.
"""

from __future__ import annotations

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
    """Turns successive tails of a growing file into the complete lines not yet printed.

    Only whole lines are printed while the job runs: the last line may still be written (and
    a character cut in two by a read comes back from the API as U+FFFD); the rest is printed
    at the end (``final=True``).
    """

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._consumed = b""  # the part of the previous tail already printed
        self._whole = True  # the previous tail was the whole file

    def feed(self, tail: bytes, *, final: bool = False) -> str:
        whole = len(tail) < self.max_bytes
        if whole and self._whole:
            # The whole file is here: what is new starts where we stopped (or over, if rewritten).
            start = len(self._consumed) if tail.startswith(self._consumed) else 0
            prefix = b""
        else:
            start, prefix = self._after_overlap(tail)
        end = len(tail) if final else start + tail[start:].rfind(b"\n") + 1
        end = max(end, start)
        self._consumed, self._whole = tail[:end], whole
        return (prefix + tail[start:end]).decode("utf-8", errors="replace")

    def _after_overlap(self, tail: bytes) -> tuple[int, bytes]:
        """Where the new lines begin in a tail cut at the front, matched against the last one.

        The longest overlap means the smallest growth consistent with both reads; with a file
        past ``max_bytes`` that repeats itself exactly, that guess may be short.
        """
        # The first line of a cut tail is partial: match from the first whole line.
        first = tail.find(b"\n") + 1 if len(tail) >= self.max_bytes else 0
        body, window = tail[first:], self._consumed
        if not window:
            return first, b""
        probe = body[: min(ANCHOR_BYTES, len(window))]
        at = window.find(probe) if probe else -1
        while at >= 0:  # long overlaps: where the new tail's start sits in the old one
            if body.startswith(window[at:]):
                return first + len(window) - at, b""
            at = window.find(probe, at + 1)
        for size in range(min(len(probe), len(body)), 0, -1):  # overlaps shorter than the probe
            if body[:size] == window[-size:]:
                return first + size, b""
        return first, b"[... output skipped: it grew faster than it could be read ...]\n"


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
            text = follower.feed(_tail_bytes(client, job_id, stream, task), final=job.state.is_final)
        except MyriagateError as exc:
            if not exc.transient:
                raise
            poller.wait(False)
            continue
        if text:
            out.write(text)
            out.flush()
        if job.state.is_final:
            return job
        poller.wait(bool(text))


def _tail_bytes(client: GatewayClient, job_id: uuid.UUID, stream: Stream, task: int | None) -> bytes:
    return client.output_bytes(job_id, stream=stream, max_bytes=MAX_BYTES, task=task)
