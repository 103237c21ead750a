"""`pip install myriagate` gives a working client without the server's packages (issue 15).

The wheel is built from this checkout and installed into a fresh virtualenv with its base
dependencies only (from PyPI), as on a researcher's laptop. There, the researcher's commands
run, the client modules import, and an operator command says which install it needs.

In the slurm tier (tests/integration): it needs the network and takes about a minute, which
the unit tier must not; the import closure itself is checked fast in
tests/unit/test_cli_startup.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = {
    *("alembic", "babel", "fastapi", "jinja2", "paramiko", "pydantic-settings", "sqlalchemy", "structlog"),
    *("uvicorn", "starlette", "cryptography", "tenacity", "prometheus-client"),
}
CLIENT_MODULES = [
    "myriagate.client",
    "myriagate.client.client",
    "myriagate.client.transfers",
    "myriagate.client.waiting",
    "myriagate.cli.main",
    "myriagate.cli.jobs",
    "myriagate.cli.submit",
    "myriagate.cli.datasets",
    "myriagate.cli.session",
    "myriagate.cli.quota",
    "myriagate.cli.watch",
]

# long_wait: collected first, so its worker builds the virtualenv while the others start theirs.
pytestmark = [pytest.mark.slurm, pytest.mark.long_wait, pytest.mark.timeout(900)]


def _run(argv: list[str | Path], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Never this checkout's PYTHONPATH: pip would take the package there for installed.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} if env is None else env
    return subprocess.run([str(a) for a in argv], env=clean, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv holding the wheel of this checkout and its base dependencies only."""
    root = tmp_path_factory.mktemp("client-install")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("myriagate", "cluster_profiles", "templates"):
        # The package's _bundled links point at ../../cluster_profiles and ../../templates.
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=ignore)
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", src])
    assert built.returncode == 0, built.stderr
    wheel = next((root / "dist").glob("myriagate-*.whl"))
    venv = root / "venv"
    assert _run([sys.executable, "-m", "venv", venv]).returncode == 0
    installed = _run([venv / "bin" / "pip", "install", "-q", wheel])
    assert installed.returncode == 0, installed.stderr
    yield venv


def test_the_client_install_holds_no_server_package(client_venv: Path) -> None:
    listed = _run([client_venv / "bin" / "pip", "list", "--format=json"])
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert {"httpx", "typer", "rich", "pydantic", "myriagate"} <= names
    assert names & SERVER_PACKAGES == set()


@pytest.mark.parametrize("argv", [["--help"], ["version"], ["login", "--help"], ["submit", "--help"]])
def test_the_researchers_commands_run_there(client_venv: Path, argv: list[str]) -> None:
    done = _run([client_venv / "bin" / "myriagate", *argv], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    if argv == ["version"]:
        assert done.stdout.startswith("myriagate 0.1")
    else:
        assert "Usage: myriagate" in done.stdout


def test_the_client_modules_import_there(client_venv: Path) -> None:
    code = f"import importlib\nfor name in {CLIENT_MODULES!r}:\n    importlib.import_module(name)\n"
    code += "from myriagate.client import Client\nprint(Client.__name__)"
    done = _run([client_venv / "bin" / "python", "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Client"


def test_an_unreachable_gateway_and_an_operator_command_fail_cleanly_there(
    client_venv: Path, tmp_path: Path
) -> None:
    env = {
        "XDG_CONFIG_HOME": str(tmp_path),
        "MYRIAGATE_URL": "http://127.0.0.1:9",
        "MYRIAGATE_TOKEN": "mgt_x",
    }
    listed = _run([client_venv / "bin" / "myriagate", "jobs", "list"], env=env)
    assert listed.returncode == 7, listed.stderr
    assert listed.stderr.startswith("Error: Gateway unreachable: ")
    operator = _run([client_venv / "bin" / "myriagate", "admin", "db", "upgrade"], env=env)
    assert operator.returncode == 78, operator.stderr
    assert 'pip install "myriagate[server]"' in operator.stderr and "Traceback" not in operator.stderr
