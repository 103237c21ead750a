"""SessionWatch bounds every session of the stager in size and time (threat F12).

Local processes stand in for ssh: a ``sleep`` left in the background holding the pipes plays
the ControlMaster, which keeps a session's pipes open as long as the far side lives, so
killing the ssh process alone would unblock nobody.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myriagate.errors import StagingError
from myriagate.staging.session_watch import READY, SessionLimits, SessionWatch
from myriagate.staging.ssh_command import helper_preamble, remote_command

QUICK = SessionLimits(start_timeout_s=0.5, stall_timeout_s=0.5, max_session_s=20, max_reply_bytes=1 << 20)
ANNOUNCE = f"echo {READY.decode()} >&2"


def _start(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[str]:
    """Shell text that leaves a process holding the session's pipes (as a master would)."""
    pid_file = tmp_path / "holder.pid"
    yield f"sleep 30 & echo $! > {pid_file};"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _timed_finish(watch: SessionWatch) -> tuple[BaseException | tuple[int, bytes, bytes], float]:
    started = time.monotonic()
    try:
        result: BaseException | tuple[int, bytes, bytes] = watch.finish()
    except StagingError as exc:
        result = exc
    return result, time.monotonic() - started


def test_a_helper_that_never_starts_is_ended_at_the_start_bound(holder: str) -> None:
    watch = SessionWatch(_start(f"{holder} exec sleep 30"), QUICK, "far", drain_stdout=True)
    error, took = _timed_finish(watch)
    assert isinstance(error, StagingError) and not error.transient
    assert "did not start within 0.5 s" in error.detail and "start-up files" in error.detail
    assert took < 5


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_flood_is_cut_at_its_bound(stream: str) -> None:
    redirect = " >&2" if stream == "stderr" else ""
    watch = SessionWatch(
        _start(f"{ANNOUNCE}; head -c 1073741824 /dev/zero{redirect}"), QUICK, "far", drain_stdout=True
    )
    error, took = _timed_finish(watch)
    limit = QUICK.max_reply_bytes if stream == "stdout" else QUICK.max_stderr_bytes
    assert isinstance(error, StagingError)
    assert f"wrote more than {limit} bytes on {stream}" in error.detail
    assert took < 5


def test_silence_after_the_start_is_a_transient_stall(holder: str) -> None:
    watch = SessionWatch(_start(f"{holder} {ANNOUNCE}; exec sleep 30"), QUICK, "far", drain_stdout=True)
    error, took = _timed_finish(watch)
    assert isinstance(error, StagingError) and error.transient
    assert "nothing moved for 0.5 s" in error.detail
    assert took < 5


def test_heartbeats_keep_a_long_silent_helper_alive() -> None:
    beats = "; ".join(["sleep 0.2; echo >&2"] * 8)  # 1.6 s of work, a beat every 0.2 s
    watch = SessionWatch(_start(f"{ANNOUNCE}; {beats}; printf '{{}}'"), QUICK, "far", drain_stdout=True)
    returncode, out, _ = watch.finish()
    assert (returncode, out) == (0, b"{}")


def test_the_ceiling_holds_whatever_the_far_side_says() -> None:
    limits = SessionLimits(start_timeout_s=5, stall_timeout_s=5, max_session_s=1)
    trickle = f"{ANNOUNCE}; while :; do echo >&2; sleep 0.1; done"
    error, took = _timed_finish(SessionWatch(_start(trickle), limits, "far", drain_stdout=True))
    assert isinstance(error, StagingError) and "ran longer than 1 s" in error.detail
    assert took < 5


def test_a_writer_is_released_when_the_far_side_never_reads(holder: str) -> None:
    proc = _start(f"{holder} exec sleep 30")
    watch = SessionWatch(proc, QUICK, "far", drain_stdout=True)
    assert proc.stdin is not None
    started = time.monotonic()
    with pytest.raises(BrokenPipeError):
        watch.write_all(proc.stdin.fileno(), b"x" * (16 << 20))  # far more than any pipe holds
    assert time.monotonic() - started < 5
    error, _ = _timed_finish(watch)
    assert isinstance(error, StagingError)


def test_a_reader_is_released_when_the_session_ends(holder: str) -> None:
    proc = _start(f"{holder} {ANNOUNCE}; exec sleep 30")
    watch = SessionWatch(proc, QUICK, "far", drain_stdout=False)
    reader = watch.reader(proc.stdout)
    started = time.monotonic()
    assert reader.readline(256) == b""  # EOF once the stall ended it, not a 30 s wait
    assert time.monotonic() - started < 5
    assert watch.ended


def test_a_far_side_that_exits_but_leaves_its_pipes_open_is_not_waited_for(holder: str) -> None:
    """The ssh process ended on its own while something still holds its pipes."""
    watch = SessionWatch(
        _start(f"{holder} {ANNOUNCE}; printf '{{}}'; exit 0"), QUICK, "far", drain_stdout=True
    )
    result, took = _timed_finish(watch)
    assert result == (0, b"{}", b"\n")
    assert took < 5


def test_only_what_follows_the_announcement_is_the_helpers_stderr() -> None:
    watch = SessionWatch(
        _start(f"echo 'welcome to the cluster' >&2; {ANNOUNCE}; echo real >&2; exit 3"),
        QUICK,
        "far",
        drain_stdout=True,
    )
    assert watch.finish() == (3, b"", b"\nreal\n")


@pytest.mark.parametrize("shell", ["sh", "bash", "zsh", "tcsh"])
def test_the_remote_command_runs_the_helper_under_any_login_shell(shell: str, tmp_path: Path) -> None:
    """The one-line command and the helper on stdin, as sshd runs them (``$SHELL -c``),
    without ssh: the helper starts, announces itself and answers."""
    found = shutil.which(shell)
    if found is None or not Path("/usr/bin/python3").exists():
        pytest.skip(f"{shell} or /usr/bin/python3 is missing")
    (tmp_path / "a.txt").write_text("a")
    command = remote_command("/usr/bin/python3", "list", str(tmp_path))
    proc = subprocess.Popen(
        [found, "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None
    watch = SessionWatch(proc, QUICK, "here", drain_stdout=True)
    watch.write_all(proc.stdin.fileno(), helper_preamble() + json.dumps({"files": [["a.txt", -1]]}).encode())
    proc.stdin.close()
    returncode, out, err = watch.finish()
    assert returncode == 0, err
    assert json.loads(out)["files"] == [["file", 1, None, 0]]
