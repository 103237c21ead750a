"""Worlds built once per test process and copied into each test's database.

A module whose every test starts from the same rows (users, a period, quotas, grants...)
made through the API paid for them in each test. With ``Worlds``, the first test of a
process builds them as before, through the API, then keeps a copy of its SQLite file (taken
before the test itself ran) and what the tests need to know of it (ids, tokens); every later
test of that process gets its own copy of that file in place of the migrated template's, so
no test sees another's writes. PostgreSQL databases (the db tier) are built each time.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from myriagate.state_permissions import create_private_file, sqlite_file
from tests.db_templates import MigratedTemplates


class Worlds:
    """The process's worlds, by name: a SQLite file and what the tests need to know of it."""

    def __init__(self) -> None:
        self._files: dict[str, Path] = {}
        self._known: dict[str, Any] = {}
        self._filled: set[str] = set()  # test databases filled with a world's copy

    def filler(self, name: str, templates: MigratedTemplates) -> Callable[[str], None]:
        """A ``fill_database`` (tests/web/conftest.py): the world's copy once it was built."""

        def fill(database_url: str) -> None:
            target = sqlite_file(database_url)
            if target is None or name not in self._files:
                templates.clone_into(database_url)
                return
            create_private_file(target)  # 0600 like a migrated database; copyfile keeps the mode
            shutil.copyfile(self._files[name], target)
            self._filled.add(database_url)

        return fill

    def known(self, name: str, database_url: str) -> Any | None:
        """What ``keep`` kept of the world, if this database is a copy of it; else None (then
        the test builds the world)."""
        return self._known[name] if database_url in self._filled else None

    def keep(self, name: str, database_url: str, known: Any, directory: Path) -> None:
        """The world just built in ``database_url``: copied (a consistent copy, whatever the
        open connections hold) for the next tests, with ``known``."""
        source = sqlite_file(database_url)
        if source is None or name in self._files:
            return
        directory.mkdir(parents=True, exist_ok=True)
        kept = directory / f"{name}.db"
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(kept)) as dst:
            src.backup(dst)
        self._files[name], self._known[name] = kept, known


WORLDS = Worlds()
