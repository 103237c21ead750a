"""Issue #15, the CLI at first contact: faults a researcher met trying it by hand at 80 columns.

Each runs the real API in-process (a fake Slurm behind it): the id ``submit`` prints is the
one every job command takes; a job from a file is named after the file as sbatch names it;
refusals name the option as typed (``--array``), not the API's field path.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.field_names import cli_name
from myriagate.cli.main import app as cli_app
from myriagate.client import Client
from myriagate.errors import MyriagateError
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    URL,
    Run,
    Worker,
    last_slurm_id,
    quiet_server_logs,
    submit_json,
)
from tests.fakes.fake_slurm import FakeCluster

SHORT = re.compile(r"^Submitted job ([0-9a-f]{8,31}) to \S+ \(Slurm job (\d+)\): \w+$")


# --- 1. the id submit prints is the one people use next ------------------------------------------
def test_submit_prints_the_short_id_and_the_slurm_id_that_every_job_command_takes(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    result = run("submit", str(script))
    assert result.exit_code == 0, result.stderr
    said = SHORT.match(result.stdout.strip())
    assert said is not None, result.stdout  # not the 36-character UUID
    short, slurm_job_id = said.groups()
    assert slurm_job_id == last_slurm_id(fake_cluster)
    listed = json.loads(run("jobs", "list", "--json").stdout)
    assert [job["short_id"] for job in listed] == [short]  # the id `jobs list` shows
    assert listed[0]["id"].replace("-", "").startswith(short)

    shown = run("jobs", "show", short, "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == listed[0]["id"]
    worker(1.0)  # the worker learns the job's directory from Slurm
    fake = fake_cluster.job(slurm_job_id)
    fake_cluster.write_file(f"{fake.work_dir}/slurm-{slurm_job_id}.out", b"hello\n")
    assert run("jobs", "logs", short).stdout == "hello\n"
    cancelled = run("jobs", "cancel", short)
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"Cancellation requested for job {short} ")
    worker.steps = [lambda: fake_cluster.finish(slurm_job_id, "CANCELLED")]
    waited = run("jobs", "wait", short)
    assert waited.exit_code == 1
    assert waited.stderr.startswith(f"job {short} cancelled")


def test_submit_wait_names_the_job_by_its_short_id(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    worker.steps = [lambda: fake_cluster.finish(last_slurm_id(fake_cluster), "FAILED", exit_code=3)]
    result = run("submit", str(script), "--wait")
    assert result.exit_code == 1
    short = SHORT.match(result.stdout.strip())
    assert short is not None, result.stdout
    assert f"job {short.group(1)} failed: failed with exit code 3" in result.stderr


def test_parsable_and_json_keep_the_full_id_for_scripts(run: Run, logged_in: str, script: Path) -> None:
    parsable = run("submit", str(script), "--parsable")
    assert uuid.UUID(parsable.stdout.strip())  # a script keeps it: it never becomes ambiguous
    created = submit_json(run, str(script))
    assert uuid.UUID(created["id"]) and created["id"].replace("-", "").startswith(created["short_id"])


# --- 2. a job from a file is named after the file, as sbatch names it ---------------------------
UNNAMED = "#!/bin/bash\n#SBATCH --time=5\necho hello\n"


@pytest.mark.parametrize(
    ("script_text", "args", "name"),
    [
        (UNNAMED, [], "prepare-data.sh"),  # sbatch prepare-data.sh names the job prepare-data.sh
        (UNNAMED.replace("--time=5", "--time=5 -J from-script"), [], "from-script"),
        (UNNAMED.replace("--time=5", "--time=5\n#SBATCH --job=prefix"), [], "prefix"),  # getopt prefix
        (UNNAMED, ["-J", "typed"], "typed"),
    ],
)
def test_a_job_from_a_file_is_named_after_it_unless_named_otherwise(
    run: Run,
    logged_in: str,
    tmp_path: Path,
    fake_cluster: FakeCluster,
    script_text: str,
    args: list[str],
    name: str,
) -> None:
    path = tmp_path / "prepare-data.sh"
    path.write_text(script_text)
    created = submit_json(run, str(path), *args)
    assert created["job_name"] == name
    assert fake_cluster.job(created["slurm_job_id"]).name == name  # what squeue shows
    plan = submit_json(run, str(path), *args, "--dry-run")
    assert f"--job-name={name}" in plan["sbatch_args"]


def test_a_script_from_stdin_stays_unnamed(run: Run, logged_in: str) -> None:
    result = run("submit", "-", "--json", input=UNNAMED)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["job_name"] is None


def test_the_python_client_names_a_job_from_a_path_but_not_from_text(
    logged_in: str, http: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "analyse.sh"
    path.write_text(UNNAMED)
    client = Client(URL, logged_in, http=http)
    assert client.submit(path).job_name == "analyse.sh"
    assert client.dry_run(path).sbatch_args.count("--job-name=analyse.sh") == 1
    assert client.submit(UNNAMED).job_name is None
    assert client.submit(path, job_name="given").job_name == "given"


def test_a_file_name_sbatch_could_not_take_leaves_the_job_unnamed(logged_in: str, http: TestClient) -> None:
    client = Client(URL, logged_in, http=http)
    body = {"script": UNNAMED, "script_name": "bad\nname.sh"}
    answer = http.post("/api/v1/jobs", json=body, headers={"Authorization": f"Bearer {logged_in}"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["job_name"] is None
    body = {"script": UNNAMED, "script_name": "../../elsewhere/run.sh"}
    answer = http.post("/api/v1/jobs", json=body, headers={"Authorization": f"Bearer {logged_in}"})
    assert answer.json()["job_name"] == "run.sh"  # the last component only
    assert client.job(answer.json()["id"]).job_name == "run.sh"


# --- 3. refusals name the option as typed --------------------------------------------------------
def test_a_template_refusal_names_the_cli_option_not_the_api_field(
    run: Run, logged_in: str, fake_cluster: FakeCluster
) -> None:
    result = run("submit", "--template", "array")
    assert result.exit_code == 5, result.output
    assert "options.array" not in result.stderr
    assert "  - --array (-a): required by this template" in result.stderr.splitlines()
    assert fake_cluster.jobs == {}


@pytest.mark.parametrize(
    ("loc", "said"),
    [
        (("options", "cpus_per_task"), "--cpus-per-task (-c)"),
        (("body", "options", "mail_type"), "--mail-type"),
        (("options", "not_in_the_table"), "--not-in-the-table"),
        (("params", "steps"), "--param steps"),
        (("script", 4), "script line 4"),
        (("staging", "output_patterns", 0), "--result"),
        (("staging", "store"), "--store"),
        (("cluster",), "--cluster"),
        (("query", "task"), "--task"),
        (("query", "max_bytes"), "--bytes"),
        (("query", "since"), "--since"),
        (("partition",), "partition"),  # a profile's own check: as the server names it
        (("something", "else"), "something.else"),
    ],
)
def test_api_field_paths_are_said_as_the_cli_spells_them(loc: tuple[str | int, ...], said: str) -> None:
    assert cli_name(loc) == said


# --- 4. bad option values: one line naming the option and a good value, nothing sent -----------
@pytest.fixture
def offline(env: dict[str, str | None], script: Path) -> Callable[..., tuple[Result, list[httpx.Request]]]:
    """The CLI with a gateway that records every request (and answers none): proves nothing
    was sent for a value refused on the command line."""

    def invoke(*args: str) -> tuple[Result, list[httpx.Request]]:
        sent: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(500)

        http = httpx.Client(transport=httpx.MockTransport(record))
        env_now = {**env, "MYRIAGATE_URL": URL, "MYRIAGATE_TOKEN": "mgt_test", "COLUMNS": "80"}
        argv = [str(script) if a == "SCRIPT" else a for a in args]
        result = CliRunner().invoke(cli_app, argv, env=env_now, obj=CliDeps(http=http))
        return result, sent

    return invoke


@pytest.mark.parametrize(
    ("args", "exit_code", "says"),
    [
        (
            ["submit", "SCRIPT", "-t", "5x"],
            5,
            ["--time (-t): '5x' is not a Slurm time", "for example -t 01:30:00"],
        ),
        (
            ["submit", "SCRIPT", "-n", "abc"],
            5,
            ["--ntasks (-n): 'abc' must be a whole number", "for example -n 4"],
        ),
        (["submit", "SCRIPT", "--mem", "lots"], 5, ["--mem: memory 'lots'", "for example --mem 4G"]),
        (["submit", "SCRIPT", "--array", "1-"], 5, ["--array (-a): array '1-'", "for example -a 0-99%10"]),
        (["submit", "SCRIPT", "--nodes", "-1"], 5, ["--nodes (-N): '-1' must be a whole number", "-N 4"]),
        (["submit", "SCRIPT", "-c", "1.5"], 5, ["--cpus-per-task (-c): '1.5'", "for example -c 4"]),
        (["submit", "SCRIPT", "--json=yes"], 2, ["--json is a flag and takes no value"]),
        (["submit", "--json", "5", "SCRIPT"], 2, ["unexpected extra argument", "take no value"]),
        (
            ["jobs", "list", "--limit", "x"],
            5,
            ["--limit: 'x' is not a whole number", "for example --limit 20"],
        ),
        (
            ["jobs", "list", "--since", "yesterday"],
            5,
            ["--since: 'yesterday' is not a date", "--since 2026-12-01"],
        ),
        (
            ["jobs", "list", "--state", "bogus"],
            5,
            ["--state: 'bogus' is not one of", "for example --state running"],
        ),
        (["jobs", "logs", "abcdef12", "--task", "x"], 5, ["--task: 'x' is not a whole number", "--task 3"]),
        (["jobs", "list", "--json=1"], 2, ["--json is a flag and takes no value"]),
        (["jobs", "list", "--bogus"], 2, ["No such option: --bogus", "myriagate jobs list --help"]),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option_and_a_good_value_and_nothing_is_sent(
    offline: Callable[..., tuple[Result, list[httpx.Request]]],
    args: list[str],
    exit_code: int,
    says: list[str],
) -> None:
    result, sent = offline(*args)
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for words in says:
        assert words in lines[0]
    assert "Input should be" not in lines[0] and "╭" not in result.stderr  # neither pydantic nor a box
    assert sent == []


def test_good_values_still_reach_the_gateway_as_typed(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster
) -> None:
    plan = submit_json(run, str(script), "-n", "4", "-N", "1", "--nice", "0", "-t", "20", "--dry-run")
    assert {"--ntasks=4", "--nodes=1", "--nice=0", "--time=00:20:00"} <= set(plan["sbatch_args"])
    # docs/cli.md's own example: a date without a zone is the terminal's (the API wants a zone).
    listed = run("jobs", "list", "--limit", "5", "--state", "running", "--since", "2026-01-01")
    assert listed.exit_code == 0, listed.stderr


# --- 5. a French terminal gets the gateway's refusals in French ----------------------------------
def french_run(env: dict[str, str | None], http: TestClient, **locale: str | None) -> Run:
    def invoke(*args: str) -> Result:
        env_now = {**env, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None, **locale}
        return CliRunner().invoke(cli_app, list(args), env=env_now, obj=CliDeps(http=http))

    return invoke


@pytest.mark.parametrize(
    "locale",
    [{"LANG": "fr_FR.UTF-8"}, {"LC_MESSAGES": "fr_CA.UTF-8", "LANG": "en_GB.UTF-8"}, {"LC_ALL": "fr"}],
)
def test_a_french_locale_gets_the_gateways_refusals_in_french(
    env: dict[str, str | None], http: TestClient, logged_in: str, locale: dict[str, str]
) -> None:
    run_fr = french_run(env, http, **locale)
    refused = run_fr("submit", "--template", "array")
    assert refused.exit_code == 5
    assert "le modèle 'array' a besoin de --array" in refused.stderr, refused.stderr
    assert (
        "  - --array (-a): exigé par ce modèle" in refused.stderr.splitlines()
    )  # the CLI's name, their words
    missing = run_fr("jobs", "show", "abcdef12")
    assert missing.exit_code == 3 and "aucun job abcdef12" in missing.stderr, missing.stderr


@pytest.mark.parametrize("locale", [{"LANG": "en_US.UTF-8"}, {"LC_ALL": "C", "LANG": "fr_FR.UTF-8"}, {}])
def test_other_locales_keep_english(
    env: dict[str, str | None], http: TestClient, logged_in: str, locale: dict[str, str]
) -> None:
    refused = french_run(env, http, **locale)("submit", "--template", "array")
    assert refused.exit_code == 5
    assert "the 'array' template needs --array" in refused.stderr, refused.stderr


def test_the_python_client_asks_for_a_language_only_when_told(logged_in: str, http: TestClient) -> None:
    with pytest.raises(MyriagateError) as french:
        Client(URL, logged_in, http=http, language="fr").job("abcdef12")
    assert "aucun job" in french.value.detail
    with pytest.raises(MyriagateError) as english:
        Client(URL, logged_in, http=http).job("abcdef12")
    assert "no job abcdef12" in english.value.detail


def test_the_python_client_reads_a_naive_datetime_as_local_time(
    logged_in: str, http: TestClient, script: Path
) -> None:
    client = Client(URL, logged_in, http=http)
    job = client.submit(script)
    # datetime(2026, 1, 1) without a zone was refused by the API ("since needs a time zone").
    assert [j.id for j in client.jobs(since=datetime(2000, 1, 1))] == [job.id]
    assert client.jobs(until=datetime(2000, 1, 1)) == []
