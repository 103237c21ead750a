# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Transfers through ``myriagate.client`` and the CLI: inputs up, datasets down, with progress.

The in-process API over the fake Slurm and the FakeStager's directories, as in
test_cli_staging. Progress is reported to any ``TransferProgress``; the CLI draws it on stderr
only at a terminal and never with ``--json``.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy.orm import Session

from myriagate.cli.progress import JobsBar, TasksBar, TransferBar, summary, wanted
from myriagate.client import ChecksumMismatch, Client, JobDetail, JobOut, JobState, NotFound
from myriagate.db.models import Dataset
from myriagate.db.models.users import User
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.step import run_pending
from tests.cli.test_cli_staging import (  # noqa: F401 - fixtures by name
    URL,
    As,
    as_user,
    http,
    ok,
    quiet_server_logs,
    workdir,
)
from tests.fakes.fake_stager import FakeStager
from tests.web.conftest import db  # noqa: F401 - fixture by name
from tests.web.test_api_staging import (  # noqa: F401 - fixtures by name
    RESULTS,
    alice,
    ctx,
    fake_time,
    host_dir,
    produced,
    settings_overrides,
    stager,
)


class Recorder:
    """A TransferProgress that remembers what it was told."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int]] = []
        self.advanced: dict[str, int] = {}

    def start(self, label: str, total_bytes: int) -> None:
        self.phases.append((label, total_bytes))
        self.advanced[label] = 0

    def advance(self, nbytes: int) -> None:
        self.advanced[self.phases[-1][0]] += nbytes


@pytest.fixture
def mg(alice: User, http: TestClient, token_for: Callable[[User], str]) -> Client:
    return Client(URL, token_for(alice), http=http)


def test_download_writes_every_file_verified_and_reports_progress(
    mg: Client, produced: dict[str, Any], tmp_path: Path
) -> None:
    dataset_id = produced["dataset_id"]
    assert [str(d.id) for d in mg.datasets()] == [dataset_id]
    recorder = Recorder()
    written = mg.download(dataset_id, tmp_path / "copy", progress=recorder)
    assert {p.relative_to(tmp_path / "copy").as_posix() for p in written} == set(RESULTS)
    for path, content in RESULTS.items():
        assert (tmp_path / "copy" / path).read_bytes() == content
    total = sum(len(c) for c in RESULTS.values())
    assert recorder.phases == [("2 file(s)", total)] and recorder.advanced == {"2 file(s)": total}
    with pytest.raises(NotFound, match=r"no file 'results/zzz\.h5'"):
        mg.download(dataset_id, tmp_path / "none", paths=["results/zzz.h5"])
    assert not (tmp_path / "none").exists()


def test_a_tampered_file_raises_checksum_mismatch_and_leaves_no_file(
    mg: Client, produced: dict[str, Any], db: Session, stager: FakeStager, tmp_path: Path
) -> None:
    dataset = db.get(Dataset, uuid.UUID(produced["dataset_id"]))
    assert dataset is not None
    (host_dir(stager, 2223, dataset.root) / "results/a.h5").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch) as mismatch:
        mg.download(dataset.id, tmp_path / "copy", paths=["results/a.h5"])
    assert mismatch.value.exit_code == 7
    assert [p for p in (tmp_path / "copy").rglob("*") if p.is_file()] == []


def test_submit_with_inputs_uploads_them_first_and_reports_both_phases(
    mg: Client, workdir: Path, ctx: StagingContext, stager: FakeStager
) -> None:
    recorder = Recorder()
    job = mg.submit(Path("job.sh"), inputs=["data", Path("params.toml")], progress=recorder)
    assert job.state is JobState.STAGING_IN
    size = sum(
        p.stat().st_size for p in [workdir / "params.toml", *(workdir / "data").rglob("*")] if p.is_file()
    )
    assert recorder.phases == [("checksums", size), ("upload of 3 file(s)", size)]
    assert recorder.advanced == {"checksums": size, "upload of 3 file(s)": size}
    assert run_pending(ctx) == 1
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job.id}")
    assert (job_dir / "data" / "deep" / "more.bin").read_bytes() == (
        workdir / "data/deep/more.bin"
    ).read_bytes()


def test_datasets_download_and_its_get_alias_print_no_bar_off_a_terminal(
    alice: User, as_user: Callable[[User], As], produced: dict[str, Any], tmp_path: Path
) -> None:
    run = as_user(alice)
    for command in ("download", "get"):
        dest = tmp_path / command
        result = run("datasets", command, produced["dataset_id"], "--dest", str(dest))
        assert "2 file(s)" in ok(result) and "checksums verified" in result.stdout
        assert result.stderr == ""  # CliRunner's stderr is no terminal: no bar, no redraws
        assert (dest / "results/a.h5").read_bytes() == RESULTS["results/a.h5"]
    as_json = json.loads(
        ok(run("datasets", "download", produced["dataset_id"], "--dest", str(tmp_path / "j"), "--json"))
    )
    assert {f["path"] for f in as_json["files"]} == set(RESULTS)
    helped = ok(run("datasets", "--help"))
    assert "download" in helped and " get " not in helped  # one name per command in --help


def test_transfer_bar_draws_on_a_terminal_and_stays_silent_when_disabled() -> None:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=100)
    with TransferBar(enabled=True, console=terminal) as bar:
        bar.start("upload of 1 file(s)", 2048)
        bar.advance(2048)
    assert "upload of 1 file(s)" in out.getvalue()
    quiet = io.StringIO()
    with TransferBar(enabled=False, console=Console(file=quiet, force_terminal=True)) as bar:
        bar.start("upload of 1 file(s)", 2048)
        bar.advance(2048)
    assert quiet.getvalue() == ""


def test_jobs_bar_counts_the_ended_jobs_and_states(produced: dict[str, Any]) -> None:
    job = JobOut.model_validate(produced["job"])
    jobs = [
        job.model_copy(update={"state": s}) for s in (JobState.COMPLETED, JobState.FAILED, JobState.RUNNING)
    ]
    assert summary(jobs) == "1 completed, 1 failed, 1 running"
    out = io.StringIO()
    with JobsBar(enabled=True, console=Console(file=out, force_terminal=True, width=120)) as bar:
        bar.update(jobs)
    assert "2/3" in out.getvalue() and "1 completed, 1 failed, 1 running" in out.getvalue()


def test_tasks_bar_shows_an_array_jobs_tasks_once_slurm_reported_them(produced: dict[str, Any]) -> None:
    summary = {"done": 5, "failed": 2, "cancelled": 0, "running": 3, "waiting": 10,
               "text": "5 done, 2 failed, 3 running, 10 waiting"}  # fmt: skip
    array = {"range": "0-19", "task_count": 20, "summary": summary, "tasks": []}
    job = JobDetail.model_validate({**produced["job"], "state": "running", "array": array})
    out = io.StringIO()
    with TasksBar(enabled=True, console=Console(file=out, force_terminal=True, width=120)) as bar:
        bar.update(job.model_copy(update={"array": None}))  # not reported yet: nothing drawn
        assert "/20" not in out.getvalue()
        bar.update(job)
    assert "7/20" in out.getvalue() and "running: 5 done, 2 failed, 3 running, 10 waiting" in out.getvalue()


def test_progress_is_wanted_only_at_a_terminal_and_never_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not wanted()  # a file or a pipe: no redraws in it
    monkeypatch.setattr("sys.stderr", Tty())
    assert wanted() and not wanted(quiet=True)  # --json, --parsable
    monkeypatch.setenv("TERM", "dumb")
    assert not wanted()


def test_datasets_download_takes_its_destination_as_an_argument_too(
    alice: User, as_user: Callable[[User], As], produced: dict[str, Any], tmp_path: Path
) -> None:
    """Issue #15 trial: `datasets download ID ./ds/` was refused as an extra argument."""
    run = as_user(alice)
    dest = tmp_path / "ds"
    ok(run("datasets", "download", produced["dataset_id"], f"{dest}/"))
    assert (dest / "results/a.h5").read_bytes() == RESULTS["results/a.h5"]
    same = tmp_path / "same"
    ok(run("datasets", "download", produced["dataset_id"], str(same), "--dest", str(same)))
    assert (same / "results/a.h5").exists()
    both = run(
        "datasets", "download", produced["dataset_id"], str(tmp_path / "x"), "--dest", str(tmp_path / "y")
    )
    assert both.exit_code == 5 and "two destinations" in both.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
