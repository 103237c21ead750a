"""A world built once per process (tests/web/worlds.py): later tests start from their own
copy of it, and no copy sees another's writes."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from myriagate.db.session import make_engine
from tests.db_templates import MigratedTemplates
from tests.web.worlds import Worlds

INSTITUTIONS = sa.table("institutions", sa.column("code"), sa.column("name"))


def _codes(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.select(INSTITUTIONS.c.code)).scalars())
    finally:
        engine.dispose()


def _add(url: str, code: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(INSTITUTIONS).values(code=code, name=code))
    finally:
        engine.dispose()


def test_later_databases_are_copies_of_the_world_and_keep_their_own_writes(
    tmp_path: Path, migrated_templates: MigratedTemplates
) -> None:
    worlds = Worlds()
    fill = worlds.filler("w", migrated_templates)
    first = f"sqlite:///{tmp_path / 'first.db'}"
    fill(first)  # no world yet: the migrated template
    assert worlds.known("w", first) is None and _codes(first) == []
    _add(first, "built")
    worlds.keep("w", first, {"id": 7}, tmp_path / "kept")
    _add(first, "the-first-tests-own")  # after the copy: not in the world
    second, third = f"sqlite:///{tmp_path / 'second.db'}", f"sqlite:///{tmp_path / 'third.db'}"
    fill(second)
    fill(third)
    assert worlds.known("w", second) == {"id": 7}
    _add(second, "the-second-tests-own")
    assert _codes(second) == ["built", "the-second-tests-own"]
    assert _codes(third) == ["built"]
    assert worlds.known("w", first) is None  # it built the world: not a copy


def test_a_postgresql_database_is_built_each_time(
    tmp_path: Path, migrated_templates: MigratedTemplates
) -> None:
    worlds = Worlds()
    built = f"sqlite:///{tmp_path / 'built.db'}"
    worlds.filler("w", migrated_templates)(built)
    worlds.keep("w", built, "known", tmp_path / "kept")
    postgresql = "postgresql+psycopg://tests@127.0.0.1:1/none?options=-csearch_path%3Dt_x"
    worlds.keep("w2", postgresql, "known", tmp_path / "kept")
    assert worlds.known("w", postgresql) is None and worlds.known("w2", postgresql) is None
