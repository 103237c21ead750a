"""A real JupyterLab left idle ends by itself (issue #18): the idle timeout the cluster profile
allows reaches the app, which shuts down once nothing has used it that long; its job then ends
in Slurm (COMPLETED: the app stopped, nobody cancelled it) long before its time limit, and the
session says the app stopped itself. One minute, the shortest the profile allows: JupyterLab
checks for inactivity once a minute, so the job ends one to two minutes after it starts.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.wiring import Gateway
from tests.integration.test_api_real_cluster import _client, gateway, server
from tests.integration.test_interactive_real import _until

__all__ = ["gateway", "server"]  # the fixtures, re-used
pytestmark = [pytest.mark.slurm, pytest.mark.long_wait]


def test_a_session_left_idle_ends_by_itself_before_its_time_limit(
    server: str, gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    alice = _client(server, db, users["alice"])
    started = alice.post(
        "/interactive/sessions",
        json={"app": "jupyter", "options": {"partition": "debug", "time": "00:10:00"},
              "params": {"idle_minutes": 1}},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    session = started.json()
    assert session["idle_timeout_s"] == 60
    try:
        running = _until(gateway, alice, session["id"], "running", 45)
        t0 = time.monotonic()
        # Nobody opens it: the app stops itself after its minute idle (checked once a minute).
        ended = _until(gateway, alice, session["id"], "ended", 200)
        idle_s = time.monotonic() - t0
    finally:
        alice.delete(f"/interactive/sessions/{session['id']}")  # a no-op once it ended
    assert ended["job_state"] == "completed", ended
    assert ended["problem"] == "the app stopped itself: idle for its idle timeout, or shut down from its menu"
    assert 55 <= idle_s <= 200, idle_s
    assert running["remaining_s"] > 8 * 60  # it ended with most of its 10 minutes left
    state = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", ended["slurm_job_id"], "-o", "State"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert state == ["COMPLETED"], state
    print(f"idle session ended {idle_s:.0f} s after it was running")
