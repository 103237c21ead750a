"""FakeRunner: a CommandRunner that records every argv and replays prepared outputs.

Outputs are usually real ones captured from the dev cluster (``tests/data/slurm/``, loaded
with ``reply_from``). A rule matches on the command name and, optionally, on a predicate over
the argv; rules are tried newest first, and a rule with ``times`` is used up after that many
calls. A command no rule matches fails the test loudly instead of returning something made up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from myriagate.errors import MyriagateError, SchedulerRejected
from myriagate.ports import CommandResult

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "slurm"


@dataclass(frozen=True)
class Call:
    argv: tuple[str, ...]
    stdin: bytes | None
    timeout: float


@dataclass
class _Rule:
    command: str
    when: Callable[[tuple[str, ...]], bool] | None
    stdout: bytes
    stderr: bytes
    returncode: int
    error: MyriagateError | None
    times: int | None
    used: int = 0


@dataclass
class FakeRunner:
    calls: list[Call] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)

    # --- preparing replies ---------------------------------------------------------------
    def reply(
        self,
        command: str,
        stdout: bytes | str = b"",
        stderr: bytes | str = b"",
        returncode: int = 0,
        *,
        when: Callable[[tuple[str, ...]], bool] | None = None,
        times: int | None = None,
    ) -> FakeRunner:
        self._rules.append(_Rule(command, when, _bytes(stdout), _bytes(stderr), returncode, None, times))
        return self

    def reply_from(
        self,
        command: str,
        capture: str,
        *,
        when: Callable[[tuple[str, ...]], bool] | None = None,
        times: int | None = None,
    ) -> FakeRunner:
        """Replay ``tests/data/slurm/<capture>.out`` (+ ``.err`` and ``.rc`` when present)."""
        stdout, stderr, returncode = load_capture(capture)
        return self.reply(command, stdout, stderr, returncode, when=when, times=times)

    def fail(
        self,
        command: str,
        error: MyriagateError,
        *,
        when: Callable[[tuple[str, ...]], bool] | None = None,
        times: int | None = None,
    ) -> FakeRunner:
        """The runner itself raises (timeout, dropped connection) when ``command`` runs."""
        self._rules.append(_Rule(command, when, b"", b"", 0, error, times))
        return self

    # --- CommandRunner -------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        if isinstance(argv, str | bytes):
            raise TypeError("a runner takes an argv sequence, never a shell string")
        command = tuple(argv)
        self.calls.append(Call(command, stdin, timeout))
        for rule in reversed(self._rules):
            if rule.command != command[0] or (rule.when is not None and not rule.when(command)):
                continue
            if rule.times is not None and rule.used >= rule.times:
                continue
            rule.used += 1
            if rule.error is not None:
                raise rule.error
            if check and rule.returncode != 0:
                raise SchedulerRejected(rule.stderr.decode("utf-8", "replace").strip())
            return CommandResult(command, rule.returncode, rule.stdout, rule.stderr)
        raise AssertionError(f"FakeRunner: no reply prepared for {command!r}")

    # --- asserting -----------------------------------------------------------------------
    def count(self, command: str) -> int:
        return sum(1 for call in self.calls if call.argv[0] == command)

    def argvs(self, command: str) -> list[tuple[str, ...]]:
        return [call.argv for call in self.calls if call.argv[0] == command]


def load_capture(name: str) -> tuple[bytes, bytes, int]:
    base = DATA_DIR / name
    stdout = base.with_suffix(".out").read_bytes()
    err = base.with_suffix(".err")
    rc = base.with_suffix(".rc")
    stderr = err.read_bytes() if err.exists() else b""
    returncode = int(rc.read_text().strip()) if rc.exists() else 0
    return stdout, stderr, returncode


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value
