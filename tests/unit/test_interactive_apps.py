"""Interactive apps (issue #18): the bundled JupyterLab template, its connection rule, the
connection file the app writes and the session states derived from the job's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from myriagate.domain.interactive import (
    SessionState,
    parse_connection,
    remaining,
    session_dir,
    session_state,
)
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, ConfigError, InvalidRequest, NotFound
from myriagate.scripts.interactive_apps import InteractiveApps
from myriagate.settings import Settings
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS

BASH = shutil.which("bash")
SESSION = "0b9c8f1e-4a5d-4e2b-9c1a-2f3e4d5c6b7a"


@pytest.fixture(scope="module")
def apps() -> InteractiveApps:
    return InteractiveApps(Settings(dev_mode=True))


def test_jupyter_ships_with_its_connection_rule(apps: InteractiveApps) -> None:
    assert apps.names() == ["jupyter"]
    meta = apps.get("jupyter")
    assert meta.title.en == "JupyterLab"
    assert meta.connection.file == "connection.json"
    assert meta.connection.header_value("s3cret") == "token s3cret"


def test_unknown_app_lists_the_known_ones(apps: InteractiveApps) -> None:
    with pytest.raises(NotFound, match="jupyter"):
        apps.get("rstudio")


def test_jupyter_script_binds_a_random_port_with_the_session_base_url(apps: InteractiveApps) -> None:
    text = apps.render("jupyter", {"session_id": SESSION})
    assert text.startswith("#!/bin/bash\n")
    assert "#SBATCH" not in text
    assert f"--ServerApp.base_url=/interactive/{SESSION}/" in text
    assert "--ServerApp.port_retries=0" in text
    # The token goes through a file named in Jupyter's own environment: never on a command line
    # `ps` shows, nor in the environment its kernels and terminals inherit.
    assert "--IdentityProvider.token" not in text and "JUPYTER_TOKEN=" not in text
    assert 'JUPYTER_TOKEN_FILE="$session_dir/token" "$env_dir/bin/jupyter-lab"' in text
    # TLS with the session's own certificate, whose fingerprint the connection file names.
    assert '--ServerApp.certfile="$session_dir/cert.pem"' in text and '"tls_sha256"' in text
    assert "env_dir=/opt/myriagate-jupyter" in text


def test_an_idle_timeout_culls_kernels_then_stops_the_server(apps: InteractiveApps) -> None:
    assert "shutdown_no_activity_timeout" not in apps.render("jupyter", {"session_id": SESSION})
    text = apps.render("jupyter", {"session_id": SESSION, "idle_minutes": "30"})
    assert "--ServerApp.shutdown_no_activity_timeout=1800" in text
    assert "--MappingKernelManager.cull_idle_timeout=1800" in text
    with pytest.raises(InvalidRequest):
        apps.render("jupyter", {"session_id": SESSION, "idle_minutes": "-1"})


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_jupyter_script_is_valid_bash(apps: InteractiveApps) -> None:
    text = apps.render("jupyter", {"session_id": SESSION, "module": "python/3.11", "idle_minutes": 5})
    result = subprocess.run([str(BASH), "-n"], input=text.encode(), capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_a_hostile_environment_is_one_word_never_run(
    apps: InteractiveApps, hostile: str, tmp_path: Path
) -> None:
    try:
        text = apps.render("jupyter", {"session_id": SESSION, "environment": hostile})
    except InvalidRequest as exc:
        assert exc.detail
        return
    line = next(line for line in text.splitlines() if line.startswith("env_dir="))
    canary = Path(CANARY)
    canary.unlink(missing_ok=True)
    result = subprocess.run(
        [str(BASH), "-c", line + '\nprintf %s "$env_dir"'],
        capture_output=True, check=False, cwd=tmp_path, env={"PATH": os.defpath},
    )  # fmt: skip
    assert result.stdout.decode() == hostile
    assert not canary.exists()


def test_a_site_app_must_declare_the_session_id(tmp_path: Path) -> None:
    (tmp_path / "rstudio.sh.j2").write_text("#!/bin/bash\nrserver\n")
    (tmp_path / "rstudio.toml").write_text(
        'name = "rstudio"\ntitle = { en = "R", fr = "R" }\ndescription = { en = "R", fr = "R" }\n'
    )
    with pytest.raises(ConfigError, match="session_id"):
        InteractiveApps(search_dirs=[tmp_path]).get("rstudio")


def _file(**values: object) -> bytes:
    base: dict[str, object] = {"host": "10.0.0.5", "port": 43111, "token": "a" * 64, "tls_sha256": "C0" * 32}
    base.update(values)
    return json.dumps(base).encode()


def test_the_connection_file_is_read_and_its_secret_kept_out_of_repr() -> None:
    found = parse_connection(_file())
    assert found is not None
    assert (found.host, found.port, found.secret) == ("10.0.0.5", 43111, "a" * 64)
    assert found.tls_sha256 == "c0" * 32  # as hex digests compare: lower case
    assert "a" * 16 not in repr(found)
    plain = parse_connection(_file(tls_sha256=None), tls=False)  # an app whose rule says tls = false
    assert plain is not None and plain.tls_sha256 is None
    assert parse_connection(b"") is None and parse_connection(b"  \n") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        _file(host="-oProxyCommand=touch /tmp/x"),
        _file(host="a b"),
        _file(host=""),
        _file(port=22),
        _file(port=True),
        _file(port="8888"),
        _file(port=70000),
        _file(token="short"),
        _file(token="x\ny" * 20),
        _file(token=None),
        _file(tls_sha256=None),  # an app serving TLS must name its certificate
        _file(tls_sha256="c0" * 31),
        _file(tls_sha256="g" * 64),
        _file(tls_sha256="c0:" * 31 + "c0"),
        _file(tls_sha256=["c0" * 32]),
        b" " * 5000 + b"{}",
    ],
)
def test_a_connection_file_not_as_written_by_the_app_is_refused(raw: bytes) -> None:
    with pytest.raises(BackendError):
        parse_connection(raw)


def test_session_state_follows_the_job_and_the_connection_file() -> None:
    assert session_state(JobState.SUBMITTING, connected=False) is SessionState.QUEUED
    assert session_state(JobState.PENDING, connected=False) is SessionState.QUEUED
    assert session_state(JobState.RUNNING, connected=False) is SessionState.STARTING
    assert session_state(JobState.RUNNING, connected=True) is SessionState.RUNNING
    for final in (JobState.CANCELLED, JobState.TIMEOUT, JobState.COMPLETED, JobState.FAILED):
        assert session_state(final, connected=True) is SessionState.ENDED


def test_remaining_time_counts_down_from_the_start() -> None:
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert remaining(None, 3600, start) is None
    assert remaining(start, 3600, start + timedelta(minutes=10)) == timedelta(minutes=50)
    assert remaining(start, 60, start + timedelta(hours=1)) == timedelta(0)
    assert session_dir("/home/alice/", SESSION) == f"/home/alice/.myriagate/interactive/{SESSION}"
