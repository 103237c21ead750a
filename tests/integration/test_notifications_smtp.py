"""Notifications end to end: a real SMTP server (aiosmtpd) and a real HTTP server on loopback.

A job finishing on the (fake) cluster is polled by the real tracking tick, queued in the
outbox by the real transition, and delivered by the real sender through ``SmtpMailer`` or
``HttpWebhookPoster``; the servers are started here on free loopback ports and record
exactly what arrived.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import Notification, User
from myriagate.domain.notifications import NotificationKind
from myriagate.domain.webhook_rules import verify
from myriagate.notifications.smtp import SmtpMailer
from myriagate.notifications.webhooks import HttpWebhookPoster
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications import outbox, sender
from myriagate.services.notifications.sender import Channels, run_pending
from myriagate.settings import Settings
from myriagate.wiring import notifications_loop
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.unit.test_services_tracking import run_tick, submit

SENDER = "myriagate@criann.fr"
SEALER = SecretSealer.for_webhooks("test-secret-key")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server accepted: (envelope recipients, parsed message)."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    port = free_port()
    controller, inbox = start_smtp(port)
    try:
        yield port, inbox
    finally:
        controller.stop()


def finish_a_job(
    session: Session, backends: FakeSlurmBackendFactory, cluster: FakeCluster, user: User, clock: FakeClock
) -> str:
    job = submit(session, backends, user, clock)  # the fake parser names every job "run"
    assert job.slurm_job_id is not None
    cluster.set_state(job.slurm_job_id, "RUNNING")
    run_tick(session, backends, clock)
    clock.advance(120)
    cluster.finish(job.slurm_job_id, exit_code=0)
    run_tick(session, backends, clock)
    return job.slurm_job_id


def rows(session: Session) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(sa.select(Notification).order_by(Notification.id)))


def test_a_job_finishing_sends_an_email_through_a_real_smtp_server(
    session_factory: sessionmaker[Session],
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    alice.email = "alice@unicaen.fr"
    session.commit()
    slurm_job_id = finish_a_job(session, backends, fake_cluster, alice, clock)
    mailer = SmtpMailer("127.0.0.1", port, SENDER, timeout_s=5)
    result = run_pending(session_factory, Channels(mailer=mailer), clock=clock)
    assert (result.sent, result.retried, result.abandoned) == (1, 0, 0)
    [(recipients, message)] = inbox.messages
    assert recipients == ["alice@unicaen.fr"]
    assert message["Subject"] == f"[myriagate] Job {slurm_job_id} (run) finished / terminé"
    assert message["From"] == SENDER and message["To"] == "alice@unicaen.fr"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert f"Tâche {slurm_job_id} (run) sur devcluster : terminé." in body
    assert f"Job {slurm_job_id} (run) on devcluster finished." in body
    assert "Exit code: 0" in body
    [row] = rows(session)
    assert row.sent_at is not None and row.attempts == 1
    # Another pass sends nothing more.
    assert run_pending(session_factory, Channels(mailer=mailer), clock=clock).sent == 0
    assert len(inbox.messages) == 1


def test_an_unreachable_smtp_server_is_retried_later_and_nothing_is_lost(
    session_factory: sessionmaker[Session],
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    alice.email = "alice@unicaen.fr"
    session.commit()
    finish_a_job(session, backends, fake_cluster, alice, clock)
    finish_a_job(session, backends, fake_cluster, alice, clock)
    port = free_port()  # nobody listens there yet
    mailer = SmtpMailer("127.0.0.1", port, SENDER, timeout_s=2)
    result = run_pending(session_factory, Channels(mailer=mailer), clock=clock)
    assert (result.sent, result.retried) == (0, 2)
    assert all("unreachable" in (r.last_error or "") and r.next_attempt_at is not None for r in rows(session))
    controller, inbox = start_smtp(port)
    try:
        assert run_pending(session_factory, Channels(mailer=mailer), clock=clock).sent == 0  # not due yet
        clock.advance(sender.RETRY_DELAYS_S[0])
        assert run_pending(session_factory, Channels(mailer=mailer), clock=clock).sent == 2
    finally:
        controller.stop()
    assert len(inbox.messages) == 2
    assert all(r.sent_at is not None and r.attempts == 2 and r.last_error is None for r in rows(session))


@dataclass
class Received:
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


def start_http(
    status: int, *, location: str | None = None, delay_s: float = 0.0
) -> tuple[ThreadingHTTPServer, Received]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.requests.append((self.path, dict(self.headers.items()), body))
            time.sleep(delay_s)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_a_webhook_is_delivered_to_a_real_http_server_with_a_valid_signature(
    session_factory: sessionmaker[Session],
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    server, received = start_http(204)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/myriagate"
        created = outbox.add_webhook(session, alice, url=url, dev_mode=True, clock=clock, sealer=SEALER)
        slurm_job_id = finish_a_job(session, backends, fake_cluster, alice, clock)
        channels = Channels(webhooks=HttpWebhookPoster(dev_mode=True, timeout_s=5), webhook_secrets=SEALER)
        # Webhooks get every kind by default: started, then finished.
        assert run_pending(session_factory, channels, clock=clock).sent == 2
    finally:
        server.shutdown()
    assert [h["X-Myriagate-Event"] for _, h, _ in received.requests] == ["job_started", "job_finished"]
    for _, headers, body in received.requests:
        assert verify(created.secret, timestamp=headers["X-Myriagate-Timestamp"], body=body,
                      signature=headers["X-Myriagate-Signature"], now=clock.now().timestamp())  # fmt: skip
    path, headers, body = received.requests[1]
    assert path == "/hooks/myriagate"
    assert headers["Content-Type"] == "application/json"
    assert not verify("wrong-secret", timestamp=headers["X-Myriagate-Timestamp"], body=body,
                      signature=headers["X-Myriagate-Signature"], now=clock.now().timestamp())  # fmt: skip
    document = json.loads(body)
    assert document["data"]["slurm_job_id"] == slurm_job_id and document["data"]["state"] == "completed"


def test_a_webhook_redirect_is_never_followed_and_a_slow_one_times_out(
    session_factory: sessionmaker[Session],
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    redirector, redirected = start_http(302, location="/stolen")
    slow, slowed = start_http(204, delay_s=5)
    try:
        for server in (redirector, slow):
            url = f"http://127.0.0.1:{server.server_address[1]}/hook"
            outbox.add_webhook(session, alice, url=url, dev_mode=True, clock=clock, sealer=SEALER)
        outbox.set_preferences(
            session, alice, {NotificationKind.JOB_STARTED: {"webhook": False}}, clock=clock
        )
        finish_a_job(session, backends, fake_cluster, alice, clock)
        channels = Channels(webhooks=HttpWebhookPoster(dev_mode=True, timeout_s=1), webhook_secrets=SEALER)
        started = time.monotonic()
        result = run_pending(session_factory, channels, clock=clock)
        elapsed = time.monotonic() - started
    finally:
        redirector.shutdown()
        slow.shutdown()
    assert (result.sent, result.abandoned, result.retried) == (0, 1, 1)
    assert [p for p, _, _ in redirected.requests] == ["/hook"]  # /stolen never asked for
    assert len(slowed.requests) == 1 and elapsed < 4
    by_state = {(r.abandoned_at is not None, r.next_attempt_at is not None): r for r in rows(session)}
    assert "redirect" in (by_state[(True, False)].last_error or "")
    assert "unreachable" in (by_state[(False, True)].last_error or "")


def test_the_worker_thread_delivers_and_stops(
    db_url: str,
    session_factory: sessionmaker[Session],
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
    smtp: tuple[int, Inbox],
) -> None:
    """What ``myriagate worker`` starts: the sender (and balance watch) thread from the settings."""
    port, inbox = smtp
    alice.email = "alice@unicaen.fr"
    session.commit()
    finish_a_job(session, backends, fake_cluster, alice, clock)
    settings = Settings(dev_mode=True, database_url=db_url, smtp_host="127.0.0.1", smtp_port=port)
    stop = threading.Event()
    loop = notifications_loop(settings, session_factory, clock)
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
    [(recipients, message)] = inbox.messages
    assert recipients == ["alice@unicaen.fr"] and "finished / terminé" in message["Subject"]
    assert all(r.sent_at is not None for r in rows(session))


def test_a_hanging_smtp_server_costs_one_timeout_per_pass_not_one_per_message(
    session_factory: sessionmaker[Session],
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    alice.email = "alice@unicaen.fr"
    session.commit()
    for _ in range(5):
        finish_a_job(session, backends, fake_cluster, alice, clock)
    with socket.socket() as silent:  # accepts connections (backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        mailer = SmtpMailer("127.0.0.1", silent.getsockname()[1], SENDER, timeout_s=1)
        started = time.monotonic()
        result = run_pending(session_factory, Channels(mailer=mailer), clock=clock)
        elapsed = time.monotonic() - started
    assert (result.sent, result.retried, result.abandoned) == (0, 5, 0)
    assert 1 <= elapsed < 3
    assert all(r.next_attempt_at is not None and r.sent_at is None for r in rows(session))
