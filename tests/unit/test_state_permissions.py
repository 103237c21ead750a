"""The gateway's state on disk is private, and `serve`/`worker` refuse state that is not.

Refusals go through the real Typer commands (exit 78, the path and the fix on stderr), before
anything is started; accepted modes go through the same check. The umask these commands set
is the test process's own here, so every test puts the previous one back.
"""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from myriagate.cli.main import app
from myriagate.db.migrate import upgrade
from myriagate.db.session import make_engine
from myriagate.errors import ConfigError
from myriagate.services.staging.uploads import SpoolWriter, files_dir
from myriagate.settings import Settings, get_settings
from myriagate.state_permissions import check_state_permissions, prepare_state, sqlite_file, state_problems

PRIVATE_STATE_SH = Path(__file__).resolve().parents[2] / "deploy" / "private-state.sh"


@pytest.fixture(autouse=True)
def restore_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # settings are read once per process; each test sets its own
    yield
    get_settings.cache_clear()


def private_state(root: Path) -> dict[str, Path]:
    """A database file (0600), spool (0700) and CA key (0600) as a correct install has them."""
    root.chmod(0o755)  # like /var/lib: every login may traverse it
    paths = {"database": root / "gateway.db", "spool": root / "spool", "ca_key": root / "ssh_user_ca"}
    paths["database"].write_bytes(b"")
    paths["database"].chmod(0o600)
    paths["spool"].mkdir(mode=0o700)
    paths["spool"].chmod(0o700)
    paths["ca_key"].write_text("not parsed before the check\n")
    paths["ca_key"].chmod(0o600)
    return paths


def settings_for(paths: dict[str, Path]) -> Settings:
    return Settings(
        dev_mode=True,
        database_url=f"sqlite:///{paths['database']}",
        spool_dir=paths["spool"],
        ssh_ca_key_path=paths["ca_key"],
    )


def env_for(paths: dict[str, Path]) -> dict[str, str]:
    return {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": f"sqlite:///{paths['database']}",
        "MYRIAGATE_SPOOL_DIR": str(paths["spool"]),
        "MYRIAGATE_SSH_CA_KEY_PATH": str(paths["ca_key"]),
        "MYRIAGATE_LOG_JSON": "false",
    }


TOO_OPEN = [
    ("database", 0o644, "readable by others"),
    ("database", 0o660, "writable by its group"),
    ("database", 0o602, "writable by others"),
    ("spool", 0o755, "traversable by others"),
    ("spool", 0o770, "writable by its group"),
    ("ca_key", 0o604, "readable by others"),
    ("ca_key", 0o620, "writable by its group"),
]


@pytest.mark.parametrize("command", [["worker", "--once"], ["serve", "--port", "1"]])
@pytest.mark.parametrize(("which", "mode", "why"), TOO_OPEN)
def test_serve_and_worker_refuse_state_others_can_reach_with_exit_78(
    tmp_path: Path, command: list[str], which: str, mode: int, why: str
) -> None:
    paths = private_state(tmp_path)
    paths[which].chmod(mode)
    result = CliRunner().invoke(app, command, env=env_for(paths))
    assert result.exit_code == 78, (why, result.output)
    assert "Configuration error" in result.stderr
    assert str(paths[which]) in result.stderr
    fix = f"chmod -R go-rwx {paths[which]}" if which == "spool" else f"chmod 600 {paths[which]}"
    assert fix in result.stderr
    assert f"mode {mode:04o}" in result.stderr
    assert stat.S_IMODE(paths[which].stat().st_mode) == mode  # refused, not silently changed


def test_private_state_is_accepted_and_group_read_stays_allowed(tmp_path: Path) -> None:
    paths = private_state(tmp_path)
    check_state_permissions(settings_for(paths))
    # systemd's StateDirectoryMode=0750 and a backup group: the group may read, never write.
    paths["database"].chmod(0o640)
    paths["spool"].chmod(0o750)
    paths["ca_key"].chmod(0o640)  # (the CA loader itself still wants 0600, as OpenSSH does)
    assert state_problems(settings_for(paths)) == []


def test_every_sqlite_side_file_is_checked(tmp_path: Path) -> None:
    paths = private_state(tmp_path)
    wal = Path(f"{paths['database']}-wal")
    wal.write_bytes(b"rows too")
    wal.chmod(0o644)
    with pytest.raises(ConfigError, match=f"the SQLite wal file {wal} is accessible by others"):
        check_state_permissions(settings_for(paths))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another login needs root")
def test_a_database_file_owned_by_another_login_is_refused(tmp_path: Path) -> None:
    paths = private_state(tmp_path)
    os.chown(paths["database"], 65534, 65534)  # nobody: may chmod it and read it at will
    with pytest.raises(ConfigError, match="belongs to uid 65534"):
        check_state_permissions(settings_for(paths))


def test_postgresql_has_no_file_to_check(tmp_path: Path) -> None:
    paths = private_state(tmp_path)
    settings = settings_for(paths).model_copy(
        update={"database_url": "postgresql+psycopg://myriagate@db.example/myriagate"}
    )
    assert sqlite_file(settings.database_url) is None
    assert state_problems(settings) == []
    assert sqlite_file("sqlite://") is None and sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite:////var/lib/myriagate/dev.db") == Path("/var/lib/myriagate/dev.db")


def test_prepare_state_makes_the_spool_0700_and_what_follows_0600(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    settings = Settings(dev_mode=True, database_url="sqlite://", spool_dir=tmp_path / "state" / "spool")
    prepare_state(settings)
    assert stat.S_IMODE(settings.spool_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    # An upload written afterwards by the real spool writer: its directories and file are private.
    final = files_dir(settings.spool_dir, uuid.uuid4()) / "data" / "in.csv"
    writer = SpoolWriter(final, max_bytes=100)
    writer.write(b"a,b\n")
    writer.finish(None)
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    assert stat.S_IMODE(final.parent.stat().st_mode) == 0o700
    check_state_permissions(settings)


def test_a_new_sqlite_database_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0o022)  # an operator's shell running `myriagate admin db upgrade`
    database = tmp_path / "gateway.db"
    upgrade(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:  # a write: SQLite creates its -wal and -shm files
            conn.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
            for side in ("-wal", "-shm"):
                assert stat.S_IMODE(Path(f"{database}{side}").stat().st_mode) == 0o600
    finally:
        engine.dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_deploy_private_state_script_fixes_an_older_install_in_place(tmp_path: Path) -> None:
    """What deploy/dev-up.sh runs on a machine set up before this rule (umask 022 everywhere)."""
    lib, log = tmp_path / "lib", tmp_path / "log"
    lib.mkdir(mode=0o755)
    lib.chmod(0o755)
    paths = {"database": lib / "dev.db", "spool": lib / "spool", "ca_key": tmp_path / "ssh_user_ca"}
    paths["database"].write_bytes(b"")
    wal = Path(f"{paths['database']}-wal")
    wal.write_bytes(b"")
    upload = paths["spool"] / "uploads" / "u1" / "files" / "in.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("a,b\n")
    paths["ca_key"].write_text("key\n")
    for path in (paths["database"], wal, upload, paths["ca_key"]):
        path.chmod(0o644)
    for directory in (paths["spool"], *upload.parents):
        if directory == lib:
            break
        directory.chmod(0o755)
    settings = settings_for(paths)
    assert len(state_problems(settings)) == 4  # database, wal, spool, CA key

    argv = ["bash", str(PRIVATE_STATE_SH), str(lib), str(log), "--", str(paths["ca_key"])]
    subprocess.run(argv, check=True)
    subprocess.run(argv, check=True)  # re-run by every dev-up.sh: harmless

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert [mode(p) for p in (lib, log, paths["spool"], upload.parent)] == [0o700] * 4
    assert [mode(p) for p in (paths["database"], wal, upload, paths["ca_key"])] == [0o600] * 4
    assert state_problems(settings) == []
