"""Structured JSON logs of API requests: every line of a request carries its request id and,
once authenticated, the user; job lines carry the job id; nothing leaks into the next request."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.errors import SchedulerUnavailable
from myriagate.logs import configure_logging
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser

API = "/api/v1"
SCRIPT = "#!/bin/bash\n#SBATCH --time=5\necho hi\n"
Lines = Callable[[], list[dict[str, Any]]]


def until_request_line(read: Lines, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """Lines read until the request's own ``http.request`` line: the test client may hand the
    response back before the middleware has written it (after the body was sent)."""
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while not any(line["event"] == "http.request" for line in lines):
        assert time.monotonic() < deadline, f"no http.request line in {lines}"
        time.sleep(0.01)
        lines += read()
    return lines


@pytest.fixture
def json_logs(app: FastAPI) -> Iterator[Lines]:
    """Production logging (``configure_logging``: JSON lines) into a buffer, for one test;
    returns a reader of the lines written since the last read.

    Configured after ``app`` (whose database migrations reconfigure logging).
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", json=True)
    buffer = io.StringIO()
    (handler,) = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    handler.setStream(buffer)
    read_upto = 0

    def lines() -> list[dict[str, Any]]:
        nonlocal read_upto
        text = buffer.getvalue()
        new, read_upto = text[read_upto:], len(text)
        return [json.loads(line) for line in new.splitlines()]

    yield lines
    root.handlers[:] = handlers
    root.setLevel(level)


def test_request_lines_carry_request_id_user_and_job_id(
    json_logs: Lines, make_user: MakeUser, auth_client: Callable[[User], TestClient], client: TestClient
) -> None:
    user = make_user(username="alice@unicaen.fr")
    alice = auth_client(user)
    json_logs()  # drop what creating the user and token logged

    response = alice.post(f"{API}/jobs", json={"script": SCRIPT}, headers={"X-Request-ID": "req-42.a"})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    lines = until_request_line(json_logs)

    (request_line,) = [line for line in lines if line["event"] == "http.request"]
    assert request_line["request_id"] == "req-42.a" == response.headers["x-request-id"]
    assert request_line["user"] == "alice@unicaen.fr" and request_line["user_id"] == str(user.id)
    assert request_line["path"] == f"{API}/jobs" and request_line["status"] == 202
    assert request_line["level"] == "info" and request_line["timestamp"].endswith("Z")
    # The service's own lines during the request: same request id and user, plus the job.
    job_lines = [line for line in lines if line["event"] in ("job.submitting", "job.submitted")]
    assert job_lines, [line["event"] for line in lines]
    for line in job_lines:
        assert (line["request_id"], line["user"], line["job_id"]) == ("req-42.a", "alice@unicaen.fr", job_id)

    # The next request, anonymous, gets a fresh id and no user.
    assert client.get(f"{API}/jobs").status_code == 401
    (anonymous,) = [line for line in until_request_line(json_logs) if line["event"] == "http.request"]
    assert anonymous["request_id"] not in ("req-42.a", "") and "user" not in anonymous


def test_a_hostile_request_id_is_replaced_not_logged(
    json_logs: Lines, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> None:
    alice = auth_client(make_user())
    json_logs()
    hostile = 'x"}\n{"event":"forged'
    response = alice.get(f"{API}/jobs", headers={"X-Request-ID": hostile.replace("\n", " ")})
    assert response.status_code == 200
    (line,) = [line for line in until_request_line(json_logs) if line["event"] == "http.request"]
    assert line["request_id"] == response.headers["x-request-id"] and "forged" not in line["request_id"]


def test_lines_logged_below_the_submission_name_the_job(
    json_logs: Lines,
    make_user: MakeUser,
    auth_client: Callable[[User], TestClient],
    fake_cluster: FakeCluster,
) -> None:
    """``job.work_dir_unknown`` is logged by a helper that never sees the job: the job id comes
    from the context bound around sbatch and what follows it."""
    alice = auth_client(make_user())
    json_logs()
    fake_cluster.fail_next("home_dir", SchedulerUnavailable("cluster: connection refused"))
    response = alice.post(f"{API}/jobs", json={"script": SCRIPT, "options": {"chdir": "relative/dir"}})
    assert response.status_code == 202, response.text
    lines = until_request_line(json_logs)
    (unknown,) = [line for line in lines if line["event"] == "job.work_dir_unknown"]
    assert (
        unknown["job_id"] == response.json()["id"]
        and unknown["request_id"] == response.headers["x-request-id"]
    )
    # Outside the submission the job id is gone again.
    (request_line,) = [line for line in lines if line["event"] == "http.request"]
    assert "job_id" not in request_line
