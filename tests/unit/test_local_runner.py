"""LocalRunner: argv only, hostile strings arrive verbatim, timeouts kill, output is bounded."""

from __future__ import annotations

import os
import pwd
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from myriagate.errors import (
    BackendError,
    ConfigError,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
    UnsafeValue,
)
from myriagate.runners.local import IdentitySwitch, LocalRunner
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS

PRINTABLE_HOSTILE = [s for s in HOSTILE_STRINGS if "\x00" not in s]
NUL_HOSTILE = [s for s in HOSTILE_STRINGS if "\x00" in s]
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def no_canary() -> Iterator[None]:
    Path(CANARY).unlink(missing_ok=True)
    yield
    assert not Path(CANARY).exists(), "a hostile string was executed"


@pytest.mark.parametrize("value", PRINTABLE_HOSTILE)
def test_hostile_argument_arrives_verbatim(value: str, no_canary: None) -> None:
    result = LocalRunner().run(["printf", "%s", value])
    assert result.stdout == value.encode()
    assert result.returncode == 0


def test_all_hostile_arguments_in_one_argv_stay_separate(no_canary: None) -> None:
    result = LocalRunner().run(["printf", "%s\\0", *PRINTABLE_HOSTILE])
    assert result.stdout.split(b"\0")[:-1] == [s.encode() for s in PRINTABLE_HOSTILE]


@pytest.mark.parametrize("value", NUL_HOSTILE)
def test_argument_with_nul_is_refused_before_running(value: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(UnsafeValue, match="NUL"):
        LocalRunner().run(["touch", str(marker), value])
    assert not marker.exists()


def test_shell_string_is_refused() -> None:
    with pytest.raises(TypeError, match="never a shell string"):
        LocalRunner().run(f"touch {CANARY}")
    assert not Path(CANARY).exists()


def test_empty_argv_is_refused() -> None:
    with pytest.raises(UnsafeValue):
        LocalRunner().run([])


def test_non_zero_exit_with_check_raises_rejected_with_trimmed_stderr() -> None:
    with pytest.raises(SchedulerRejected) as info:
        LocalRunner().run(["sh", "-c", "echo '  sbatch: error: Invalid account  ' >&2; exit 1"])
    assert info.value.detail == "sbatch: error: Invalid account"
    assert not info.value.transient


def test_non_zero_exit_without_stderr_names_the_command() -> None:
    with pytest.raises(SchedulerRejected, match="false exited with status 1"):
        LocalRunner().run(["false"])


def test_non_zero_exit_without_check_returns_the_result() -> None:
    result = LocalRunner().run(["sh", "-c", "echo out; echo err >&2; exit 7"], check=False)
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")


def test_stdin_is_delivered_whole() -> None:
    payload = os.urandom(3_000_000)  # larger than a pipe buffer, while output flows back
    assert LocalRunner().run(["cat"], stdin=payload).stdout == payload


def test_large_stderr_before_stdout_does_not_deadlock() -> None:
    script = "head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero"
    result = LocalRunner().run(["sh", "-c", script], timeout=20)
    assert (len(result.stdout), len(result.stderr)) == (3_000_000, 3_000_000)


def test_timeout_kills_the_whole_process_group_and_is_transient(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(SubmissionUncertain) as info:
        LocalRunner().run(["sh", "-c", f"echo $$ > {pid_file}; sleep 300 & sleep 300"], timeout=0.5)
    assert time.monotonic() - started < 5
    assert info.value.transient
    assert isinstance(info.value, SchedulerUnavailable)
    group = int(pid_file.read_text())
    assert _live_members(group, wait_s=3) == []  # the background sleep went with it


def _live_members(group: int, wait_s: float) -> list[int]:
    """Pids of the process group that are not zombies (init may reap them a bit later)."""
    deadline = time.monotonic() + wait_s
    while True:
        live = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                live.append(int(stat.parent.name))
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.05)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_beyond_the_bound_stops_the_command(stream: str) -> None:
    redirect = "" if stream == "stdout" else " >&2"
    started = time.monotonic()
    with pytest.raises(BackendError, match=f"more than 1048576 bytes on {stream}") as info:
        LocalRunner(max_output_bytes=1 << 20).run(["sh", "-c", f"yes{redirect}"], timeout=30)
    assert time.monotonic() - started < 10
    assert not info.value.transient


def test_output_at_the_bound_is_kept() -> None:
    result = LocalRunner(max_output_bytes=1000).run(["head", "-c", "1000", "/dev/zero"])
    assert len(result.stdout) == 1000


def test_missing_executable_did_not_start() -> None:
    with pytest.raises(SchedulerUnavailable) as info:
        LocalRunner().run(["myriagate-no-such-command"])
    assert not isinstance(info.value, SubmissionUncertain)


@pytest.mark.skipif(not IS_ROOT, reason="switching to another login needs root")
@pytest.mark.parametrize("switch", list(IdentitySwitch))
def test_missing_executable_as_another_login_did_not_start(switch: IdentitySwitch) -> None:
    with pytest.raises(SchedulerUnavailable, match="myriagate-no-such-command") as info:
        LocalRunner(as_login="nobody", switch=switch).run(["myriagate-no-such-command"])
    assert not isinstance(info.value, SubmissionUncertain)


@pytest.mark.parametrize("login", ["root;id", "-u", "Alice", "a b"])
def test_invalid_login_is_refused(login: str) -> None:
    with pytest.raises(UnsafeValue):
        LocalRunner(as_login=login)


def test_unknown_login_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no local Unix user"):
        LocalRunner(as_login="myriagate-nosuchuser")


@pytest.mark.skipif(IS_ROOT, reason="as root every login is allowed")
def test_other_login_without_root_is_refused() -> None:
    with pytest.raises(ConfigError, match="not root"):
        LocalRunner(as_login="nobody")


def test_own_login_needs_no_privilege() -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert LocalRunner(as_login=me).run(["id", "-un"]).text == f"{me}\n"


@pytest.mark.skipif(not IS_ROOT, reason="switching to another login needs root")
@pytest.mark.parametrize("switch", list(IdentitySwitch))
def test_as_login_runs_with_that_identity_and_a_clean_environment(
    switch: IdentitySwitch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYRIAGATE_TEST_SECRET", "must-not-leak")
    runner = LocalRunner(as_login="nobody", switch=switch)
    nobody = pwd.getpwnam("nobody")
    assert runner.run(["id", "-u"]).text.strip() == str(nobody.pw_uid)
    assert runner.run(["id", "-g"]).text.strip() == str(nobody.pw_gid)
    env = dict(line.split("=", 1) for line in runner.run(["env"]).text.splitlines() if "=" in line)
    assert env["USER"] == env["LOGNAME"] == "nobody"
    assert env["HOME"] == nobody.pw_dir
    assert env["LANG"] == "C.UTF-8"
    assert "MYRIAGATE_TEST_SECRET" not in env
    assert runner.run(["pwd"]).text == "/\n"  # nobody's home /nonexistent is missing: "/"


@pytest.mark.skipif(not IS_ROOT, reason="switching to another login needs root")
def test_as_login_cannot_read_roots_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0o600)
    result = LocalRunner(as_login="nobody").run(["cat", str(secret)], check=False)
    assert result.returncode != 0
    assert result.stdout == b""


def test_runner_works_from_python_subprocess_environment() -> None:
    result = LocalRunner().run([sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b", "$X"])
    assert result.text == "['a b', '$X']\n"
