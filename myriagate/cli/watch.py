"""Waiting for jobs to end and streaming a job's output as it grows, by polling the API.

The waiting itself is ``myriagate.client``'s (back-off, transient failures waited out); this
module draws it for people: a spinner for one job, a bar for several (``jobs wait``), on
stderr and only at a terminal. The API serves the *tail* of an output file (at most
``MAX_BYTES``), so following is done by finding where the previous tail ends inside the new one.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, TextIO

import typer

from myriagate.cli.context import deps, localised, open_gateway
from myriagate.cli.job_refs import ClusterRefOpt, resolve_job_id, shown_id
from myriagate.cli.output import JsonOpt, guarded, print_json
from myriagate.cli.progress import JobsBar, TasksBar, stderr_console, summary, wanted
from myriagate.cli.terminal_text import visible
from myriagate.client.client import Client, Stream
from myriagate.client.waiting import Poller, wait_for_jobs
from myriagate.domain.job_explanations import exit_code_shown
from myriagate.errors import MyriagateError
from myriagate.web.api.schemas import JobOut

MAX_BYTES = 1024 * 1024  # the API's limit for one read
ANCHOR_BYTES = 512

# `submit --wait`, `jobs wait` and `jobs logs --follow` exit codes, documented in docs/cli.md.
EXIT_JOB_COMPLETED = 0
EXIT_JOB_NOT_COMPLETED = 1

Sleep = Callable[[float], None]


def exit_code_for(job: JobOut) -> int:
    """0 when the job completed, 1 for any other final state (failed, cancelled, timeout, …)."""
    return EXIT_JOB_COMPLETED if job.state.is_success else EXIT_JOB_NOT_COMPLETED


def describe(job: JobOut) -> str:
    """``job … failed (exit code 3)``, ``job … timeout: reached its time limit (10 min)``: the
    script's own exit code only (sacct's 0 for a cancelled, timed-out or killed job is none),
    and why it ended in the terminal's language, as ``jobs show`` and the job page say it."""
    text = f"job {shown_id(job)} {job.state.value}"
    code = exit_code_shown(job.state, job.exit_code, job.signal)
    explanation = job.explanation
    # The explanation of an exit code says the code itself ("failed with exit code 3"): once.
    if code is not None and (job.state.is_success or explanation is None or explanation.code != "exit_code"):
        text += f" (exit code {code})"
    if job.state.is_success:
        # A completed job may still have something to say (results skipped at stage-out).
        hint = localised(explanation.hint) if explanation is not None and explanation.hint else ""
        return f"{text}; {hint}" if hint else text
    if explanation is not None:
        return f"{text}: {localised(explanation.text)}"
    return f"{text}: {job.reason}" if job.reason else text


def _where(job: JobOut) -> str:
    slurm = f" (Slurm {job.slurm_job_id})" if job.slurm_job_id else ""
    reason = f": {job.reason}" if job.reason and job.reason != "None" else ""
    return f"job {shown_id(job)}{slurm} {job.state.value}{reason}"


class _OneJob:
    """A spinner with the job's state; for an array job, once its tasks are known, a bar."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self._status = stderr_console().status(f"waiting for job {label}…") if enabled else None
        self._tasks: TasksBar | None = None

    def __enter__(self) -> _OneJob:
        if self._status is not None:
            self._status.start()
        return self

    def show(self, text: str) -> None:
        if self._status is not None and self._tasks is None:
            self._status.update(text)

    def update(self, job: JobOut) -> None:
        if self._status is None:
            return
        if getattr(job, "array", None) is not None and self._tasks is None:
            self._status.stop()  # one live display at a time
            self._tasks = TasksBar(enabled=True).__enter__()
        if self._tasks is not None:
            self._tasks.update(job)
        else:
            self.show(_where(job))

    def __exit__(self, *exc: object) -> None:
        if self._tasks is not None:
            self._tasks.__exit__(None, None, None)
        elif self._status is not None:
            self._status.stop()


def wait_for_job(
    client: Client, job_id: uuid.UUID, *, sleep: Sleep, show_progress: bool = True, label: str | None = None
) -> JobOut:
    """Poll until the job reaches a final state; a spinner on stderr shows where it is, or for
    an array job a bar of its tasks (``7/20 running: 5 done, 2 failed, 13 waiting``).
    ``label``: how the job is named meanwhile (its short id)."""
    with _OneJob(label or str(job_id), enabled=show_progress and wanted()) as display:
        return wait_for_jobs(
            client,
            [job_id],
            sleep=sleep,
            on_update=lambda jobs: display.update(jobs[0]),
            on_retry=lambda exc: display.show(f"{exc.title}: {exc.detail} — retrying"),
        )[0]


def wait_for_several(
    client: Client, job_ids: Sequence[uuid.UUID], *, sleep: Sleep, show_progress: bool = True
) -> list[JobOut]:
    """Poll until every job ended; a bar on stderr counts them (``3/5 ended: 2 completed, …``)."""
    with JobsBar(enabled=show_progress and wanted()) as bar:
        return wait_for_jobs(client, job_ids, sleep=sleep, on_update=bar.update)


@guarded
def jobs_wait(
    ctx: typer.Context,
    job_ids: Annotated[
        list[str], typer.Argument(help="Jobs: ids as `myriagate submit` or `jobs list` print them.")
    ],
    cluster: ClusterRefOpt = None,
    json: JsonOpt = False,
) -> None:
    """Wait until every job named has ended; exit 0 only if all of them completed."""
    with open_gateway(ctx) as client:
        # The same ids as every job command (cli.job_refs): full, short, or Slurm's with -M.
        ids = [resolve_job_id(client, text, cluster) for text in job_ids]
        finals = wait_for_several(client, ids, sleep=deps(ctx).sleep, show_progress=not json)
    if json:
        print_json([job.model_dump(mode="json") for job in finals])
    else:
        for job in finals:
            sys.stderr.write(describe(job) + "\n")
        if len(finals) > 1:
            sys.stderr.write(summary(finals) + "\n")
    failed = any(not job.state.is_success for job in finals)
    raise typer.Exit(EXIT_JOB_NOT_COMPLETED if failed else EXIT_JOB_COMPLETED)


class TailFollower:
    """Turns successive tails of a growing file into the complete lines not yet printed.

    Only whole lines are printed while the job runs: the last line may still be written (and
    may end in half a character); the rest is printed at the end (``final=True``). The API
    serves the bytes as the job wrote them: ``feed_bytes`` gives them back as they are (for
    ``--raw``), ``feed`` as text, invalid UTF-8 replaced.
    """

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._consumed = b""  # the part of the previous tail already printed
        self._whole = True  # the previous tail was the whole file

    def feed(self, tail: bytes, *, final: bool = False) -> str:
        return self.feed_bytes(tail, final=final).decode("utf-8", errors="replace")

    def feed_bytes(self, tail: bytes, *, final: bool = False) -> bytes:
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
        return prefix + tail[start:end]

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
    client: Client,
    job_id: uuid.UUID,
    *,
    sleep: Sleep,
    stream: Stream = "output",
    task: int | None = None,
    out: TextIO | None = None,
    raw: bool = False,
) -> JobOut:
    """Print the job's output as it grows until the job ends; return the final job. Control
    characters are spelled out (``cli.terminal_text``) unless ``raw``: then the job's bytes
    go to ``out``'s binary buffer as they are, invalid UTF-8 and escapes included."""
    out = out or sys.stdout
    follower = TailFollower()
    poller = Poller(sleep)
    while True:
        try:
            # The state first: output read after a final state is seen is complete.
            job: JobOut = client.job(job_id)
            data = follower.feed_bytes(_tail_bytes(client, job_id, stream, task), final=job.state.is_final)
        except MyriagateError as exc:
            if not exc.transient:
                raise
            poller.wait(False)
            continue
        if data:
            _write(out, data, raw=raw)
        if job.state.is_final:
            return job
        poller.wait(bool(data))


def _write(out: TextIO, data: bytes, *, raw: bool) -> None:
    if raw:
        out.flush()  # text written before stays before
        out.buffer.write(data)
        out.buffer.flush()
    else:
        out.write(visible(data.decode("utf-8", errors="replace")))
        out.flush()


def _tail_bytes(client: Client, job_id: uuid.UUID, stream: Stream, task: int | None) -> bytes:
    return client.output_bytes(job_id, stream=stream, max_bytes=MAX_BYTES, task=task)
