"""A job on the dev stack cannot read the gateway's state.

On the dev stack the compute node is the gateway's host, so a researcher's job runs beside
the gateway's SQLite database, spool and SSH CA key. The state is made here the way the
gateway makes it (``prepare_state`` as ``serve``/``worker`` start, ``migrate.upgrade`` as
``admin db upgrade``, an upload through the real spool writer) in a directory every login may
traverse (like /var/lib; pytest's own tmp_path sits under a 0700 directory, which would hide
the files whatever their mode). A REAL Slurm job of alice's then tries to read each of them.
Its control: the same database copied with the mode the old ``dev-up.sh`` gave it (0644) is
read, canary and all, by the same job.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from myriagate.db.migrate import upgrade
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.runners import SshRunner
from myriagate.services.staging.uploads import SpoolWriter, files_dir
from myriagate.settings import Settings
from myriagate.state_permissions import check_state_permissions, prepare_state
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

PROBE = r"""#!/bin/bash
probe() {
    local err
    if err=$(cat -- "$1" 2>&1 >/dev/null); then
        if grep -aqF -- "$CANARY" "$1"; then echo "READ+CANARY $1"; else echo "READ $1"; fi
    else
        echo "DENIED $1: $err"
    fi
}
"""


@pytest.fixture
def state_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="myriagate-state-", dir="/var/tmp"))
    root.chmod(0o755)  # every login may traverse it: only the state's own modes protect it
    yield root
    shutil.rmtree(root, ignore_errors=True)


def make_state(root: Path, ca_key: Path, canary: str) -> tuple[Settings, Path]:
    """The gateway's state as `worker`/`serve` and `admin db upgrade` create it; a spool file."""
    settings = Settings(
        dev_mode=True,
        database_url=f"sqlite:///{root / 'gateway.db'}",
        spool_dir=root / "spool",
        ssh_ca_key_path=ca_key,
    )
    previous = os.umask(0o022)  # the shell's usual umask: the gateway must not depend on it
    try:
        upgrade(settings.database_url)
        prepare_state(settings)
        engine = make_engine(settings.database_url)
        with make_session_factory(engine)() as session:
            users_repo.add(session, username=f"{canary}@unicaen.fr", cluster_login="alice",
                           created_at=datetime.now(UTC))  # fmt: skip
            session.commit()
        engine.dispose()
        upload = files_dir(settings.spool_dir, uuid.uuid4()) / "data" / "secret.csv"
        writer = SpoolWriter(upload, max_bytes=1024)
        writer.write(f"{canary},42\n".encode())
        writer.finish(None)
    finally:
        os.umask(previous)
    check_state_permissions(settings)  # what `worker` and `serve` accept before starting
    return settings, upload


def run_job_as(runner: SshRunner, script: str) -> str:
    """Submit ``script`` with sbatch as the runner's login, wait for its end, return its output."""
    out = f"mg-state-probe-{uuid.uuid4().hex[:12]}.out"  # in the login's home (sbatch's cwd)
    runner.run(["sbatch", "--wait", "--parsable", "-p", "debug", "-t", "00:02:00", "-J", "mg-state-probe",
                "-o", out], stdin=script.encode(), timeout=240)  # fmt: skip
    try:
        return runner.run(["cat", out]).stdout.decode()
    finally:
        runner.run(["rm", "-f", out], check=False)


def test_a_job_cannot_read_the_gateways_database_spool_or_ca_key(
    devcluster: DevCluster, ssh_runner_for: Callable[[str], SshRunner], state_root: Path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    settings, upload = make_state(state_root, devcluster.ca_key, canary)
    database = state_root / "gateway.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.spool_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(upload.stat().st_mode) == 0o600
    as_before = state_root / "as-before.db"  # the control: mode 0644, as umask 022 made it
    shutil.copyfile(database, as_before)
    as_before.chmod(0o644)
    assert canary.encode() in as_before.read_bytes()
    private = [database, upload, devcluster.ca_key]

    script = PROBE + f"CANARY={shlex.quote(canary)}\n"
    script += "".join(f"probe {shlex.quote(str(path))}\n" for path in [*private, as_before])
    script += f"ls -- {shlex.quote(str(settings.spool_dir))} >/dev/null 2>&1 || echo 'SPOOL UNLISTABLE'\n"
    output = run_job_as(ssh_runner_for("alice"), script)

    lines = output.splitlines()
    for path in private:
        assert f"DENIED {path}: cat: {path}: Permission denied" in lines, output
    assert f"READ+CANARY {as_before}" in lines, output  # the job could have read a 0644 file
    assert "SPOOL UNLISTABLE" in lines, output
    assert canary not in output
