"""Every corpus script through the gateway's parsing and the dev cluster profile's checks.

No cluster, no database: ``validate_submission`` with the devcluster profile and a user that
lives only in memory. Refused scripts must be refused with their ``reason``; rewritten ones
accepted with a notice holding it; accepted and rewritten ones must give the partition, job
name and time limit Slurm itself gives (``expected.toml``'s ``slurm`` table).
"""

from __future__ import annotations

import pytest

from myriagate.domain.walltime import format_walltime
from myriagate.errors import MyriagateError
from myriagate.profiles.models import ClusterProfile
from tests.corpus import capabilities, pending
from tests.corpus.loader import Entry, Placeholders, load
from tests.corpus.pipeline import corpus_user, devcluster_profile, error_text, gateway_verdict

ENTRIES = load()


def _param(entry: Entry) -> object:
    # Scripts waiting for the sbatch option table are xfail(strict): tests/corpus/pending.py.
    return pytest.param(entry, id=entry.name, marks=pending.marks_for(entry.name))


@pytest.fixture(scope="module")
def profile() -> ClusterProfile:
    return devcluster_profile()


def _skip_unless_checkable(entry: Entry) -> None:
    reason = capabilities.missing(entry.needs, capabilities.in_profile())
    if reason is not None:
        pytest.skip(reason)
    if entry.stage == "submission":
        pytest.skip("decided when submitting (it needs the cluster or the database): test_corpus_real.py")


def _minutes(time_limit_s: int) -> str:
    """A time limit as Slurm shows it: rounded up to whole minutes."""
    return format_walltime(-(-time_limit_s // 60) * 60)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_the_gateway_decides_as_the_corpus_says(entry: Entry, profile: ClusterProfile) -> None:
    _skip_unless_checkable(entry)
    if entry.outcome == "refused":
        with pytest.raises(MyriagateError) as refusal:
            gateway_verdict(entry, profile, corpus_user())
        message = error_text(refusal.value)
        for phrase in entry.reasons_with(Placeholders()):
            assert phrase in message, f"{phrase!r} not in the refusal: {message}"
        return
    verdict = gateway_verdict(entry, profile, corpus_user())
    if entry.outcome == "rewritten":
        said = "\n".join(verdict.notices)
        for phrase in entry.reasons_with(Placeholders()):
            assert phrase in said, f"{phrase!r} not in the gateway's notices: {verdict.notices}"
    expected = entry.expected_fields(Placeholders())
    spec = verdict.spec
    shown = {
        "Partition": spec.partition,
        "JobName": spec.job_name,
        "TimeLimit": _minutes(spec.time_limit_s) if spec.time_limit_s else None,
    }
    for field, value in shown.items():
        if field in expected:
            assert value in expected[field], f"{field}: the gateway gives {value!r}, Slurm {expected[field]}"
