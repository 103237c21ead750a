"""LocalRunner: commands on this machine, optionally as another Unix login.

Used when the gateway runs on a cluster login node (or the dev cluster): as root it runs the
command through ``setpriv --reuid --regid --init-groups``, the fastest of the three ways
measured (see ``IdentitySwitch``). Whoever it runs as, a command gets the environment of
``runners.environment.login_environment`` and nothing of the gateway's own (no secret, no
``SBATCH_*``).
"""

from __future__ import annotations

import contextlib
import enum
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from myriagate.domain import values
from myriagate.errors import ConfigError, SchedulerUnavailable
from myriagate.ports import CommandResult
from myriagate.runners.environment import DEFAULT_PATH, login_environment
from myriagate.runners.outcome import (
    DEFAULT_MAX_OUTPUT_BYTES,
    checked_argv,
    finish,
    outcome_unknown,
    output_too_large,
)

_CHUNK = 65536


class IdentitySwitch(enum.StrEnum):
    """How root becomes the login.

    ``setpriv`` is the fastest of the three (measured with ``sbatch``: docs/performance.md).
    ``popen`` saves an exec but makes Python fork instead of vfork (it must setuid in the
    child), which costs more than the exec saves.
    """

    SETPRIV = "setpriv"  # setpriv --reuid --regid --init-groups -- argv
    RUNUSER = "runuser"  # runuser -u login -- argv (forks and waits: one more process)
    POPEN = "popen"  # subprocess user=/group=/extra_groups=: setgroups+setregid+setreuid in the child


@dataclass(frozen=True)
class _Identity:
    login: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    env: Mapping[str, str]


class LocalRunner:
    """A ``CommandRunner`` using subprocess with ``shell=False``; thread-safe (no shared state).

    ``as_login=None`` runs as the gateway's own user. With a login, as root, the command runs
    as that login (its uid, gid and groups) with ``cwd`` = its home. Either way the environment
    is a clean one (HOME, USER, LOGNAME, PATH=``path``, LANG=C.UTF-8), never the gateway's.
    Not being root, only the current login is accepted (ConfigError otherwise). A timeout
    kills the whole process group.
    """

    def __init__(
        self,
        as_login: str | None = None,
        *,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        path: str = DEFAULT_PATH,
        switch: IdentitySwitch = IdentitySwitch.SETPRIV,
    ) -> None:
        self._max_output_bytes = max_output_bytes
        self._switch = switch
        self._identity = _identity_for(as_login, path) if as_login is not None else None
        # The gateway's own environment (its secrets, SBATCH_* or SQUEUE_FORMAT it may hold)
        # never reaches a command, even run as the gateway's own user.
        self._env = self._identity.env if self._identity is not None else _own_environment(path)

    @property
    def login(self) -> str:
        if self._identity is not None:
            return self._identity.login
        return pwd.getpwuid(os.geteuid()).pw_name

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        command = checked_argv(argv)
        ident = self._identity
        deadline = time.monotonic() + timeout
        proc = self._start(command, stdin is not None)
        try:
            stdout, stderr = _exchange(proc, command, stdin, deadline, self._max_output_bytes)
            returncode = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            raise outcome_unknown(command, f"no exit after {timeout:g} s, killed") from exc
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if ident is not None and self._exec_failed(returncode, stderr):
            # setpriv/runuser could not exec it: nothing ran, as with a missing executable.
            detail = stderr.decode(errors="replace").strip()
            raise SchedulerUnavailable(f"cannot start {command[0]}: {detail}")
        return finish(command, returncode, stdout, stderr, check=check)

    def _exec_failed(self, returncode: int, stderr: bytes) -> bool:
        if self._switch is IdentitySwitch.POPEN or returncode not in (1, 126, 127):
            return False
        return stderr.startswith(f"{self._switch.value}: failed to execute ".encode())

    def _start(self, command: tuple[str, ...], with_stdin: bool) -> subprocess.Popen[bytes]:
        ident = self._identity
        full = command
        kwargs: dict[str, object] = {}
        if ident is not None:
            if self._switch is IdentitySwitch.POPEN:
                kwargs = {"user": ident.uid, "group": ident.gid, "extra_groups": list(ident.groups)}
            elif self._switch is IdentitySwitch.SETPRIV:
                ids = [f"--reuid={ident.uid}", f"--regid={ident.gid}", "--init-groups"]
                full = (_system_tool("setpriv"), *ids, "--", *command)
            else:
                full = (_system_tool("runuser"), "-u", ident.login, "--", *command)
        try:
            return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
                full,
                stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=ident.home if ident is not None else None,
                env=dict(self._env),
                start_new_session=True,  # its own process group, so a timeout kills all of it
                close_fds=True,
                **kwargs,
            )
        except OSError as exc:
            # Nothing ran: the executable, the home directory or the identity switch failed.
            raise SchedulerUnavailable(f"cannot start {command[0]}: {exc.strerror or exc}") from exc


def _system_tool(name: str) -> str:
    # Looked up on the system path: the login's clean PATH has no sbin.
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise ConfigError(f"{name} is not installed (util-linux); choose another IdentitySwitch")
    return found


def _identity_for(as_login: str, path: str) -> _Identity | None:
    values.login(as_login)
    try:
        pw = pwd.getpwnam(as_login)
    except KeyError as exc:
        raise ConfigError(f"no local Unix user {as_login!r}") from exc
    euid = os.geteuid()
    if euid != 0:
        if pw.pw_uid == euid:
            return None
        raise ConfigError(
            f"cannot run commands as {as_login!r}: the gateway runs as "
            f"{pwd.getpwuid(euid).pw_name!r}, not root (use SSH for other logins)"
        )
    home = pw.pw_dir if os.path.isdir(pw.pw_dir) else "/"
    env = login_environment(as_login, pw.pw_dir, path)
    groups = tuple(os.getgrouplist(as_login, pw.pw_gid))
    return _Identity(as_login, pw.pw_uid, pw.pw_gid, groups, home, env)


def _own_environment(path: str) -> dict[str, str]:
    try:
        pw = pwd.getpwuid(os.geteuid())
    except KeyError:  # a uid without a passwd entry (some containers)
        return login_environment(str(os.geteuid()), "/", path)
    return login_environment(pw.pw_name, pw.pw_dir, path)


def _exchange(
    proc: subprocess.Popen[bytes],
    argv: tuple[str, ...],
    stdin: bytes | None,
    deadline: float,
    limit: int,
) -> tuple[bytes, bytes]:
    """Feed stdin and read stdout and stderr together, so neither pipe can fill up and block."""
    out = {"stdout": bytearray(), "stderr": bytearray()}
    pending = memoryview(stdin or b"")
    with selectors.DefaultSelector() as sel:
        assert proc.stdout is not None and proc.stderr is not None
        sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
        sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
        if proc.stdin is not None:
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                sel.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
            else:
                proc.stdin.close()
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(list(argv), 0)
            for key, _ in sel.select(remaining):
                if key.data == "stdin":
                    assert proc.stdin is not None
                    try:
                        pending = pending[os.write(proc.stdin.fileno(), pending[:_CHUNK]) :]
                    except BrokenPipeError:
                        pending = pending[:0]  # it stopped reading: its exit status will say why
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = out[key.data]
                buf += chunk
                if len(buf) > limit:
                    _kill_group(proc)
                    raise output_too_large(argv, key.data, limit)
    return bytes(out["stdout"]), bytes(out["stderr"])


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
