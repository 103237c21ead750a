"""One oddly named result file must not cost a job its other results (issue #15, first contact:
``printf y > "results/-rf"`` failed the job, and real.txt beside it was not stored either).

Stage-out decides per file: a name the storage rules refuse, a link, a special file is skipped
and named on the job; the good files are stored; the job is completed, as Slurm said. Services
over the FakeStager (local directories) and FakeSlurm; the real far side is
tests/integration/test_stage_out_skipped_real.py.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import AuditEvent, Dataset, Job, User
from myriagate.domain import skipped_results
from myriagate.domain.job_explanations import explain
from myriagate.domain.skipped_results import SkipKind, SkippedFile
from myriagate.domain.states import JobState
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.staging.step import run_pending
from myriagate.settings import Settings
from myriagate.web.explanations import said
from myriagate.web.i18n import Translator
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.unit.test_services_staging import finish_in_slurm, refreshed, started_in_own_dir, submit


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


@pytest.fixture
def stager(tmp_path: Path) -> FakeStager:
    return FakeStager(tmp_path / "hosts")


@pytest.fixture
def ctx(
    session_factory: sessionmaker[Session], profile: ClusterProfile, backends: FakeSlurmBackendFactory,
    stager: FakeStager, clock: FakeClock, tmp_path: Path,
) -> StagingContext:  # fmt: skip
    return StagingContext(
        session_factory=session_factory, profile=profile, backends=backends, stager=stager, clock=clock,
        allowed_regions=["FR-NOR"], spool_dir=tmp_path / "spool", holder="test-worker", max_attempts=3,
    )  # fmt: skip


@dataclass(frozen=True)
class Ended:
    """What an explanation reads of a job (domain.job_explanations.JobFacts)."""

    state: JobState
    reason: str | None
    slurm_state: str | None = "COMPLETED"
    exit_code: int | None = 0
    signal: int | None = None
    max_rss_bytes: int | None = None
    mem_requested_bytes: int | None = None
    time_limit_s: int | None = None
    cancelled_by: str | None = None


def stored_job(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster, make: dict[str, bytes | str | None],
) -> Job:  # fmt: skip
    """A results/* job whose directory holds ``make`` (bytes: a file; str: a link to that
    target; None: a fifo) when Slurm says it completed; after its stage-out."""
    job = submit(session, session_factory, backends, profile, alice, clock,
                 StagingRequest(output_patterns=["results/*"], store="caen"))  # fmt: skip
    work = started_in_own_dir(session, ctx, stager, job)
    (work / "results").mkdir()
    for name, what in make.items():
        path = work / "results" / name
        if isinstance(what, bytes):
            path.write_bytes(what)
        elif isinstance(what, str):
            path.symlink_to(what)
        else:
            os.mkfifo(path)
    finish_in_slurm(session, job, fake_cluster, backends, clock)
    assert refreshed(session, job).state is JobState.STAGING_OUT
    assert run_pending(ctx) == 1
    session.expire_all()
    return session.get_one(Job, job.id)


def test_a_dash_named_file_a_link_and_a_fifo_are_skipped_and_named_the_good_file_is_stored(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster, tmp_path: Path,
) -> None:  # fmt: skip
    (tmp_path / "elsewhere").mkdir()
    make: dict[str, bytes | str | None] = {
        "real.txt": b"real\n", "-rf": b"y", "link": "real.txt", "dirlink": str(tmp_path / "elsewhere"),
        "fifo": None, "tab\there": b"x",
    }  # fmt: skip
    job = stored_job(
        session, session_factory, backends, profile, alice, clock, ctx, stager, fake_cluster, make
    )

    # Slurm said COMPLETED 0: so does the gateway, with the stage-out's note.
    assert job.state is JobState.COMPLETED, job.reason
    dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job.id)).one()
    assert [(f.path, f.sha256) for f in dataset.files] == [
        ("results/real.txt", hashlib.sha256(b"real\n").hexdigest())
    ]
    assert job.reason == (
        "1 result file(s) stored in Caen (FR-NOR); 5 skipped, as they cannot be stored safely: "
        "'results/-rf' (a refused name), 'results/dirlink' (a link), 'results/fifo' (not a regular file), "
        "'results/link' (a link), 'results/tab\\x09here' (a refused name)"
    )
    # Each skipped file is named in the job's explanation, in English and in French.
    explained = explain(Ended(job.state, job.reason))
    assert explained is not None and explained.code == "completed" and explained.hint is not None
    english = said(Ended(job.state, job.reason), Translator("en"))
    french = said(Ended(job.state, job.reason), Translator("fr"))
    assert english is not None and french is not None
    assert english.text == "finished successfully (exit code 0)"
    assert english.hint is not None and english.hint.startswith(
        "5 result file(s) not stored, as they cannot be stored safely: 'results/-rf' (a refused name), "
        "'results/dirlink' (a link), 'results/fifo' (not a regular file), 'results/link' (a link), "
        "'results/tab\\x09here' (a refused name). Links are never followed"
    )
    assert french.hint is not None and french.hint.startswith(
        "5 fichier(s) de résultats non stocké(s), faute de pouvoir les stocker sans risque : "
        "'results/-rf' (un nom refusé), 'results/dirlink' (un lien), "
        "'results/fifo' (pas un fichier ordinaire)"
    )
    # Nothing of them reached the storage endpoint; the audit entry lists them too.
    stored_dir = stager.base / "127.0.0.1_2223" / dataset.root.lstrip("/")
    assert sorted(p.name for p in (stored_dir / "results").iterdir()) == ["real.txt"]
    entry = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "job.stage_out")).one()
    assert {s["path"]: s["kind"] for s in entry.detail["skipped"]} == {
        "results/-rf": "name", "results/dirlink": "link", "results/fifo": "special", "results/link": "link",
        "results/tab\\x09here": "name",
    }  # fmt: skip


def test_only_unstorable_files_the_job_completes_with_none_stored_and_says_why(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    make: dict[str, bytes | str | None] = {"-rf": b"y"}
    job = stored_job(
        session, session_factory, backends, profile, alice, clock, ctx, stager, fake_cluster, make
    )
    assert job.state is JobState.COMPLETED
    assert job.reason == (
        "0 result file(s) stored in Caen (FR-NOR); 1 skipped, as they cannot be stored safely: "
        "'results/-rf' (a refused name)"
    )


def test_a_plain_stage_out_keeps_its_reason_and_explanation(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    make: dict[str, bytes | str | None] = {"a.txt": b"a"}
    job = stored_job(
        session, session_factory, backends, profile, alice, clock, ctx, stager, fake_cluster, make
    )
    assert job.reason == "1 result file(s) stored in Caen (FR-NOR)"
    explained = explain(Ended(job.state, job.reason))
    assert explained is not None and explained.hint is None


def test_the_note_reads_back_whatever_the_names_hold_and_is_cut_past_twenty() -> None:
    hostile = ["a'b (c)", "x\ny", "-rf", "<b>&amp;", "é\u202e", "back\\slash", 'q"uote']
    files = [SkippedFile(f"results/{n}", SkipKind.NAME) for n in hostile] + [
        SkippedFile(f"results/l{i:02}", SkipKind.LINK) for i in range(30)
    ]
    note = skipped_results.note(files)
    assert "\n" not in note and "<" not in note and '"' not in note
    found = skipped_results.from_reason("3 result file(s) stored in Caen (FR-NOR)" + note)
    assert found is not None and found.count == 37 and len(found.named) == skipped_results.MAX_NAMED
    assert note.endswith(", and 17 more")
    assert found.named[0] == SkippedFile("results/-rf", SkipKind.NAME)
    assert SkippedFile("results/a\\x27b (c)", SkipKind.NAME) in found.named
    assert skipped_results.note([]) == "" and skipped_results.from_reason("1 result file(s) stored") is None
    more = skipped_results.say(found, [(SkipKind.LINK, "un lien")], "et %(n)s de plus")
    assert more.endswith("'results/l15' (un lien), et 17 de plus")
