"""``expected.toml`` states Slurm's own meaning: checked with plain sbatch, without the gateway.

Each accepted script is submitted with the real ``sbatch`` as alice (``runuser``, so root
only), with its ``args`` on the command line, then read with ``scontrol show job -o`` and
cancelled. Scripts marked ``plain_sbatch = "refuses"`` must be refused by sbatch itself.
When a field here fails, the corpus is wrong (or the dev cluster changed), not the gateway.
"""

from __future__ import annotations

import pwd
from collections.abc import Iterator

import pytest

from tests.corpus import capabilities
from tests.corpus.loader import Entry, Placeholders, load
from tests.corpus.slurm_view import PlainSbatch, differences

pytestmark = pytest.mark.slurm

ENTRIES = load()
# A dependency target that never starts within the test: "(unfulfilled)" for its dependents.
TARGET = b"#!/bin/bash\n#SBATCH --time=00:05:00\n#SBATCH --begin=now+1hour\nsleep 1\n"


@pytest.fixture(scope="module")
def plain(devcluster: object) -> PlainSbatch:
    problem = PlainSbatch.usable()
    if problem is not None:
        pytest.skip(problem)
    return PlainSbatch("alice", "caen-climat")


@pytest.fixture(scope="module")
def dependency_target(plain: PlainSbatch) -> Iterator[str]:
    answer = plain.submit(TARGET, hold=False)
    assert answer.job_id is not None, answer.stderr
    yield answer.job_id
    plain.cancel(answer.job_id)


def _skip_unless_in_slurm(entry: Entry) -> None:
    reason = capabilities.missing(entry.needs, capabilities.in_slurm())
    if reason is not None:
        pytest.skip(reason)


ACCEPTED = [pytest.param(e, id=e.name) for e in ENTRIES if e.outcome == "accepted"]
REFUSED_BY_SBATCH = [pytest.param(e, id=e.name) for e in ENTRIES if e.plain_sbatch == "refuses"]


@pytest.mark.parametrize("entry", ACCEPTED)
def test_plain_sbatch_gives_the_expected_fields(
    entry: Entry, plain: PlainSbatch, dependency_target: str
) -> None:
    _skip_unless_in_slurm(entry)
    values = Placeholders(dep=dependency_target, home=pwd.getpwnam(plain.login).pw_dir)
    answer = plain.submit(entry.script_with(values), entry.args, hold=False)
    assert answer.job_id is not None, f"sbatch refused it: {answer.stderr}"
    try:
        shown = plain.show(answer.job_id)
    finally:
        plain.cancel(answer.job_id)
    filled = Placeholders(dep=values.dep, home=values.home, job_id=answer.job_id)
    wrong = differences(entry.expected_fields(filled), shown)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("entry", REFUSED_BY_SBATCH)
def test_plain_sbatch_refuses_what_the_gateway_rewrites(entry: Entry, plain: PlainSbatch) -> None:
    answer = plain.submit(entry.script, entry.args, hold=False)
    if answer.job_id is not None:
        plain.cancel(answer.job_id)
    assert answer.job_id is None and answer.returncode != 0, "sbatch accepted it: drop plain_sbatch"
