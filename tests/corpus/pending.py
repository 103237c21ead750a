"""Corpus scripts the gateway does not yet treat as ``expected.toml`` says, and why.

The one place to edit: test_corpus_unit.py and test_corpus_real.py mark these names
``xfail(strict=True)``, so the suite stays green while they fail and turns red (XPASS) as
soon as one passes, to say its name must go. Empty the sets, then delete them.
"""

from __future__ import annotations

import pytest

# Every piece of the sbatch option table is in the submission service now (BOM and CRLF
# normalised, --mail-user kept to the user's own address, --dependency on another user's job
# refused): nothing waits for it.
PENDING_OPTION_TABLE: frozenset[str] = frozenset()
OPTION_TABLE_REASON = "sbatch option table not landed in the submission service"

# Profile fixes the corpus found: none left (debug's default_walltime now follows Slurm's
# DefaultTime=00:10:00 in cluster_profiles/devcluster.toml).
PENDING_PROFILE_FIX: frozenset[str] = frozenset()
PROFILE_FIX_REASON = "devcluster.toml: debug has no default_walltime (Slurm's DefaultTime is 00:10:00)"


def marks_for(name: str) -> list[pytest.MarkDecorator]:
    if name in PENDING_OPTION_TABLE:
        return [pytest.mark.xfail(strict=True, reason=OPTION_TABLE_REASON)]
    if name in PENDING_PROFILE_FIX:
        return [pytest.mark.xfail(strict=True, reason=PROFILE_FIX_REASON)]
    return []
