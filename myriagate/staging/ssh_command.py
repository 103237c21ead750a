"""The ssh command lines of the stager: options, the remote command, the helper it sends, errors.

argv are lists (no local shell). The one string a remote shell parses is built by
``remote_command`` with ``shlex.join``; file names never appear in it (they travel as JSON on
stdin to ``remote_helper``). That string is one line of plain words, so every login shell
(sh, bash, zsh, tcsh) reads it the same; the helper itself follows on stdin
(``helper_preamble``). Host keys are pinned (``StrictHostKeyChecking=yes`` with the tree's
known_hosts only); the user's ``~/.ssh/config`` is ignored (``-F /dev/null``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from myriagate.domain import values
from myriagate.errors import ConfigError, MyriagateError, StagingError, UnsafeValue
from myriagate.ports import RemoteTree
from myriagate.staging import remote_helper
from myriagate.staging.remote_helper import RESERVED
from myriagate.staging.session_watch import READY

# Characters an ssh -o value or a ControlPath may hold without quoting or %-expansion.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+@:=,-]+\Z")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?)\Z")
_LOGIN = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}\Z")
_ROOT_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DEFAULT_REMOTE_PYTHON = "/usr/bin/python3"
# The far side's helper runs with this environment only (``env -i``): nothing the login's
# start-up files export (PATH, PYTHON*, LD_*) reaches it; -I -S below drop the rest.
_REMOTE_ENV = ("/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "LANG=C.UTF-8")

_HOST_KEY_PROBLEMS = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED", "host key")
_AUTH_PROBLEMS = ("Permission denied", "Too many authentication failures")


def safe_option_path(path: Path | str, what: str) -> str:
    text = str(path)
    if not _SAFE_PATH.match(text):
        raise ConfigError(f"{what} {text!r} holds characters ssh would split or expand; use a plain path")
    return text


def check_tree(tree: RemoteTree) -> None:
    """Refuse an endpoint whose spelling could reach an ssh option or leave its root."""
    if not _HOST.match(tree.host):
        raise UnsafeValue(f"storage host {tree.host!r} is not a host name or IP address")
    if not _LOGIN.match(tree.login):
        raise UnsafeValue(f"login {tree.login!r} is not a valid cluster login")
    if not 0 < tree.port < 65536:
        raise UnsafeValue(f"port {tree.port} is out of range")
    root = tree.root
    if not root.startswith("/") or _ROOT_CONTROL.search(root) or ".." in root.split("/"):
        raise UnsafeValue(f"root {root!r} must be an absolute path without '..' or control characters")
    if tree.anchor:
        parts = tree.anchor.split("/")
        if _ROOT_CONTROL.search(tree.anchor) or {"", ".", ".."} & set(parts) or parts[0] == RESERVED:
            raise UnsafeValue(f"directory {tree.anchor!r} under {root!r} must be a plain relative path")
    safe_option_path(tree.known_hosts, "known_hosts")


def describe(tree: RemoteTree) -> str:
    return f"{tree.login}@{tree.host}:{tree.port}"


def _has_aes_instructions() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(
                line.startswith("flags") and " aes " in f" {line.split(':', 1)[-1].strip()} " for line in f
            )
    except OSError:
        return False


# With AES instructions, AES-GCM costs less CPU than OpenSSH's default chacha20-poly1305
# (docs/performance.md); the server picks the first it also supports, so the default remains
# as a fallback.
FAST_CIPHERS = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"


def default_ciphers() -> str | None:
    return FAST_CIPHERS if _has_aes_instructions() else None


def ssh_options(tree: RemoteTree, connect_timeout_s: float, ciphers: str | None = None) -> list[str]:
    """Options every ssh invocation of the stager carries (master and sessions)."""
    extra = ["-o", f"Ciphers={ciphers}"] if ciphers else []
    return [*extra,
        "-F", "/dev/null",
        "-p", str(tree.port),
        "-l", tree.login,
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={safe_option_path(tree.known_hosts, 'known_hosts')}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UpdateHostKeys=no",
        # sntrup761x25519 (OpenSSH 9 default) makes every handshake slower (docs/performance.md).
        "-o", "KexAlgorithms=curve25519-sha256",
        "-o", f"ConnectTimeout={max(1, int(connect_timeout_s))}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4",
        "-o", "LogLevel=ERROR",
        "-o", "ForwardAgent=no",
        "-o", "ForwardX11=no",
        "-o", "ClearAllForwardings=yes",
    ]  # fmt: skip


# One line without a quote, '!' or '$', so sh, bash, zsh and tcsh all pass it through alike:
# announce the start on stderr (the login's start-up files are done), then read the helper's
# source from stdin ("<length>\n<source>", see ``helper_preamble``) and run it; the request
# follows on the same stdin.
BOOTSTRAP = (
    'import sys;e=sys.stderr.buffer;e.write(b"' + READY.decode() + '\\n");e.flush();'
    "i=sys.stdin.buffer;n=int(i.readline(32));"
    'exec(compile(i.read(n),"myriagate-helper","exec"))'
)


def checked_python(python: str) -> str:
    """The far side's interpreter: an absolute path, never looked up on the login's PATH."""
    try:
        return values.program_path(python, "remote Python")
    except MyriagateError as exc:
        raise ConfigError(exc.detail) from exc


def remote_command(python: str, op: str, root: str, anchor: str = "") -> str:
    """The command line the remote shell runs: ``env -i``, the interpreter, the bootstrap and
    plain arguments (the anchor only when there is one). stdin must start with
    ``helper_preamble()``."""
    # -I: no PYTHON* variables, no user site, not the current directory on sys.path;
    # -S: no site import (faster start, nothing implicit).
    argv = [*_REMOTE_ENV, checked_python(python), "-I", "-S", "-c", BOOTSTRAP, op, root]
    return shlex.join([*argv, *([anchor] if anchor else [])])


_HELPER_SOURCE: str | None = None
_PREAMBLE: bytes | None = None


def helper_source() -> str:
    global _HELPER_SOURCE
    if _HELPER_SOURCE is None:
        _HELPER_SOURCE = remote_helper.program_source()
    return _HELPER_SOURCE


def helper_preamble() -> bytes:
    """What every session's stdin starts with: the helper's source, length first."""
    global _PREAMBLE
    if _PREAMBLE is None:
        source = helper_source().encode("utf-8")
        _PREAMBLE = b"%d\n" % len(source) + source
    return _PREAMBLE


def connection_error(tree: RemoteTree, stderr: str) -> Exception:
    """Our error for an ssh that could not reach or log in to the endpoint."""
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "ssh exited without a message"
    where = describe(tree)
    if any(p in stderr for p in _HOST_KEY_PROBLEMS):
        return ConfigError(f"the host key of {where} is not the one pinned in {tree.known_hosts}: {text}")
    if any(p in stderr for p in _AUTH_PROBLEMS):
        return StagingError(f"{where} refused the gateway's certificate for {tree.login!r}: {text}")
    return StagingError(f"cannot connect to {where}: {text}", transient=True)
