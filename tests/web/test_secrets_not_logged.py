"""No secret in logs (threat S26): the API served by uvicorn, the worker's
notification sender and the CLI go through their representative flows with logging configured
as in production (``configure_logging(json=True)``, at DEBUG so that nothing is left out), and
every line they write is searched for the secrets those flows handled: the password, the
tokens, the session cookie and its CSRF token, the webhook URLs' paths and queries, the
webhooks' signing secrets, ``MYRIAGATE_SECRET_KEY``, an SSH private key and certificate.

The API and the worker's sender run in this process, so the buffer holds everything the
process logged, the test's own httpx client included (as a CLI's or a worker's client would
log it). The CLI runs as ``myriagate`` in a subprocess, whose stderr is read.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.logs import configure_logging
from myriagate.notifications.channels import mailer_from, webhook_poster_from
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications.sender import Channels, run_pending
from myriagate.settings import Settings
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.integration.test_notifications_smtp import start_http
from tests.unit.test_services_tracking import run_tick
from tests.web.conftest import PASSWORD, MakeUser

API = "/api/v1"
MARK = "[redacted]"
SECRET_KEY = "canary-secret-key-" + secrets.token_hex(16)
SMTP_PASSWORD = "canary-smtp-password-" + secrets.token_hex(16)
SCRIPT = "#!/bin/bash\n#SBATCH --time=5\necho hi\n"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"secret_key": SECRET_KEY, "smtp_password": SMTP_PASSWORD}


class Captured:
    """The process's log output since the fixture began (one JSON object a line)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def text(self) -> str:
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]


@pytest.fixture
def production_logs(app: FastAPI) -> Iterator[Captured]:
    """``configure_logging(json=True)`` as ``serve`` and ``worker`` do, its stream kept here."""
    root = logging.getLogger()
    handlers, level, saved = root.handlers[:], root.level, structlog.get_config()
    configure_logging("DEBUG", json=True)
    captured = Captured()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured.buffer)
    try:
        yield captured
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**saved)


@pytest.fixture
def live_api(app: FastAPI, production_logs: Captured) -> Iterator[str]:
    """The app behind a real uvicorn, configured as ``myriagate serve`` does (its access log on)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, lifespan="off", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def ssh_private_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )


def assert_absent(text: str, found_in: str, **known: str) -> None:
    leaked = {name: value for name, value in known.items() if value and value in text}
    assert not leaked, f"{found_in} logged {sorted(leaked)}:\n" + "\n".join(
        line for line in text.splitlines() if any(v in line for v in leaked.values())
    )


@pytest.mark.own_app  # adds routes
def test_the_api_logs_no_password_token_cookie_csrf_or_key(
    live_api: str, production_logs: Captured, app: FastAPI, make_user: MakeUser, web_settings: Settings
) -> None:
    alice = make_user(username="alice@unicaen.fr")
    key = ssh_private_key()
    certificate = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t" + (
        secrets.token_hex(40)
    )
    held: dict[str, str] = {}

    def crash() -> None:
        # A bug whose message carries what it was handling: the traceback goes to the log.
        form = {"username": alice.username, "password": PASSWORD}
        raise RuntimeError(
            f"could not handle {form!r} (Authorization: Bearer {held['token']}) with "
            f"{web_settings!r}; CA key {key!r}; certificate {certificate}"
        )

    app.add_api_route(f"{API}/test-crash", crash, methods=["GET"])
    with httpx.Client(base_url=live_api, timeout=10) as http:
        assert (
            http.post(
                f"{API}/sessions", json={"username": alice.username, "password": "x" + PASSWORD}
            ).status_code
            == 401
        )
        opened = http.post(f"{API}/sessions", json={"username": alice.username, "password": PASSWORD})
        assert opened.status_code == 201, opened.text
        cookie, csrf = opened.cookies["myriagate_session"], opened.json()["csrf_token"]
        created = http.post(f"{API}/tokens", json={"name": "laptop"}, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        token = held["token"] = created.json()["token"]
        http.cookies.clear()
        bearer = {"Authorization": f"Bearer {token}"}
        # A client that put its token in the query string, or in a path: the access log and
        # the request line must not keep it.
        assert http.get(f"{API}/me", params={"access_token": token}, headers=bearer).status_code == 200
        assert http.delete(f"{API}/tokens/{token}", headers=bearer).status_code == 422
        hook = http.post(f"{API}/me/webhooks", headers=bearer, json={
            "url": f"http://127.0.0.1:9/services/T0PATHSECRET{secrets.token_hex(8)}?token=querysecret{secrets.token_hex(8)}"
        })  # fmt: skip
        assert hook.status_code == 201, hook.text
        assert http.get(f"{API}/test-crash", headers=bearer).status_code == 500
    time.sleep(0.2)  # the access log line of the last request is written after its response
    text = production_logs.text()
    url = hook.json()["url"]
    path_and_query = url.split(":9", 1)[1]
    pem_body = key.splitlines()[1]
    webhook_path, webhook_query = path_and_query.split("?")
    assert_absent(
        text, "the API", password=PASSWORD, token=token, token_body=token[4:], session_cookie=cookie,
        csrf_token=csrf, webhook_path=webhook_path, webhook_query=webhook_query,
        webhook_secret=hook.json()["secret"], secret_key=SECRET_KEY, smtp_password=SMTP_PASSWORD,
        ssh_key=pem_body, ssh_certificate=certificate.split()[1],
    )  # fmt: skip
    lines = production_logs.lines()
    # Still useful: the request lines, the access log (query names kept) and the crash.
    access = [line["event"] for line in lines if "access_token" in line["event"]]
    assert access and all(MARK in event for event in access), access
    (crashed,) = [line for line in lines if line["event"] == "http.unhandled"]
    assert "RuntimeError: could not handle" in crashed["exception"] and MARK in crashed["exception"]
    assert any(line["event"] == "password_rejected" and line["username"] == alice.username for line in lines)
    assert any(line["event"] == "http.request" and line["path"] == f"{API}/tokens" for line in lines)


def test_the_workers_webhook_deliveries_log_no_url_secret_or_signing_secret(
    production_logs: Captured,
    make_user: MakeUser,
    auth_client: Any,
    web_settings: Settings,
    web_session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    clock: FakeClock,
) -> None:
    alice: User = make_user(username="alice@unicaen.fr")
    client = auth_client(alice)
    received, failing = start_http(204), start_http(500)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
    ports = [received[0].server_address[1], failing[0].server_address[1], closed.getsockname()[1]]
    urls = [
        f"http://127.0.0.1:{port}/hooks/{secrets.token_hex(12)}?sig={secrets.token_hex(12)}" for port in ports
    ]
    try:
        hooks = []
        for url in urls:
            response = client.post(f"{API}/me/webhooks", json={"url": url})
            assert response.status_code == 201, response.text
            hooks.append(response.json())
        job = client.post(f"{API}/jobs", json={"script": SCRIPT})
        assert job.status_code == 202, job.text
        fake_cluster.set_state(job.json()["slurm_job_id"], "RUNNING")
        with web_session_factory() as session:
            run_tick(session, backends, clock)
        # The channels the worker's notification thread builds from the settings (notice_thread).
        channels = Channels(
            mailer=mailer_from(web_settings),
            webhooks=webhook_poster_from(web_settings),
            webhook_secrets=SecretSealer.for_webhooks(web_settings.secret_key),
        )
        result = run_pending(web_session_factory, channels, clock=clock)
    finally:
        for server, _ in (received, failing):
            server.shutdown()
        closed.close()
    assert (result.sent, result.retried) == (1, 2), result
    assert len(received[1].requests) == 1
    text = production_logs.text()
    known = {f"url_{n}": url.split(f":{ports[n]}", 1)[1] for n, url in enumerate(urls)}
    known |= {f"path_{n}": url.split("/hooks/", 1)[1].split("?")[0] for n, url in enumerate(urls)}
    known |= {f"query_{n}": url.split("?sig=", 1)[1] for n, url in enumerate(urls)}
    known |= {f"signing_secret_{n}": hook["secret"] for n, hook in enumerate(hooks)}
    assert_absent(text, "the worker", secret_key=SECRET_KEY, **known)
    lines = production_logs.lines()
    failed = [line for line in lines if line["event"] == "notice.not_sent"]
    assert sorted(line["error"].split()[1] for line in failed) == sorted(
        f"http://127.0.0.1:{port}/{MARK}" for port in ports[1:]
    )
    sent = [line for line in lines if line["event"] == "notify.webhook_sent"]
    assert len(sent) == 1 and f"127.0.0.1:{ports[0]}" in sent[0]["url"] and MARK in sent[0]["url"]


def run_cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from myriagate.cli.main import run; run()", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False,
        start_new_session=True,  # no terminal: the password prompt reads stdin
    )  # fmt: skip


def test_the_cli_logs_no_password_or_token(live_api: str, make_user: MakeUser, tmp_path: Path) -> None:
    alice = make_user(username="alice@unicaen.fr")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYRIAGATE_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path), "MYRIAGATE_LOG_LEVEL": "DEBUG", "NO_COLOR": "1"}
    logged_in = run_cli(["login", "--url", live_api, "-u", alice.username], env, stdin=PASSWORD + "\n")
    assert logged_in.returncode == 0, logged_in.stderr
    stored = tomllib.loads((tmp_path / "myriagate" / "config.toml").read_text())
    token = stored["token"]
    who = run_cli(["whoami", "--json"], env)
    assert who.returncode == 0 and json.loads(who.stdout)["username"] == alice.username, who.stderr
    # Someone who wrote their password into the gateway URL, the way some tools accept it.
    url_password = "url-password-" + secrets.token_hex(8)
    host = live_api.split("://", 1)[1]
    confused = run_cli(["whoami"], env | {"MYRIAGATE_URL": f"http://alice:{url_password}@{host}"})
    stderr = logged_in.stderr + who.stderr + confused.stderr
    assert "HTTP Request" in stderr  # the CLI did log its requests at DEBUG
    assert_absent(
        stderr, "the CLI", password=PASSWORD, token=token, token_body=token[4:], url_password=url_password
    )
    assert MARK in confused.stderr
