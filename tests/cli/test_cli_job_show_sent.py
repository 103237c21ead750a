"""Issue #15: ``myriagate jobs show`` printed times without a time zone, its sbatch line broke
mid-command at 80 columns and showed the gateway's own ``--ignore-pbs``, and the script
showed the ``#MYRIAGATE-HANDLED`` markers. Now: times name their zone; the options the
researcher asked for, quoted and wrapped between options with a backslash; the script as
written, with one line saying what became of its #SBATCH lines; --json keeps both as sent."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.config import save_config
from myriagate.cli.context import CliDeps
from myriagate.cli.job_script import command_lines
from myriagate.cli.main import app as cli_app
from myriagate.db.models.users import User
from myriagate.domain.sent_script import HANDLED_PREFIX, as_written
from tests.fakes.hostile import HOSTILE_STRINGS

URL = "http://testserver"
SCRIPT = (
    "#!/bin/bash\n#SBATCH --job-name='demo staging'\n#SBATCH -t 00:05:00\n#SBATCH --partition=debug\n"
    "#PBS -N ignored\n# a comment\necho 'hello'\n"
)


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def api(
    app: FastAPI, make_user: Callable[..., User], token_for: Callable[[User], str], tmp_path: Path
) -> TestClient:
    alice = make_user(username="alice", login="alice", accounts=["caen-climat"])
    token = token_for(alice)
    save_config(tmp_path / "xdg" / "myriagate" / "config.toml", url=URL, token=token)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def show(api: TestClient, tmp_path: Path, *args: str) -> Result:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": None, "MYRIAGATE_TOKEN": None,
           "NO_COLOR": "1", "COLUMNS": "80", "LC_ALL": "C.UTF-8"}  # fmt: skip
    return CliRunner().invoke(cli_app, ["jobs", "show", *args], env=env, obj=CliDeps(http=api))


@pytest.fixture
def paris(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The terminal's zone is Paris (the process reads TZ once: tzset again, and after)."""
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("paris")
def test_jobs_show_says_what_was_asked_and_written_at_80_columns(api: TestClient, tmp_path: Path) -> None:
    body = {"script": SCRIPT.replace("#PBS -N ignored\n", "")}
    created = api.post("/api/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    job = created.json()
    result = show(api, tmp_path, job["id"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "--ignore-pbs" not in out and HANDLED_PREFIX.strip() not in out
    assert "\n        owner: alice\n" in out  # not "alice (login alice)": the login is the name
    assert "#SBATCH --job-name='demo staging'\n#SBATCH -t 00:05:00\n" in out
    assert "\n(its #SBATCH lines were read by the gateway and sent as the options above)\n" in out
    # The sbatch line: continued with backslashes, never broken inside an option, and the
    # options it names are, read back as a shell would, exactly those sent but --ignore-pbs.
    start = out.index("sbatch ")
    command = out[start : out.index("\n", start)]
    lines = []
    for line in out[start:].splitlines():
        lines.append(line)
        if not line.endswith(" \\"):
            break
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines), lines
    words = shlex.split(" ".join(line.removesuffix(" \\") for line in lines))
    assert words[0] == "sbatch" and command.startswith("sbatch --job-name='demo staging' ")
    exact = json.loads(show(api, tmp_path, job["id"], "--json").output)
    assert words[1:] == [a for a in exact["sbatch_args"] if a != "--ignore-pbs"]
    assert "--job-name=demo staging" in words
    # Times say their zone (TZ=Europe/Paris: CET in December, CEST in summer).
    assert re.search(r"submitted: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T\n", out), out
    assert "--ignore-pbs" in exact["sbatch_args"] and HANDLED_PREFIX in exact["script"]


def test_as_written_undoes_only_the_gateway_markers() -> None:
    sent = SCRIPT.replace("#SBATCH", HANDLED_PREFIX + "SBATCH").replace("#PBS", HANDLED_PREFIX + "PBS")
    assert as_written(sent) == SCRIPT
    assert (
        as_written("#!/bin/sh\necho '#MYRIAGATE-HANDLED x'\n") == "#!/bin/sh\necho '#MYRIAGATE-HANDLED x'\n"
    )


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_every_option_reads_back_whole_whatever_it_holds(hostile: str) -> None:
    args = ["--partition=debug", f"--job-name={hostile}", "--time=5", "--ignore-pbs"]
    lines = command_lines(args, 40)
    assert shlex.split(" ".join(line.removesuffix(" \\") for line in lines)) == ["sbatch", *args[:-1]]
