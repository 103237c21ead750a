"""The gateway's state on disk is private: created 0700/0600, refused at startup when it is not.

On the dev stack, and on any host where jobs run beside the gateway, every cluster login has
a shell on the gateway's machine. A database file, spool or SSH CA key that others can read
hands them password hashes, session tokens, other researchers' uploads, or the power to sign
an SSH certificate for any login. So ``serve`` and ``worker`` call ``prepare_state`` (umask
077: every directory they create is 0700, every file 0600; the spool is created if missing)
and then ``check_state_permissions``, which refuses to start (ConfigError, exit 78) when one
of those paths may be read or written by others, written by its group, or belongs to another
login. Group read stays allowed: systemd's ``StateDirectoryMode=0750`` and a backup group
rely on it. A PostgreSQL database has no file here to check (docs/operations.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from myriagate.errors import ConfigError
from myriagate.settings import Settings

PRIVATE_UMASK = 0o077
# Any permission for others, or write for the group: refused.
TOO_OPEN = stat.S_IRWXO | stat.S_IWGRP
# Files SQLite keeps beside the database while it runs; they hold the same rows.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite ``database_url``; None for an in-memory or non-SQLite database."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database.startswith("file:"):  # URI form (sqlite:///file:path?uri=true)
        database = database[len("file:") :]
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(database)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is a new SQLite
    database), so a database is private whatever the umask of whoever creates it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):  # no directory: SQLite says so as before
        return
    os.close(fd)


def prepare_state(settings: Settings) -> None:
    """Make this process create private state: umask 077, the spool directory made 0700.

    Existing paths are not changed: ``check_state_permissions`` says what to fix instead.
    """
    os.umask(PRIVATE_UMASK)
    settings.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def _problem(path: Path, what: str, setting: str, fix: str) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None  # created later, under umask 077
    except OSError as exc:
        return f"{setting}: cannot inspect {what} {path}: {exc.strerror}"
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (os.geteuid(), 0):
        return (
            f"{setting}: {what} {path} belongs to uid {st.st_uid}, not to the gateway's user "
            f"(uid {os.geteuid()}): its owner can read and change it; chown it to the gateway's user"
        )
    if not mode & TOO_OPEN:
        return None
    open_to = []
    if mode & stat.S_IRWXO:
        open_to.append("others")
    if mode & stat.S_IWGRP:
        open_to.append("its group (write)")
    return f"{setting}: {what} {path} is accessible by {' and '.join(open_to)} (mode {mode:04o}); {fix}"


def state_problems(settings: Settings) -> list[str]:
    """What is wrong with the permissions of the database file, spool and CA key (empty: fine)."""
    checks: list[tuple[Path, str, str, str]] = []
    database = sqlite_file(settings.database_url)
    if database is not None:
        checks.append((database, "the SQLite database", "MYRIAGATE_DATABASE_URL", f"chmod 600 {database}"))
        for suffix in SQLITE_SIDE_FILES:
            side = Path(f"{database}{suffix}")
            what = f"the SQLite {suffix[1:]} file"
            checks.append((side, what, "MYRIAGATE_DATABASE_URL", f"chmod 600 {side}"))
    spool = settings.spool_dir
    checks.append((spool, "the spool directory", "MYRIAGATE_SPOOL_DIR", f"chmod -R go-rwx {spool}"))
    if settings.ssh_ca_key_path is not None:
        key = settings.ssh_ca_key_path
        checks.append((key, "the SSH user CA private key", "MYRIAGATE_SSH_CA_KEY_PATH", f"chmod 600 {key}"))
    return [problem for check in checks if (problem := _problem(*check)) is not None]


def check_state_permissions(settings: Settings) -> None:
    """Refuse (ConfigError, exit 78) state that other logins could read or change."""
    problems = state_problems(settings)
    if problems:
        raise ConfigError(
            "the gateway's state is not private, refusing to start: "
            + "; ".join(problems)
            + " (docs/operations.md, 'State on disk')"
        )
