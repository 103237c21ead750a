"""Collects what each fault test did and its consistency figures; writes docs/reliability.md.

A pytest plugin (loaded by tests/faults/conftest.py): when asked (``--write-reliability-doc``
or ``MYRIAGATE_WRITE_RELIABILITY_DOC=1``), the ``faults`` section of the document is rewritten
at the end of a session in which at least one fault test recorded its figures, with every fault
test's outcome (passed, failed, skipped with its reason). Unasked, the tracked file is left as
it is, so an ordinary test run changes nothing in the working tree.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.faults.consistency import Report
from tests.faults.report_doc import update_section


@dataclass
class Entry:
    what: str
    figures: dict[str, Any]
    extra: dict[str, Any]


@dataclass
class Recorder:
    entries: dict[str, Entry] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    hostile_tried: int = 0

    def record(self, name: str, what: str, report: Report, **extra: Any) -> None:
        self.entries[name] = Entry(what, report.figures(), extra)


RECORDER = Recorder()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    rep = outcome.get_result()
    if "faults" not in item.keywords:
        return
    name = item.name
    if rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed"):
        if hasattr(rep, "wasxfail"):  # before skipped: an xfail is reported as skipped too
            RECORDER.outcomes[name] = f"xfail: {rep.wasxfail.removeprefix('reason: ')}"
        elif rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            RECORDER.outcomes[name] = f"skipped: {reason.removeprefix('Skipped: ')}"
        else:
            RECORDER.outcomes[name] = rep.outcome
        RECORDER.durations[name] = RECORDER.durations.get(name, 0.0) + rep.duration


def write_requested(config: pytest.Config) -> bool:
    asked = config.getoption("write_reliability_doc", default=False)
    return bool(asked) or os.environ.get("MYRIAGATE_WRITE_RELIABILITY_DOC") == "1"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not RECORDER.entries or not write_requested(session.config):
        return  # the fault tests did not run, or nobody asked: keep the document as it is
    update_section("faults", render(RECORDER))


def render(rec: Recorder) -> str:
    lines = [
        "## Faults",
        "",
        f"`pytest -m faults --write-reliability-doc tests/faults` on {time.strftime('%Y-%m-%d')}, "
        "against the real dev cluster (Slurm 22.05, sshd, PostgreSQL 15) on this machine.",
        "",
        "| fault | outcome | s | accepted | in Slurm once | never sent | lost | duplicated "
        "| holds / charges / releases | ledger consistent | files checked |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    names = sorted(set(rec.outcomes) | set(rec.entries))
    for name in names:
        e = rec.entries.get(name)
        out = rec.outcomes.get(name, "?")
        dur = f"{rec.durations.get(name, 0):.0f}"
        if e is None:
            lines.append(f"| `{name}` | {out} | {dur} | | | | | | | | |")
            continue
        f = e.figures
        lines.append(
            f"| `{name}` | {out} | {dur} | {f['jobs_accepted']} | {f['jobs_in_slurm_once']} "
            f"| {f['jobs_never_sent']} "
            f"| {f['jobs_lost']} | {f['jobs_duplicated']} | {f['holds']} / {f['charges']} / {f['releases']} "
            f"| {f['ledger_consistent']} | {f['files_checked']} |"
        )
    lines += ["", "What each test did:", ""]
    for name in names:
        e = rec.entries.get(name)
        if e is None:
            lines.append(f"- `{name}`: {rec.outcomes.get(name, '?')}")
            continue
        extra = "; ".join(f"{k}: {v}" for k, v in e.extra.items())
        lines.append(f"- `{name}`: {e.what}" + (f" ({extra})" if extra else ""))
    totals = {k: sum(int(e.figures[k]) for e in rec.entries.values())
              for k in ("jobs_accepted", "jobs_lost", "jobs_duplicated", "files_checked")}  # fmt: skip
    lines += [
        "",
        f"Across the suite: {totals['jobs_accepted']} jobs accepted, **{totals['jobs_lost']} lost**, "
        f"**{totals['jobs_duplicated']} duplicated**, {totals['files_checked']} files checked by sha256; "
        f"{rec.hostile_tried} hostile strings (tests/fakes/hostile.py) submitted as job names during faults.",
    ]
    return "\n".join(lines)
