"""Each test runs in exactly one tier of deploy/test.sh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collected(marker: str, *paths: str) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
    out = subprocess.run([*command, "-m", marker, *paths], cwd=ROOT, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_the_slurm_tier_does_not_run_the_browser_and_fault_tests_again() -> None:
    # Their modules are marked ``slurm`` too (they need the cluster): ``-m slurm`` used to run
    # them a second time inside the slurm tier, the daemon-stopping fault tests included.
    assert _collected("slurm", "tests/browser", "tests/faults") == []


def test_the_browser_and_fault_tiers_run_their_own_tests() -> None:
    browser = _collected("browser", "tests/browser", "tests/faults")
    faults = _collected("faults", "tests/browser", "tests/faults")
    assert browser and all(line.startswith("tests/browser/") for line in browser)
    assert faults and all(line.startswith("tests/faults/") for line in faults)
