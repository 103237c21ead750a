"""Every corpus script submitted through the gateway to the REAL dev cluster, as alice.

The gateway's own submission service (parse, profile checks, ``sbatch`` over SSH as the
researcher's login) sends each script; ``scontrol show job -o`` must then show what
``expected.toml`` says Slurm makes of the script, and every job is cancelled at once
(scripts are short anyway). Refused scripts must be refused by the gateway with their
reason. Each script is submitted once per module; the billing comparison reuses it.
"""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.users import User
from myriagate.domain.jobs import JobSpec
from myriagate.errors import MyriagateError
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations.charging import gateway_billing_rate
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.wiring import ClusterBackends
from tests.corpus import capabilities, pending
from tests.corpus.loader import Entry, Placeholders, load
from tests.corpus.pipeline import CLUSTER, error_text
from tests.corpus.slurm_view import PlainSbatch, billing_of, differences

pytestmark = pytest.mark.slurm

CLOCK = SystemClock()
ENTRIES = load()
# What a dependency points at: a job of the same user (or of bob) that is still running or
# pending while the dependent job is looked at, so Slurm shows it "(unfulfilled)".
TARGET_SCRIPT = "#!/bin/bash\n#SBATCH --job-name=corpus-dep-target\n#SBATCH --time=00:05:00\nsleep 120\n"


@dataclass(frozen=True)
class Submitted:
    slurm_job_id: str
    spec: JobSpec
    fields: dict[str, str]
    values: Placeholders


class CorpusRun:
    """Submits corpus scripts through the gateway, each at most once; cancels every job."""

    def __init__(self, db: sessionmaker[Session], backends: ClusterBackends, people: dict[str, User]) -> None:
        self.db, self.backends, self.people = db, backends, people
        self.profile: ClusterProfile = backends.profile
        self.outcomes: dict[str, Submitted | MyriagateError] = {}
        self.targets: dict[str, str] = {}
        self.to_cancel: list[str] = []

    def _submit(self, login: str, text: str, overrides: dict[str, str]) -> tuple[str, JobSpec]:
        with self.db() as session:
            job = submit_job(
                session,
                backends=self.backends,
                profile=self.profile,
                user=session.merge(self.people[login]),
                request=SubmitRequest(script_text=text, cluster=CLUSTER, overrides=overrides),
                clock=CLOCK,
            )
            assert job.slurm_job_id is not None, f"not sent to Slurm: {job.state} {job.reason}"
            self.to_cancel.append(job.slurm_job_id)
            return job.slurm_job_id, JobSpec.model_validate(job.spec)

    def dependency_target(self, login: str) -> str:
        if login not in self.targets:
            self.targets[login] = self._submit(login, TARGET_SCRIPT, {})[0]
        return self.targets[login]

    def outcome(self, entry: Entry) -> Submitted | MyriagateError:
        if entry.name not in self.outcomes:
            self.outcomes[entry.name] = self._first_outcome(entry)
        return self.outcomes[entry.name]

    def _first_outcome(self, entry: Entry) -> Submitted | MyriagateError:
        dep = ""
        if entry.uses_dependency:
            dep = self.dependency_target("bob" if entry.dep_owner == "other" else "alice")
        values = Placeholders(dep=dep, home=pwd.getpwnam("alice").pw_dir)
        try:
            job_id, spec = self._submit("alice", entry.text_with(values), entry.overrides())
        except MyriagateError as exc:
            return exc
        # Read at once, before the job can start and finish; then it goes.
        fields = PlainSbatch.show(job_id)
        PlainSbatch.cancel(job_id)
        return Submitted(job_id, spec, fields, Placeholders(dep=dep, home=values.home, job_id=job_id))

    def close(self) -> None:
        for job_id in self.to_cancel:
            PlainSbatch.cancel(job_id)


@pytest.fixture(scope="module")
def run(
    corpus_db: sessionmaker[Session], corpus_backends: ClusterBackends, corpus_people: dict[str, User]
) -> Iterator[CorpusRun]:
    corpus = CorpusRun(corpus_db, corpus_backends, corpus_people)
    yield corpus
    corpus.close()


@pytest.fixture(scope="module")
def offered(devcluster: object) -> frozenset[str]:
    """What the dev cluster offers: declared in its profile and present in Slurm."""
    return capabilities.in_profile() & capabilities.in_slurm()


def _skip_unless_offered(entry: Entry, offered: frozenset[str]) -> None:
    reason = capabilities.missing(entry.needs, offered)
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.parametrize(
    "entry", [pytest.param(e, id=e.name, marks=pending.marks_for(e.name)) for e in ENTRIES]
)
def test_the_cluster_runs_each_script_with_its_slurm_meaning(
    entry: Entry, run: CorpusRun, offered: frozenset[str]
) -> None:
    _skip_unless_offered(entry, offered)
    outcome = run.outcome(entry)
    if entry.outcome == "refused":
        assert isinstance(outcome, MyriagateError), f"sent to Slurm as job {outcome.slurm_job_id}"
        message = error_text(outcome)
        dep = run.targets.get("bob" if entry.dep_owner == "other" else "alice", "")
        for phrase in entry.reasons_with(Placeholders(dep=dep)):
            assert phrase in message, f"{phrase!r} not in the refusal: {message}"
        return
    if isinstance(outcome, MyriagateError):
        pytest.fail(f"refused: {error_text(outcome)}")
    wrong = differences(entry.expected_fields(outcome.values), outcome.fields)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in ENTRIES if e.outcome != "refused"])
def test_gateway_billing_equals_slurms(entry: Entry, run: CorpusRun, offered: frozenset[str]) -> None:
    _skip_unless_offered(entry, offered)
    outcome = run.outcome(entry)
    if isinstance(outcome, MyriagateError):
        pytest.skip(f"not submitted ({outcome.detail}): see the meaning test")
    # A pending job is billed on what it asked for; once running, on what it was given
    # (--exclusive: the whole node), which is also what the gateway holds.
    pending = outcome.fields.get("JobState") == "PENDING"
    rate = gateway_billing_rate(outcome.spec, run.profile, pending=pending)
    assert rate == billing_of(outcome.fields), f"state {outcome.fields.get('JobState')}"
