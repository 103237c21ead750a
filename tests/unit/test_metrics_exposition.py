"""How processes expose metrics: the worker's own port, and multiprocess mode summing the
values of several processes (as uvicorn workers behind one port) through
``PROMETHEUS_MULTIPROC_DIR``.

Multiprocess mode is chosen by prometheus_client when it is first imported, so those checks run
in child processes with the variable set, exactly as a service would start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from myriagate.errors import ConfigError
from myriagate.observability.exposition import start_metrics_server
from myriagate.observability.metrics import SLURM_COMMAND_SECONDS

REPO = Path(__file__).resolve().parents[2]

RECORD = """
import sys
from myriagate.observability.metrics import HTTP_REQUEST_SECONDS, SLURM_COMMAND_ERRORS
for _ in range(int(sys.argv[1])):
    HTTP_REQUEST_SECONDS.labels("/api/v1/jobs", "POST", "2xx").observe(0.2)
SLURM_COMMAND_ERRORS.labels("myria", "squeue", "exit_status").inc(int(sys.argv[1]))
"""

SCRAPE = """
from myriagate.observability.exposition import build_registry, render
body, content_type = render(build_registry())
print(content_type)
print(body.decode())
"""


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_multiprocess_mode_sums_every_process(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    _python(RECORD, "3", env=env)  # two "uvicorn workers", then gone
    _python(RECORD, "4", env=env)
    content_type, _, body = _python(SCRAPE, env=env).partition("\n")

    assert content_type.startswith("text/plain; version=0.0.4")
    samples = _samples(body)
    route = {"route": "/api/v1/jobs", "method": "POST", "status_class": "2xx"}
    assert samples[("myriagate_http_request_duration_seconds_count", frozenset(route.items()))] == 7
    assert samples[
        ("myriagate_http_request_duration_seconds_sum", frozenset(route.items()))
    ] == pytest.approx(1.4)
    errors = {"cluster": "myria", "command": "squeue", "error": "exit_status"}
    assert samples[("myriagate_slurm_command_errors_total", frozenset(errors.items()))] == 7


def test_a_missing_multiprocess_directory_is_a_config_error(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "absent")}
    done = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "PROMETHEUS_MULTIPROC_DIR" in done.stderr and "ConfigError" in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_worker_port_serves_this_process_on_loopback() -> None:
    port = _free_port()
    server, thread = start_metrics_server(port)
    try:
        assert server.server_address[0] == "127.0.0.1", "loopback unless asked otherwise"
        SLURM_COMMAND_SECONDS.labels("expo-test", "sacct").observe(0.01)
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        samples = _samples(response.text)
        labels = frozenset({"cluster": "expo-test", "command": "sacct"}.items())
        assert samples[("myriagate_slurm_command_duration_seconds_count", labels)] >= 1
        assert any(name.startswith("process_") for name, _ in samples), "the process collectors too"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError, match=r"cannot serve metrics on 127\.0\.0\.1"):
            start_metrics_server(taken.getsockname()[1])
