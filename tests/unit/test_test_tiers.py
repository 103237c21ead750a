"""Each test runs in exactly one tier of deploy/test.sh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Collects once per marker given, in one interpreter: its start and the suite's imports
# (conftests, playwright) are paid once, not once per marker.
_COLLECT = """
import sys
import pytest
for marker in sys.argv[1:]:
    print("== " + marker, flush=True)
    pytest.main(["-p", "no:cacheprovider", "--collect-only", "-q", "-m", marker,
                 "tests/browser", "tests/faults"])
    sys.stdout.flush()
"""


def _collected(*markers: str) -> dict[str, list[str]]:
    """The test ids ``-m <marker>`` selects among the browser and fault tests, by marker."""
    out = subprocess.run([sys.executable, "-c", _COLLECT, *markers], cwd=ROOT, capture_output=True, text=True)
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in out.stdout.splitlines():
        if line.startswith("== "):
            current = found.setdefault(line.removeprefix("== "), [])
        elif "::" in line:
            current.append(line)
    assert set(found) == set(markers), out.stdout + out.stderr
    return found


def test_the_slurm_tier_does_not_run_the_browser_and_fault_tests_again() -> None:
    # Their modules are marked ``slurm`` too (they need the cluster): ``-m slurm`` used to run
    # them a second time inside the slurm tier, the daemon-stopping fault tests included.
    assert _collected("slurm")["slurm"] == []


def test_the_browser_and_fault_tiers_run_their_own_tests() -> None:
    collected = _collected("browser", "faults")
    browser, faults = collected["browser"], collected["faults"]
    assert browser and all(line.startswith("tests/browser/") for line in browser)
    assert faults and all(line.startswith("tests/faults/") for line in faults)
