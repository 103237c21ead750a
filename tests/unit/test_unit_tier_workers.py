"""``-n auto`` gives the unit tier one xdist worker more than the CPUs (its tests wait a good
part of their time); the other tiers, or an explicit PYTEST_XDIST_AUTO_NUM_WORKERS, keep
xdist's own count."""

from __future__ import annotations

import os
from typing import cast

import pytest

from tests.conftest import pytest_xdist_auto_num_workers


class _Config:
    def __init__(self, markexpr: str) -> None:
        self.markexpr = markexpr

    def getoption(self, name: str, default: str = "") -> str:
        assert name == "markexpr"
        return self.markexpr


def _auto(markexpr: str) -> int | None:
    return pytest_xdist_auto_num_workers(cast(pytest.Config, _Config(markexpr)))


def test_the_unit_tier_gets_one_worker_more_than_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    assert _auto("unit") == len(os.sched_getaffinity(0)) + 1


def test_other_tiers_and_an_explicit_count_keep_xdists_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    assert _auto("db") is None and _auto("") is None and _auto("unit or db") is None
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")
    assert _auto("unit") is None
