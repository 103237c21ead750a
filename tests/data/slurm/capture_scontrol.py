"""Capture the dev cluster's own description (scontrol show partition/node/licenses -o) into
this directory, for the profile-drift parser tests (tests/unit/test_profile_drift.py).

Run as root on the cluster host: ``.venv/bin/python tests/data/slurm/capture_scontrol.py``.
Read-only: it submits nothing and changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from myriagate.slurm import scontrol

HERE = Path(__file__).resolve().parent


def main() -> None:
    for name, argv in (
        ("scontrol_show_partition", scontrol.show_partitions()),
        ("scontrol_show_node", scontrol.show_nodes()),
        ("scontrol_show_licenses", scontrol.show_licenses()),
    ):
        result = subprocess.run(
            ["runuser", "-u", "alice", "--", *argv], capture_output=True, timeout=60, check=True
        )
        (HERE / f"{name}.out").write_bytes(result.stdout)
        print(f"{name}: {len(result.stdout)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
