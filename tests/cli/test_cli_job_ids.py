"""Issue #15, "Ids you can use": `jobs list` shows short ids (git-like, 8+ hex digits, unique
among your jobs), every job command takes a short id, a full id or a Slurm job id (`-M` when
a Slurm id exists on several clusters), an ambiguous id lists its candidates and exits 6, and
the list fits 60, 80 and 200 columns without cutting an id, a number or a name."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    SCRIPT,
    Run,
    Worker,
    quiet_server_logs,
    submit_json,
)
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster
from tests.web.test_job_refs_api import OTHER_CLUSTER, add_job, ids_from

WIDTHS = (60, 80, 200)
LONG_NAME = "my_simulation_run_2026_batch_number_three"  # one word, longer than a narrow column


def fits(text: str, width: int) -> None:
    """Every line within ``width`` and nothing elided."""
    assert "…" not in text, text
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}\n{text}"


def tokens(text: str) -> set[str]:
    return set(text.split())


def spelled_out(name: str, text: str) -> bool:
    """``name`` is in ``text``, whole or folded over lines (its pieces in order)."""
    rest = name
    for token in text.split():
        if rest.startswith(token):
            rest = rest[len(token) :]
            if not rest:
                return True
    return False


@pytest.fixture
def add(
    web_session_factory: sessionmaker[Session], alice: User, clock: FakeClock
) -> Callable[..., uuid.UUID]:
    """``add(job_id=…, slurm_job_id=…, cluster=…, name=…)``: one of alice's jobs, as a row."""

    def make(**kwargs: object) -> uuid.UUID:
        with web_session_factory() as db:
            owner = db.get(User, alice.id)
            assert owner is not None
            return add_job(db, owner, clock, **kwargs).id  # type: ignore[arg-type]

    return make


def at(terminal: dict[str, str | None], width: int) -> None:
    terminal["COLUMNS"] = str(width)


def test_jobs_list_shows_unique_short_ids_of_8_or_more_that_every_command_takes(
    run: Run, logged_in: str, script: Path, add: Callable[..., uuid.UUID]
) -> None:
    submitted = [submit_json(run, str(script))["id"] for _ in range(3)]
    twins = [str(add(job_id=ids_from("abcdef0123" + d))) for d in "45"]
    listed = json.loads(run("jobs", "list", "--json").stdout)
    shorts = {job["id"]: job["short_id"] for job in listed}
    assert set(shorts) == {*submitted, *twins}
    assert len(set(shorts.values())) == len(shorts)
    for full, short in shorts.items():
        assert len(short) >= 8 and uuid.UUID(full).hex.startswith(short)
    assert [shorts[t] for t in twins] == [uuid.UUID(t).hex[:11] for t in twins]
    for full, short in shorts.items():
        shown = run("jobs", "show", short, "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["id"] == full


@pytest.mark.parametrize("width", WIDTHS)
def test_jobs_list_fits_the_terminal_and_never_cuts_ids_or_names(
    width: int, run: Run, env: dict[str, str | None], logged_in: str, script: Path
) -> None:
    jobs = [submit_json(run, str(script), "-J", name) for name in (LONG_NAME, "a name with spaces")]
    at(env, width)
    result = run("jobs", "list")
    assert result.exit_code == 0, result.stderr
    fits(result.stdout, width)
    words = tokens(result.stdout)
    listed = {job["id"]: job for job in json.loads(run("jobs", "list", "--json").stdout)}
    for job in jobs:
        assert listed[job["id"]]["short_id"] in words  # whole, on one line
        assert job["slurm_job_id"] in words
        assert job["id"] not in result.stdout  # the short id, not the full one
    # Names wrap (at spaces, or folded) but every character is there, in order.
    assert spelled_out(LONG_NAME, result.stdout), result.stdout
    if width == 200:
        header = result.stdout.splitlines()[0].split()
        assert header == [
            "id",
            "slurm",
            "owner",
            "name",
            "cluster/partition",
            "account",
            "state",
            "exit",
            "submitted",
        ]
    wide = run("jobs", "list", "--wide")
    assert all(job["id"] in wide.stdout for job in jobs)  # --wide: full ids and every column
    assert "caen-climat" in wide.stdout and "alice@unicaen.fr" in wide.stdout


def test_a_job_by_full_id_prefix_or_slurm_id_in_show_cancel_and_logs(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Callable[[float], None]
) -> None:
    job = submit_json(run, str(script))
    full, slurm = job["id"], job["slurm_job_id"]
    for ref in (full, full[:8], full.replace("-", "")[:12], slurm):
        shown = run("jobs", "show", ref, "--json")
        assert shown.exit_code == 0, (ref, shown.output)
        assert json.loads(shown.stdout)["id"] == full
    assert json.loads(run("jobs", "show", slurm, "-M", CLUSTER, "--json").stdout)["id"] == full
    fake = fake_cluster.job(slurm)
    worker(1.0)  # the worker learns the job's directory from Slurm
    fake_cluster.write_file(f"{fake.work_dir}/slurm-{slurm}.out", b"hello from the job\n")
    assert run("jobs", "logs", full[:8]).stdout == "hello from the job\n"
    logs = json.loads(run("jobs", "logs", slurm, "--json").stdout)
    assert logs["job_id"] == full and logs["text"] == "hello from the job\n"
    cancelled = run("jobs", "cancel", slurm)
    assert cancelled.exit_code == 0, cancelled.output
    short = json.loads(run("jobs", "show", full, "--json").stdout)["short_id"]
    assert f"job {short} " in cancelled.stdout  # the id people type next, as jobs list shows it
    assert fake_cluster.job(slurm).state == "CANCELLED"


@pytest.mark.parametrize("width", WIDTHS)
def test_an_ambiguous_prefix_lists_the_candidates_and_exits_6(
    width: int, run: Run, env: dict[str, str | None], logged_in: str, add: Callable[..., uuid.UUID]
) -> None:
    twins = [add(job_id=ids_from("abcdef0123" + d), name=f"twin-{d}") for d in "45"]
    at(env, width)
    for command in (["jobs", "show"], ["jobs", "cancel"], ["jobs", "logs"]):
        result = run(*command, "abcdef01")
        assert result.exit_code == 6, (command, result.output)
        assert result.stdout == ""
        *table, error = result.stderr.rstrip().splitlines()
        fits("\n".join(table), width)
        words = tokens(result.stderr)
        assert {str(t) for t in twins} <= words  # full ids, whole, to copy
        assert {"twin-4", "twin-5", "pending"} <= words
        assert error == "Error: Ambiguous job id: abcdef01 names 2 jobs: give more characters of the id"


def test_a_slurm_id_on_two_clusters_takes_dash_m(
    run: Run, logged_in: str, add: Callable[..., uuid.UUID]
) -> None:
    here = add(slurm_job_id="4242")
    there = add(slurm_job_id="4242", cluster=OTHER_CLUSTER)
    ambiguous = run("jobs", "show", "4242")
    assert ambiguous.exit_code == 6
    assert {CLUSTER, OTHER_CLUSTER, str(here), str(there)} <= tokens(ambiguous.stderr)
    assert "name the cluster" in ambiguous.stderr
    for cluster, job_id in ((CLUSTER, here), (OTHER_CLUSTER, there)):
        for flag in ("-M", "--cluster"):
            shown = run("jobs", "show", "4242", flag, cluster, "--json")
            assert json.loads(shown.stdout)["id"] == str(job_id), shown.output
    assert run("jobs", "show", "4242", "-M", "nowhere").exit_code == 3


def test_another_users_job_is_not_found_by_any_name(
    run: Run, logged_in: str, make_user: Callable[..., User], auth_client: Callable[[User], TestClient]
) -> None:
    bob = make_user(
        username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
    )
    bobs = auth_client(bob).post("/api/v1/jobs", json={"script": SCRIPT}).json()
    for ref in (bobs["id"], bobs["id"][:8], bobs["slurm_job_id"]):
        for command in (["jobs", "show"], ["jobs", "cancel"], ["jobs", "logs"]):
            result = run(*command, ref)
            assert result.exit_code == 3, (command, ref, result.output)
            assert "Matching jobs" not in result.stderr


@pytest.mark.parametrize("ref", ["abc", "not-a-uuid", "../jobs", "1 2", "$(id)", "x" * 70])
def test_what_cannot_be_a_job_id_exits_5(run: Run, logged_in: str, ref: str) -> None:
    result = run("jobs", "show", ref)
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith("Error: ")


def test_jobs_wait_takes_short_and_slurm_ids(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    first, second = submit_json(run, str(script)), submit_json(run, str(script))

    def both_end() -> None:
        for job in (first, second):
            fake_cluster.finish(job["slurm_job_id"], "COMPLETED")

    worker.steps = [both_end]
    result = run("jobs", "wait", first["id"][:8], second["slurm_job_id"], "-M", CLUSTER, "--json")
    assert result.exit_code == 0, result.output
    assert [j["id"] for j in json.loads(result.stdout)] == [first["id"], second["id"]]
    assert run("jobs", "wait", "abcdef01").exit_code == 3
