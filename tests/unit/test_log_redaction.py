"""Secrets never reach a log line (threat S26): through the real pipeline
(``configure_logging``), by field name, by shape anywhere in the text, by value for the
settings' secrets, in tracebacks, in uvicorn's access line, and in the CLI's console lines;
ordinary lines are left as they were."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from myriagate.logs import configure_logging
from myriagate.settings import Settings
from myriagate.wiring import Gateway

MARK = "[redacted]"
TOKEN = "mgt_" + "Zk3" * 14 + "x"  # the shape services/people/auth.py makes: mgt_ + 43 characters
Read = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def logs(request: pytest.FixtureRequest) -> Iterator[Read]:
    """Production JSON logging into a buffer; returns the lines written so far."""
    root = logging.getLogger()
    handlers, level, saved = root.handlers[:], root.level, structlog.get_config()
    configure_logging("DEBUG", json=True)
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**saved)


def test_fields_named_like_secrets_are_redacted_and_the_others_kept(logs: Read) -> None:
    structlog.get_logger("t").info(
        "request.seen", password="hunter2hunter2", token=TOKEN, csrf_token="c5rf-value", job_id="j-1",
        token_id="3f0c", status=200, password_set=True,
        headers={"Authorization": "Bearer abcdefghijk", "Cookie": "myriagate_session=s3", "Accept": "*/*"},
    )  # fmt: skip
    [line] = logs()
    assert (line["password"], line["token"], line["csrf_token"]) == (MARK, MARK, MARK)
    assert line["headers"] == {"Authorization": MARK, "Cookie": MARK, "Accept": "*/*"}
    assert (line["job_id"], line["token_id"], line["status"], line["password_set"]) == (
        "j-1",
        "3f0c",
        200,
        True,
    )


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN[4:], "Authorization: Bearer"),
        (f"pasted {TOKEN} in a path", TOKEN[4:], "pasted mgt_"),
        ("b'authorization', b'Basic YWxpY2U6aHVudGVyMg=='", "YWxpY2U6aHVudGVyMg", "Basic"),
        ("webhook https://hooks.slack.com/services/T00/B00/XXsecretXX failed", "XXsecretXX", "https://hooks.slack.com/"),
        ("POST http://127.0.0.1:8080/hook?sig=qu3ry5ecret sent", "qu3ry5ecret", "http://127.0.0.1:8080/"),
        ("connect to postgresql+psycopg://gw:dbpa55word@db:5432/mg", "dbpa55word", "postgresql+psycopg://gw:"),
        ("https://alice:urlpa55word@gw.example.org/api", "urlpa55word", "https://"),
        ("login failed password=hunter2hunter2 user=bob", "hunter2hunter2", "user=bob"),
        ("{'username': 'bob', 'password': 'correct horse battery'}", "horse battery", "'username': 'bob'"),
        ("(b'set-cookie', b'myriagate_session=c00kieValue; HttpOnly')", "c00kieValue", "HttpOnly"),
        ("X-CSRF-Token: csrfValue123", "csrfValue123", "X-CSRF-Token"),
        ("key '-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH "
         "PRIVATE KEY-----\\n' refused", "b3BlbnNzaC1rZXktdjEAAAAA", "refused"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n(cut)", "MIIEowIBAAKCAQEA", "RSA PRIVATE KEY"),
        ("cert ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAx alice",
         "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAx", "ssh-ed25519-cert-v01@openssh.com"),
    ],
)  # fmt: skip
def test_secret_shapes_are_redacted_in_any_text(logs: Read, text: str, secret: str, kept: str) -> None:
    structlog.get_logger("t").warning(text, detail=text)
    logging.getLogger("some.library").warning("library says: %s", text)
    lines = logs()
    assert len(lines) == 2
    for value in (lines[0]["event"], lines[0]["detail"], lines[1]["event"]):
        assert secret not in value and MARK in value and kept in value, value


def test_ordinary_lines_are_left_alone(logs: Read) -> None:
    ordinary = {
        "job_id": "0b7e", "slurm_job_id": "1234_5", "path": "/api/v1/jobs/0b7e", "session_ttl_s": 28800,
        "url": "sftp://alice@storage.unicaen.fr/data/run", "detail": "sbatch: error: invalid partition",
        "site": "https://myriagate.criann.fr/",
    }  # fmt: skip
    structlog.get_logger("t").info("job.state_changed", **ordinary)
    [line] = logs()
    assert {key: line[key] for key in ordinary} == ordinary


def test_a_traceback_is_redacted(logs: Read) -> None:
    try:
        raise RuntimeError(f"could not use {{'password': 'tr4ceback pass'}} with Bearer {TOKEN}")
    except RuntimeError:
        structlog.get_logger("t").exception("worker.step_failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    lines = logs()
    assert len(lines) == 2
    for line in lines:
        assert "RuntimeError: could not use" in line["exception"]
        assert "tr4ceback pass" not in line["exception"] and TOKEN[4:] not in line["exception"]


def test_the_settings_secrets_are_redacted_by_value_once_a_gateway_holds_them(logs: Read) -> None:
    settings = Settings(
        dev_mode=True, secret_key="k3y-with-no-shape-at-all", smtp_password="smtp pass phrase",
        database_url="postgresql+psycopg://gw:p%40ss-w0rd@db/mg",
    )  # fmt: skip
    Gateway(settings=settings, profiles={}, session_factory=None)  # type: ignore[arg-type]
    structlog.get_logger("t").error(
        "config.dump", text="k3y-with-no-shape-at-all and smtp pass phrase and p@ss-w0rd", settings=settings
    )
    [line] = logs()
    for value in (line["text"], line["settings"]):
        assert "k3y-with-no-shape" not in value and "smtp pass phrase" not in value and "w0rd" not in value


def test_uvicorns_access_line_keeps_the_path_and_the_query_names_only(logs: Read) -> None:
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.7:5123",
        "GET",
        "/api/v1/jobs?state=running&key=opaque99",
        "1.1",
        200,
    )
    access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.7:5123", "GET", "/api/v1/jobs", "1.1", 200)
    assert [line["event"] for line in logs()] == [
        f'10.0.0.7:5123 - "GET /api/v1/jobs?state={MARK}&key={MARK} HTTP/1.1" 200',
        '10.0.0.7:5123 - "GET /api/v1/jobs HTTP/1.1" 200',
    ]


def test_the_clis_console_lines_are_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level, saved = root.handlers[:], root.level, structlog.get_config()
    configure_logging("DEBUG", json=False)  # what `myriagate` (the CLI) sets up
    try:
        logging.getLogger("httpx").info("HTTP Request: GET http://u:clipa55word@gw:8000/api/v1/me?t=1 200")
        structlog.get_logger("t").warning("cli.retry", token=TOKEN)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**saved)
    err = capsys.readouterr().err
    assert "clipa55word" not in err and TOKEN[4:] not in err and err.count(MARK) == 3, err
