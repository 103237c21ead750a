"""The cost of the log's secret redaction per line, side by side with an earlier version of it.

    python bench/log_redaction.py [--before-rev 910f4fd] [--rounds 9] [--lines 3000]

``myriagate.logs.redact_secrets`` (the last processor before a line is written) is timed on
event dicts shaped as the real pipeline hands them over (context merged, level and time
added), next to the same processor taken from ``--before-rev`` (by default the last version
before the redaction got its cheap pre-checks), loaded from git into a module of its own.
Both hold the same ``hide_values`` (a secret key, an SMTP password, a database password), as a
gateway does. Lines:

- ``http_request``: the gateway's line for each request (web/app.py) and uvicorn's access
  line for it, one each (so per request: two lines; figures are per line).
- ``submission``: the seven lines one ``POST /api/v1/jobs`` writes at INFO (``audit``,
  ``ledger.hold``, ``allocation.hold``, ``job.submitting``, ``job.state_changed``,
  ``job.submitted``, ``http.request``), shaped as a live gateway wrote them.
- ``files_download``: services/files/browser.py's line in a request's context.
- ``hostile``: a job name from tests/fakes/hostile.py beside a Bearer token, a
  ``password=`` pair and a URL with a password, in the message and in a field.
- ``traceback``: an error line with a 40-frame rendered traceback quoting a secret.

Both versions must give the same output for every line (checked before timing). Rounds are
interleaved (before, after, before, ...) so that load from others on a shared machine hits
both alike; figures are medians over rounds of ns per line. The last line is one JSON object;
``ratio_<line>_after_vs_before`` below 1 means the current version is cheaper.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repo root, for tests.fakes

from myriagate import logs  # noqa: E402
from tests.fakes.hostile import HOSTILE_STRINGS  # noqa: E402

Processor = Callable[[object, str, MutableMapping[str, Any]], MutableMapping[str, Any]]
TOKEN = "mgt_" + "Zk3-q_" * 7 + "x"  # mgt_ + 43 url-safe characters, as services/people/auth.py makes
HIDDEN = ("0f3c9a7e5b1d2c4f6a8e0b3d5f7a9c1e", "smtp pass phrase 42", "p@ss-w0rd-db")


def load_before(rev: str) -> ModuleType:
    """``myriagate/logs.py`` as it was at ``rev``, as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:myriagate/logs.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("myriagate_logs_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{rev}:myriagate/logs.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module


def context(method: str, path: str) -> dict[str, Any]:
    return {
        "user_id": "0b7e2a3c-5d1f-4e8a-9b6c-2f4d8e1a7c30",
        "user": "alice@unicaen.fr",
        "method": method,
        "path": path,
        "request_id": "4c1f0e9a8b7d6c5e4f3a2b1c0d9e8f7a",
    }


def lines() -> dict[str, list[dict[str, Any]]]:
    """The event dicts of each kind, as ``redact_secrets`` receives them."""
    stamp = {"level": "info", "timestamp": "2025-03-14T09:26:53.589793Z"}
    request = context("POST", "/api/v1/jobs")
    download_path = "/api/v1/clusters/devcluster/files/home/content"
    hostile_name = " ".join(HOSTILE_STRINGS[:8])
    secret_text = (
        f"job {hostile_name!r} refused: Authorization: Bearer {TOKEN}; password=hunter2hunter2 "
        "via postgresql+psycopg://gw:dbpa55word@db:5432/mg"
    )
    frames = "".join(
        f'  File "/opt/myriagate/.venv/lib/python3.11/site-packages/myriagate/services/step_{i}.py", '
        f"line {100 + i}, in run_{i}\n    result = call(session, job_id=job.id, login=user.cluster_login)\n"
        for i in range(40)
    )
    error = "RuntimeError: could not use {'password': 'tr4ce'}"
    traceback = f"Traceback (most recent call last):\n{frames}{error}"
    return {
        "http_request": [
            {
                "method": "POST", "path": "/api/v1/jobs", "status": 201, "duration_ms": 41.7,
                "event": "http.request", **request, **stamp,
            },
            {"event": '127.0.0.1:52144 - "POST /api/v1/jobs HTTP/1.1" 201', **request, **stamp},
        ],
        "submission": submission(request, stamp),
        "files_download": [
            {
                "cluster": "devcluster", "area": "home", "login": "alice", "size_bytes": 73400320,
                "offset": 0, "length": 73400320, "event": "files.download",
                **context("GET", download_path), **stamp,
            }
        ],
        "hostile": [
            {"job_name": hostile_name, "detail": secret_text, "event": secret_text, **request, **stamp,
             "level": "warning"}
        ],
        "traceback": [
            {"event": "worker.step_failed", "exception": traceback, **request, **stamp, "level": "error"}
        ],
    }  # fmt: skip


def submission(request: dict[str, Any], stamp: dict[str, str]) -> list[dict[str, Any]]:
    job = {"job_id": "76658e91-c85c-4418-9be1-1b2b69cfdfca"}
    return [
        {"action": "job.submit", "actor": request["user_id"], "target_type": "job",
         "target_id": job["job_id"], "event": "audit", **request, **stamp},
        {"allocation_id": "24f3d81c-1fbc-4d4c-b8c0-33d94bff5d77", **job,
         "amount": "600 core-seconds and 0 GPU-seconds", "event": "ledger.hold", **request, **stamp},
        {**job, "account": "caen-climat", "core_seconds": 600, "gpu_seconds": 0, "event": "allocation.hold",
         **request, **stamp},
        {**job, "cluster": "devcluster", "login": "alice", "event": "job.submitting", **request, **stamp},
        {**job, "slurm_job_id": "1142", "from_state": "submitting", "to_state": "pending",
         "slurm_state": "PENDING", "event": "job.state_changed", **request, **stamp},
        {**job, "slurm_job_id": "1142", "event": "job.submitted", **request, **stamp},
        {"method": "POST", "path": "/api/v1/jobs", "status": 201, "duration_ms": 112.3,
         "event": "http.request", **request, **stamp},
    ]  # fmt: skip


def ns_per_line(redact: Processor, dicts: list[dict[str, Any]], count: int) -> float:
    repeat = max(1, count // len(dicts))
    started = time.perf_counter_ns()
    for _ in range(repeat):
        for event_dict in dicts:
            redact(None, "info", event_dict)
    return (time.perf_counter_ns() - started) / (repeat * len(dicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-rev", default="910f4fd", help="git revision of the version to compare with")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--lines", type=int, default=3000, help="lines timed per round and version")
    args = parser.parse_args()

    before = load_before(args.before_rev)
    for module in (before, logs):
        module.hide_values(*HIDDEN)
    versions: dict[str, Processor] = {"before": before.redact_secrets, "after": logs.redact_secrets}
    kinds = lines()
    for kind, dicts in kinds.items():
        for event_dict in dicts:
            outputs = [redact(None, "info", dict(event_dict)) for redact in versions.values()]
            assert outputs[0] == outputs[1], (kind, outputs)
    assert TOKEN[4:] not in json.dumps(versions["after"](None, "info", kinds["hostile"][0]))

    figures: dict[str, Any] = {"before_rev": args.before_rev, "rounds": args.rounds}
    for kind, dicts in kinds.items():
        count = args.lines if kind != "traceback" else args.lines // 20
        samples: dict[str, list[float]] = {name: [] for name in versions}
        for _ in range(args.rounds):
            for name, redact in versions.items():
                samples[name].append(ns_per_line(redact, dicts, count))
        for name in versions:
            figures[f"{kind}_{name}_ns_per_line"] = round(statistics.median(samples[name]))
        figures[f"ratio_{kind}_after_vs_before"] = round(
            statistics.median(a / b for a, b in zip(samples["after"], samples["before"], strict=True)), 3
        )
        print(
            f"{kind:15} before {figures[f'{kind}_before_ns_per_line']:>8} ns/line  "
            f"after {figures[f'{kind}_after_ns_per_line']:>8} ns/line  "
            f"ratio {figures[f'ratio_{kind}_after_vs_before']}",
            flush=True,
        )
    figures["load_1m_at_end"] = os.getloadavg()[0]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
