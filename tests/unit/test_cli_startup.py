"""The researcher's commands import only the client (issue 15, "fast to start", "two installs").

Each command runs in a fresh interpreter (``python -c``), as a researcher runs it, and the
test reads ``sys.modules`` afterwards: no server package may have been imported. The gateway
answers through an httpx ``MockTransport`` inside that interpreter, so ``jobs list`` and
``submit`` run to their end without a server. How fast they start is measured by
``bench/cli_start.py``, not here. The operator's commands are under ``myriagate admin`` (the
old ``serve``/``worker``/``db`` still work) and say in one sentence what they lack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SERVER_PACKAGES = [
    *("alembic", "babel", "fastapi", "jinja2", "paramiko", "pydantic_settings", "sqlalchemy", "starlette"),
    *("structlog", "uvicorn", "myriagate.db", "myriagate.services", "myriagate.settings", "myriagate.wiring"),
]

# Runs one command of the CLI in-process against a mock gateway, then prints what was imported.
PROBE = """
import json, sys, uuid
from myriagate.cli.main import app

NOW = "2026-01-05T09:00:00+00:00"
JOB = {"id": str(uuid.uuid4()), "cluster": "devcluster", "owner": "alice", "cluster_login": "alice",
       "account": "caen-climat", "partition": "debug", "job_name": "probe", "state": "pending",
       "slurm_job_id": "12", "slurm_state": "PENDING", "reason": None, "exit_code": None,
       "array_task_count": None, "work_dir": None, "submitted_at": NOW, "started_at": None,
       "ended_at": None, "created_at": NOW, "updated_at": NOW, "notices": []}
ME = {"id": str(uuid.uuid4()), "username": "alice", "display_name": "Alice", "email": None,
      "cluster_login": "alice", "institution": None, "roles": [], "is_active": True, "memberships": []}

obj = None
if sys.argv[1] in ("jobs", "submit"):  # commands that call the gateway: a mock answers them
    import httpx
    from myriagate.cli.context import CliDeps

    def answer(request):
        if request.method == "POST":
            return httpx.Response(201, json=JOB)
        if request.url.path.endswith("/me"):  # jobs list asks who is listing (the owner column)
            return httpx.Response(200, json=ME)
        return httpx.Response(200, json={"items": [JOB], "next_cursor": None})

    obj = CliDeps(http=httpx.Client(transport=httpx.MockTransport(answer)))
try:
    app(sys.argv[1:], obj=obj, prog_name="myriagate")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYRIAGATE_")}
    env.update({"XDG_CONFIG_HOME": str(tmp_path), "MYRIAGATE_URL": "http://gateway.test"})
    env.update({"MYRIAGATE_TOKEN": "mgt_probe", "COLUMNS": "200", "NO_COLOR": "1"})
    env.update(extra)
    return env


def probe(tmp_path: Path, *argv: str) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], env=_env(tmp_path), capture_output=True, text=True, check=False
    )
    report = json.loads(done.stdout.splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout


# What `myriagate --help` needs to list the commands: the main group, its lazy loader, output.
LISTING_MODULES = {"myriagate.cli.main", "myriagate.cli.lazy", "myriagate.cli.output", "myriagate.cli.tables"}


def server_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in SERVER_PACKAGES))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["version"],
        ["jobs", "list"],
        ["submit", "job.sh", "-p", "debug", "-t", "5"],
        ["login", "--help"],
    ],
    ids=["help", "version", "jobs-list", "submit", "login-help"],
)
def test_researcher_commands_import_no_server_package(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "job.sh").write_text("#!/bin/bash\necho hello\n")
    argv = [str(tmp_path / a) if a == "job.sh" else a for a in argv]
    code, modules, out = probe(tmp_path, *argv)
    assert code == 0, out
    assert server_modules(modules) == []
    if argv[0] in {"jobs", "submit"}:
        assert "myriagate.client" in modules and "httpx" in modules


@pytest.mark.parametrize("argv", [["--help"], ["version"]], ids=["help", "version"])
def test_help_and_version_import_no_command_and_no_http_client(tmp_path: Path, argv: list[str]) -> None:
    code, modules, out = probe(tmp_path, *argv)
    assert code == 0, out
    commands = sorted(m for m in modules if m.startswith("myriagate.cli.") and m not in LISTING_MODULES)
    assert commands == []
    assert not {"httpx", "myriagate.client", "myriagate.web.api.schemas"} & modules


def test_jobs_list_imports_only_the_jobs_commands(tmp_path: Path) -> None:
    code, modules, out = probe(tmp_path, "jobs", "list")
    assert code == 0, out
    assert "myriagate.cli.jobs" in modules
    assert not {"myriagate.cli.submit", "myriagate.cli.datasets", "myriagate.cli.notifications"} & modules
    # Nor what only submitting, transfers, quotas and files need: the sbatch option table and
    # the model built from it, the upload and download code, the other API models.
    submit_only = {
        "myriagate.web.api.submit_schemas",
        "myriagate.domain.sbatch_options",
        "myriagate.client.transfers",
    }
    others = {"myriagate.web.api.allocation_schemas", "myriagate.web.api.files_schemas"}
    assert not (submit_only | others | {"myriagate.client.file_download"}) & modules


def test_the_python_client_still_offers_every_name_it_lists(tmp_path: Path) -> None:
    """``myriagate.client`` imports its names on first use (PEP 562): each listed one resolves."""
    code = (
        "import myriagate.client as c, sys; lazy = 'myriagate.web.api.submit_schemas' not in sys.modules;"
        "missing = [n for n in c.__all__ if getattr(c, n, None) is None]; print(lazy, missing)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True)
    assert done.stdout.split() == ["True", "[]"], done.stdout + done.stderr


def test_the_probe_sees_server_packages_when_an_operator_command_loads(tmp_path: Path) -> None:
    """The check above would catch a server import: loading `admin` brings them in."""
    code, modules, out = probe(tmp_path, "admin", "--help")
    assert code == 0, out
    assert "sqlalchemy" in server_modules(modules)


def _cli(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = "from myriagate.cli.main import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        check=False,
    )


def test_help_lists_the_researchers_commands_and_one_operator_group(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    listed = {
        line.split()[1]
        for line in done.stdout.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2
    }
    assert {"login", "submit", "jobs", "datasets", "quota", "version", "admin"} <= listed
    assert not {"serve", "worker", "db"} & listed
    assert "Operators" in done.stdout


OLD_AND_NEW = [
    ["serve", "--help"],
    ["worker", "--help"],
    ["db", "upgrade", "--help"],
    ["admin", "serve", "--help"],
    ["admin", "db", "current", "--help"],
]


@pytest.mark.parametrize("argv", OLD_AND_NEW)
def test_operator_commands_keep_their_old_spellings(argv: list[str]) -> None:
    # In this process (the lazy loading is the same; a fresh interpreter per spelling costs ~1 s).
    from typer.testing import CliRunner

    from myriagate.cli.main import app

    done = CliRunner().invoke(app, argv, prog_name="myriagate", env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert f"myriagate {' '.join(argv[:-1])}" in " ".join(done.output.split())


@pytest.mark.parametrize("argv", [["serve"], ["worker", "--once"], ["admin", "db", "upgrade"]])
def test_a_placeholder_secret_is_one_plain_sentence_and_exit_78(tmp_path: Path, argv: list[str]) -> None:
    done = _cli(tmp_path, *argv, MYRIAGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert done.returncode == 78, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "Error: Configuration error: MYRIAGATE_SECRET_KEY is a placeholder: set a real secret"
    )
    assert "validation error" not in done.stderr and "pydantic" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrongly_typed_setting_names_its_variable(tmp_path: Path) -> None:
    done = _cli(tmp_path, "admin", "db", "current", MYRIAGATE_DEV_MODE="true", MYRIAGATE_POLL_MIN_S="soon")
    assert done.returncode == 78, done.stderr
    assert done.stderr.startswith("Error: Configuration error: MYRIAGATE_POLL_MIN_S: ")
    assert "validation error" not in done.stderr and "https://errors.pydantic.dev" not in done.stderr


def test_an_operator_command_on_the_client_install_says_which_install_it_needs(tmp_path: Path) -> None:
    # sys.modules[name] = None makes `import sqlalchemy` fail as if it were not installed.
    code = "import sys; sys.modules['sqlalchemy'] = None; from myriagate.cli.main import run; run()"
    argv = [sys.executable, "-c", code, "admin", "db", "upgrade"]
    done = subprocess.run(argv, env=_env(tmp_path), capture_output=True, text=True, check=False)
    assert done.returncode == 78, done.stderr
    assert 'pip install "myriagate[server]"' in done.stderr
    assert "sqlalchemy is missing" in done.stderr and "Traceback" not in done.stderr


def test_shell_completion_reaches_into_the_lazy_operator_group(tmp_path: Path) -> None:
    env = {"_MYRIAGATE_COMPLETE": "complete_bash", "COMP_WORDS": "myriagate admin d", "COMP_CWORD": "2"}
    done = _cli(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"db", "demo"}
