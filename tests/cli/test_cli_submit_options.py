"""``myriagate submit`` takes every sbatch option the table offers to the CLI, with sbatch's
names, and prints the submission's notices as warnings on stderr.

The options are generated from the option table (``cli/submit_options.py``); these tests read
the table, so an option added there is checked here without a new test.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from typer.testing import CliRunner

from myriagate.cli.main import app as cli_app
from myriagate.cli.submit_body import build_submission
from myriagate.cli.submit_options import cli_options
from myriagate.domain.sbatch_options import table
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    Run,
    last_slurm_id,
    quiet_server_logs,
    submit_json,
)
from tests.fakes.fake_slurm import FakeCluster

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def help_text(columns: int) -> str:
    terminal = {"COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    result = CliRunner().invoke(cli_app, ["submit", "--help"], env=terminal)
    assert result.exit_code == 0, result.output
    return _ANSI.sub("", result.stdout)


def test_help_lists_every_cli_option_of_the_table_with_its_names_and_help() -> None:
    text = " ".join(help_text(250).split())
    offered = [o for o in table.ACCEPTED if "cli" in o.surfaces]
    assert offered == list(cli_options()) and len(offered) > 40
    for option in offered:
        assert f"--{option.name} " in text, option.name
        if option.short:
            assert re.search(rf"--{option.name}\s+-{option.short}\s", text), option.name
        assert option.help.en in text, option.name
    # The gateway's own options are still there, --input/-i staging files in.
    for own in ("--cluster -M", "--template", "--param", "--dry-run", "--wait", "--follow", "--parsable",
                "--input -i", "--input-dataset", "--result", "--store", "--json"):  # fmt: skip
        assert own in text, own
    assert "Input file or directory to stage in" in text
    assert "File to read as standard input" not in text  # sbatch's --input is script-only here


def test_help_fits_80_columns_with_one_panel_per_section() -> None:
    text = help_text(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    panels = re.findall(r"─ (sbatch: [^─]+?) ─", text)
    assert panels[0] == "sbatch: Where and how long" and len(panels) == 7


def test_table_options_reach_the_api_body_with_flags_as_true(script: Path) -> None:
    body = build_submission(
        script, {"ntasks_per_node": 28, "exclusive": True, "constraint": "broadwell", "mail_type": "END"},
        cluster=None, template=None, params=[], dry_run=False,
    )  # fmt: skip
    sent = body.model_dump(mode="json", exclude_none=True)["options"]
    assert sent == {"ntasks_per_node": 28, "exclusive": True, "constraint": "broadwell", "mail_type": "END"}


def test_new_options_reach_slurm(run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster) -> None:
    result = run("submit", str(script), "--ntasks-per-node", "28", "--exclusive", "--constraint", "broadwell",
                 "--mail-type", "END", "-s", "--no-requeue", "--parsable")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    uuid.UUID(result.stdout.strip())
    assert result.stderr == ""  # nothing to warn about
    args = fake_cluster.job(last_slurm_id(fake_cluster)).sbatch_args
    for expected in ("--ntasks-per-node=28", "--exclusive", "--constraint=broadwell", "--mail-type=END",
                     "--oversubscribe", "--no-requeue"):  # fmt: skip
        assert expected in args, (expected, args)


def test_an_absent_flag_sends_nothing_and_a_bad_number_is_refused_before_sending(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster
) -> None:
    plan = submit_json(run, str(script), "--dry-run")
    assert not any(a.startswith(("--exclusive", "--requeue", "--oversubscribe")) for a in plan["sbatch_args"])
    refused = run("submit", str(script), "--ntasks-per-node", "0")
    assert refused.exit_code == 5
    # People's words, not pydantic's ("Input should be greater than or equal to 1"): issue #15.
    said = "Invalid request: --ntasks-per-node: '0' must be a whole number of at least 1; for example"
    assert said in refused.stderr
    assert fake_cluster.jobs == {}


def test_notices_are_warnings_on_stderr_and_stdout_keeps_the_id(
    run: Run, logged_in: str, tmp_path: Path, fake_cluster: FakeCluster
) -> None:
    windows = tmp_path / "windows.sh"
    windows.write_bytes(
        b"#!/bin/bash\r\n#SBATCH --partition=debug\r\n#SBATCH --time=5\r\n#SBATCH --err=e.log\r\necho hi\r\n"
    )
    result = run("submit", str(windows), "--parsable")
    assert result.exit_code == 0, result.stderr
    uuid.UUID(result.stdout.strip())
    assert result.stderr.splitlines() == [
        "Warning: the script had Windows line endings (CRLF); they were converted to Unix ones",
        "Warning: line 4: --err read as --error, as sbatch does",
    ]
    plan = run("submit", str(windows), "--dry-run", "--json")
    assert json.loads(plan.stdout)["notices"][1] == "line 4: --err read as --error, as sbatch does"
    assert plan.stderr.count("Warning: ") == 2
