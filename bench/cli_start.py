"""How long `myriagate` takes to start, side by side with ``python -c pass``.

    .venv/bin/python bench/cli_start.py [--repeats 21] [--importtime]

Each command runs as a fresh subprocess, as a researcher runs it, from a warm disk (one
untimed run first); the figures are the median wall time (``*_s``) and the median CPU time
(``*_cpu_s``, user + system: steadier when other work shares the machine) of ``--repeats``
runs:
- ``python_pass``: the anchor, the interpreter starting and doing nothing;
- ``libraries``: the interpreter importing only the libraries `jobs list` and `submit` cannot do
  without (``LIBRARIES``): the floor under them, whatever our own code does
  (``*_beyond_libraries_s``: what they spend above it);
- ``cli_help``: ``myriagate --help``; ``cli_version``: ``myriagate version``;
- ``cli_jobs_list``: ``myriagate jobs list`` and ``cli_submit``: ``myriagate submit job.sh
  -p debug -t 5``, each answered by a stub gateway in this process (one small JSON
  answer), so the figure is the CLI's own start and one request, not the server's work.
  The stub speaks http://; ``https_tls_context_s`` is what an https:// gateway adds (the SSL
  context with certifi's CA bundle that httpx builds).

Target (issue 15): each at most 0.3 s. ``--importtime`` also prints the 15 slowest imports
of ``myriagate --help`` (``python -X importtime``) to stderr. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BUDGET_S = 0.3
# The floor under `jobs list` and `submit`: importing only the libraries they cannot do without
# (typer, which parses options with pydantic; rich's tables; httpx and httpcore), with httpx's
# own command-line tool kept out as myriagate/cli/__init__.py does.
LIBRARIES = (
    "import sys; sys.modules['httpx._main'] = None\n"
    "import typer, rich.console, rich.table, pydantic, httpx, httpcore\n"
    "try:\n    import typer._adapters  # typer 0.29 and later\nexcept ImportError:\n    pass\n"
)
NOW = datetime.now(UTC).isoformat()
JOB: dict[str, object] = {
    "id": str(uuid.uuid4()),
    "cluster": "devcluster",
    "owner": "alice",
    "cluster_login": "alice",
    "account": "caen-bio",
    "partition": "debug",
    "job_name": "bench",
    "state": "pending",
    "slurm_job_id": "1234",
    "slurm_state": "PENDING",
    "reason": None,
    "exit_code": None,
    "array_task_count": None,
    "work_dir": None,
    "submitted_at": NOW,
    "started_at": None,
    "ended_at": None,
    "created_at": NOW,
    "updated_at": NOW,
    "notices": [],
}


ME: dict[str, object] = {
    "id": str(uuid.uuid4()),
    "username": "alice",
    "display_name": "Alice",
    "email": None,
    "cluster_login": "alice",
    "institution": None,
    "roles": [],
    "is_active": True,
    "memberships": [],
}


class StubGateway(BaseHTTPRequestHandler):
    """Answers the calls the timed commands make, like the API would."""

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/jobs"):
            self._answer(200, {"items": [JOB], "next_cursor": None})
        elif self.path == "/api/v1/me":  # jobs list asks who lists (the owner column)
            self._answer(200, ME)
        else:
            self._answer(404, {"title": "Not found", "status": 404, "code": "not_found", "detail": self.path})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, JOB)

    def log_message(self, format: str, *args: object) -> None:
        pass


def timed(argv: Sequence[str], env: dict[str, str], repeats: int, cwd: str) -> tuple[float, float]:
    """The median wall time and the median CPU time (user + system) of ``argv`` over
    ``repeats`` runs, after one untimed warm-up run. On a quiet machine the two agree; under
    other load the CPU time is the steadier figure of the command's own cost."""
    walls, cpus = [], []
    for i in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()}")
        if i:
            walls.append(elapsed)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def tls_context_s(repeats: int) -> float:
    """What an https:// gateway adds to each start: httpx's SSL context with certifi's CA bundle."""
    import ssl

    import certifi

    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        ssl.create_default_context(cafile=certifi.where())
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def slowest_imports(
    cli_argv: Sequence[str], env: dict[str, str], cwd: str, count: int = 15
) -> list[tuple[int, str]]:
    """The ``count`` largest cumulative import times (µs, module) of one ``--help``."""
    rest = cli_argv[1:] if cli_argv[0] == sys.executable else cli_argv  # a script or `-c CODE`
    argv = [sys.executable, "-X", "importtime", *rest, "--help"]
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument(
        "--src",
        type=Path,
        help="time the myriagate package of this source tree instead (e.g. an older commit)",
    )
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), StubGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cli_argv = [str(Path(sys.executable).with_name("myriagate"))]
    if args.src is not None:
        cli_argv = [sys.executable, "-c", "from myriagate.cli.main import run; run()"]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "job.sh"
        script.write_text("#!/bin/bash\n#SBATCH --time=5\necho hello\n")
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            # Bytecode as an installed package has it (pip compiles on install), kept out of the tree.
            "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "myriagate-bench-pycache"),
            "XDG_CONFIG_HOME": tmp,  # no config file: the URL and token come from here
            "MYRIAGATE_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "MYRIAGATE_TOKEN": "mgt_bench",
            "COLUMNS": "200",
        }
        if args.src is not None:
            env["PYTHONPATH"] = str(args.src.resolve())
        commands = {
            "python_pass": [sys.executable, "-c", "pass"],
            "libraries": [sys.executable, "-c", LIBRARIES],
            "cli_help": [*cli_argv, "--help"],
            "cli_version": [*cli_argv, "version"],
            "cli_jobs_list": [*cli_argv, "jobs", "list"],
            "cli_submit": [*cli_argv, "submit", str(script), "-p", "debug", "-t", "5"],
        }
        # In an empty directory: `python -c` puts the current directory first on sys.path.
        measured = {name: timed(argv, env, args.repeats, tmp) for name, argv in commands.items()}
        if args.importtime:
            for micros, module in slowest_imports(cli_argv, env, tmp):
                sys.stderr.write(f"{micros / 1000:8.1f} ms  {module}\n")
    server.shutdown()
    figures: dict[str, object] = {"repeats": args.repeats, "budget_s": BUDGET_S}
    figures["loadavg_1min"] = round(os.getloadavg()[0], 2)
    seconds = {name: wall for name, (wall, _) in measured.items()}
    figures.update({f"{name}_s": round(value, 4) for name, value in seconds.items()})
    figures.update({f"{name}_cpu_s": round(cpu, 4) for name, (_, cpu) in measured.items()})
    # The stub is http://; against an https:// gateway jobs list and submit also build this.
    figures["https_tls_context_s"] = round(tls_context_s(args.repeats), 4)
    anchor = seconds["python_pass"]
    timed_commands = [name for name in seconds if name not in {"python_pass", "libraries"}]
    # What the commands that call the gateway spend beyond importing the libraries they need.
    for name in ("cli_jobs_list", "cli_submit"):
        figures[f"{name}_beyond_libraries_s"] = round(seconds[name] - seconds["libraries"], 4)
    for name in timed_commands:
        figures[f"ratio_{name}_vs_python"] = round(seconds[name] / anchor, 2)
        print(
            f"{name:>14}: {seconds[name]:.3f} s ({seconds[name] / anchor:.1f}x python -c pass)",
            file=sys.stderr,
        )
    figures["within_budget"] = all(seconds[name] <= BUDGET_S for name in timed_commands)
    figures["cpu_within_budget"] = all(measured[name][1] <= BUDGET_S for name in timed_commands)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
