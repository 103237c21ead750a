"""The CLI backend reads a job's output with its owner's login, from a path the owner controls.

Between two polls the owner may put anything at that path: a FIFO (tail would wait forever for
a writer, holding a gateway thread for the whole command timeout on every poll of the job
page), a link to a device, a directory. Only a regular file is read; anything else is refused
at once, as the pyslurm backend refuses it. Run here with the real ``find`` and ``tail``
through ``LocalRunner``, as the gateway's own login.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from myriagate.errors import PermissionDenied
from myriagate.runners.local import LocalRunner
from myriagate.slurm.cli_backend import SlurmCliBackend


def backend() -> SlurmCliBackend:
    # A short command timeout: a read that waits for it has failed this test already.
    return SlurmCliBackend(LocalRunner(), timeout_s=5.0)


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path: Path) -> None:
    out = tmp_path / "slurm-12_3.out"
    out.write_bytes(b"first line\n" + b"x" * 100 + b"\nlast line\n")
    link = tmp_path / "link.out"
    link.symlink_to(out)

    assert backend().tail(str(out), 10) == b"last line\n"
    assert backend().tail(str(link), 10) == b"last line\n"


def test_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert backend().tail(str(tmp_path / "not-yet.out"), 10) == b""


@pytest.mark.parametrize("kind", ["fifo", "link to a fifo", "device", "directory"])
def test_anything_but_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "slurm-12_3.out"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to a fifo":
        os.mkfifo(tmp_path / "fifo")
        path.symlink_to(tmp_path / "fifo")
    elif kind == "device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()

    started = time.monotonic()
    with pytest.raises(PermissionDenied, match="not a regular file"):
        backend().tail(str(path), 100)
    assert time.monotonic() - started < 3


def test_the_output_read_is_still_counted_as_tail_in_the_metrics() -> None:
    from myriagate.observability.metrics import command_label
    from myriagate.slurm import commands

    assert command_label(commands.tail("/home/alice/run.out", 10)[0]) == "tail"
