"""nginx's servers for the interactive sessions' own host names (issue #18,
deploy/proxy/nginx-myriagate.conf, docs/interactive.md "An origin per session"), run for real
in front of an echo upstream: a session's host passes only the app's and the ticket's paths,
never an identity header, and never writes the ticket down; the gateway's server stays the
default for any other name."""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path

import httpx

from tests.unit.test_deploy_files import live_nginx, needs_nginx

__all__ = ["live_nginx"]  # the fixture, by name

APPS = "apps.myriagate.criann.fr"


@needs_nginx
def test_a_sessions_host_passes_the_app_and_the_ticket_only_and_logs_no_ticket(
    live_nginx: tuple[int, int, ssl.SSLContext], tmp_path: Path
) -> None:
    http_port, https_port, trusting = live_nginx
    session = str(uuid.uuid4())
    host = f"{session}.{APPS}"
    ticket = "gAAAAAB" + uuid.uuid4().hex * 3
    redirect = httpx.get(f"http://127.0.0.1:{http_port}/interactive/{session}/lab", headers={"Host": host})
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"https://{host}/interactive/{session}/lab"

    with httpx.Client(base_url=f"https://127.0.0.1:{https_port}", verify=trusting, timeout=30) as client:
        spoofed = {"Host": host, "X-Remote-User": "admin"}
        app = client.get(f"/interactive/{session}/api/status?x=1", headers=spoofed)
        assert app.status_code == 200, app.text
        seen = app.json()["headers"]
        assert "x-remote-user" not in seen and seen["host"] == host
        assert app.headers["referrer-policy"] == "same-origin"
        connect = client.get(f"/_myriagate/connect?session_ticket={ticket}", headers=spoofed)
        assert connect.status_code == 200 and "x-remote-user" not in connect.json()["headers"]
        for path in ("/", "/api/v1/me", "/login", "/jobs"):
            refused = client.get(path, headers={"Host": host})
            assert refused.status_code == 404 and not refused.headers["content-type"].startswith(
                "application/json"
            )
        # Any other name (not a session id) is the gateway's server, as before.
        other = client.get("/api/v1/me", headers={"Host": f"evil.{APPS}", "X-Remote-User": "admin"})
        assert other.status_code == 200 and "x-remote-user" not in other.json()["headers"]

    logged = (tmp_path / "access.log").read_text()
    assert f"/interactive/{session}/api/status" in logged  # the app's requests are logged
    assert ticket not in logged and "_myriagate/connect" not in logged
