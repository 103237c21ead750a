# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Issue #15, "Ids you can use", for `myriagate datasets …` as for jobs: `datasets list`
shows short ids (8+ hex digits, unique among the datasets you may see) that fit the terminal;
`show`, `download` and `copy-to`, and `submit --input-dataset`, take a short id or the full
id; an ambiguous one lists its candidates and exits 6, another user's dataset exits 3 like a
missing one, and text that is no id at all exits 5 before any request."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.cli.test_cli_unit import Run, quiet_server_logs  # noqa: F401 - quiet_server_logs: autouse
from tests.web.test_dataset_refs_api import bob, datasets  # noqa: F401 - fixtures by name


@pytest.mark.parametrize("width", [60, 80, 200])
def test_datasets_list_shows_short_ids_that_fit_the_terminal(
    width: int, run: Run, env: dict[str, str | None], logged_in: str, datasets: dict[str, uuid.UUID]
) -> None:
    env["COLUMNS"] = str(width)
    listed = run("datasets", "list")
    assert listed.exit_code == 0, listed.stderr
    words = set(listed.stdout.split())
    assert {datasets["twin1"].hex[:11], datasets["twin2"].hex[:11], datasets["loner"].hex[:8]} <= words
    assert str(datasets["loner"]) not in listed.stdout  # the short id, not the full one
    assert all(len(line) <= width for line in listed.stdout.splitlines()), listed.stdout
    wide = run("datasets", "list", "--wide")
    assert str(datasets["loner"]) in wide.stdout
    as_json = json.loads(run("datasets", "list", "--json").stdout)
    assert {d["short_id"] for d in as_json} == {datasets["twin1"].hex[:11], datasets["twin2"].hex[:11],
                                               datasets["loner"].hex[:8]}  # fmt: skip


def test_every_dataset_command_takes_a_short_id(
    run: Run, logged_in: str, datasets: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    for name in ("twin1", "loner"):
        full = datasets[name]
        short = full.hex[:11] if name == "twin1" else full.hex[:8]
        for ref in (short, str(full)):
            shown = run("datasets", "show", ref, "--json")
            assert shown.exit_code == 0, shown.output
            assert json.loads(shown.stdout)["id"] == str(full)
    # download and copy-to find the dataset by the same call as show (it is not backed by
    # files here: what matters is which dataset the short id named).
    for argv in (
        ["datasets", "download", "abcdef01", str(tmp_path)],
        ["datasets", "copy-to", "abcdef01", "x"],
    ):
        ambiguous = run(*argv)
        assert ambiguous.exit_code == 6, ambiguous.output
        assert "Matching datasets" in ambiguous.stderr


def test_an_ambiguous_short_id_lists_the_candidates_and_exits_6(
    run: Run, env: dict[str, str | None], logged_in: str, datasets: dict[str, uuid.UUID]
) -> None:
    env["COLUMNS"] = "80"
    shown = run("datasets", "show", "abcdef01")
    assert shown.exit_code == 6, shown.output
    assert "Matching datasets" in shown.stderr
    assert {"twin1", "twin2"} <= set(shown.stderr.split())
    assert str(datasets["twin1"]) in shown.stderr and str(datasets["twin2"]) in shown.stderr
    assert str(datasets["bobs"]) not in shown.stderr  # bob's: never shown to alice
    assert "Error: Ambiguous dataset id: abcdef01 names 2 datasets: give more characters" in shown.stderr
    assert shown.stdout == ""


def test_another_users_dataset_exits_3_like_a_missing_one_and_non_ids_exit_5_before_any_request(
    run: Run, logged_in: str, datasets: dict[str, uuid.UUID]
) -> None:
    bobs = run("datasets", "show", datasets["bobs"].hex[:9])
    missing = run("datasets", "show", "ffffffff9")
    assert bobs.exit_code == missing.exit_code == 3
    assert bobs.stderr.replace(datasets["bobs"].hex[:9], "X") == missing.stderr.replace("ffffffff9", "X")
    for text in ("abc", "zzzzzzzz", "../etc", "$(touch x)", "abcdef01\nrm", "é" * 9, "a" * 65):
        refused = run("datasets", "show", text)
        assert refused.exit_code == 5, (text, refused.output)
        assert "is not a dataset id" in refused.stderr


def test_a_french_terminal_reads_the_gateways_refusal_in_french(
    run: Run, env: dict[str, str | None], logged_in: str, datasets: dict[str, uuid.UUID]
) -> None:
    env["LANG"] = "fr_FR.UTF-8"
    refused = run("datasets", "show", "d3d9")
    assert refused.exit_code == 5
    assert "'d3d9' n'est pas un identifiant de jeu de données" in refused.stderr, refused.stderr
    ambiguous = run("datasets", "show", "abcdef01")
    assert ambiguous.exit_code == 6
    assert "abcdef01 désigne 2 jeux de données" in ambiguous.stderr, ambiguous.stderr


def test_submit_takes_a_short_input_dataset_id(
    run: Run, logged_in: str, script: Path, datasets: dict[str, uuid.UUID], http: TestClient
) -> None:
    loner = datasets["loner"]
    submitted = run("submit", str(script), "--input-dataset", loner.hex[:8], "--json")
    assert submitted.exit_code == 0, submitted.output
    job_id = json.loads(submitted.stdout)["id"]
    staging = http.get(f"/api/v1/jobs/{job_id}/staging", headers={"Authorization": f"Bearer {logged_in}"})
    assert staging.json()["input_datasets"] == [str(loner)]
    ambiguous = run("submit", str(script), "--input-dataset", "abcdef01", "--dry-run")
    assert ambiguous.exit_code == 6 and "Matching datasets" in ambiguous.stderr
    refused = run("submit", str(script), "--input-dataset", "nope", "--dry-run")
    assert refused.exit_code == 5 and "'nope' is not a dataset id" in refused.stderr
    hostile = run("submit", str(script), "--input-dataset", "$(touch x)", "--dry-run")
    assert hostile.exit_code == 5 and "--input-dataset '$(touch x)' is not a dataset id" in hostile.stderr
