"""Notifications: outbox rules, dedupe, retries, claims, preferences, signatures, URL rules."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import Job, Notification, User
from myriagate.db.models.users import MembershipRole
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import notifications as repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.domain.costs import Cost
from myriagate.domain.notification_text import render
from myriagate.domain.notifications import Channel, NotificationKind, balance_level
from myriagate.domain.states import JobState
from myriagate.domain.webhook_rules import check_url, sign, verify
from myriagate.errors import ConfigError, InvalidRequest
from myriagate.notifications import DeliveryFailed
from myriagate.notifications.webhooks import HttpWebhookPoster
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.jobs import transitions
from myriagate.services.notifications import balance_watch, outbox, sender
from myriagate.services.notifications.sender import Channels, run_pending
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_notifications import FakeMailer, FakeWebhookPoster
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.unit.test_services_tracking import reload, run_tick, submit

HOUR = 3600
SEALER = SecretSealer.for_webhooks("test-secret-key")


def queued_rows(session: Session) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(sa.select(Notification).order_by(Notification.id)))


def with_email(session: Session, user: User, address: str = "alice@unicaen.fr") -> User:
    user.email = address
    session.commit()
    return user


# --- which events, to whom ------------------------------------------------------------------
def test_a_job_finishing_on_the_cluster_queues_one_email_for_its_owner(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    with_email(session, alice)
    job = submit(session, backends, alice, clock, job_name="climate-run")
    assert job.slurm_job_id is not None
    fake_cluster.set_state(job.slurm_job_id, "RUNNING")
    run_tick(session, backends, clock)
    # "started" is off by default for e-mail: nothing yet.
    assert queued_rows(session) == []
    clock.advance(60)
    fake_cluster.finish(job.slurm_job_id, exit_code=0)
    run_tick(session, backends, clock)
    [row] = queued_rows(session)
    assert (row.kind, row.channel, row.user_id, row.target) == (
        NotificationKind.JOB_FINISHED,
        Channel.EMAIL,
        alice.id,
        "email",
    )
    assert row.payload["slurm_job_id"] == job.slurm_job_id
    assert row.payload["state"] == "completed" and row.payload["exit_code"] == 0
    assert row.next_attempt_at == clock.now() and row.sent_at is None


def test_failures_and_foreign_cancels_are_failed_notices_own_cancel_is_not(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    with_email(session, alice)
    jobs = [submit(session, backends, alice, clock) for _ in range(3)]
    transitions.move(session, jobs[0], JobState.OUT_OF_MEMORY, at=clock.now())
    transitions.move(session, jobs[1], JobState.CANCELLED, at=clock.now())  # an admin's scancel
    jobs[2].cancel_requested_at = clock.now()
    transitions.move(session, jobs[2], JobState.CANCELLED, at=clock.now())
    session.commit()
    rows = queued_rows(session)
    assert [(r.kind, r.payload["job_id"]) for r in rows] == [
        (NotificationKind.JOB_FAILED, str(jobs[0].id)),
        (NotificationKind.JOB_FAILED, str(jobs[1].id)),
    ]


def test_results_stored_after_staging_out_is_a_staged_notice_with_the_site(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    with_email(session, alice)
    job = submit(session, backends, alice, clock)
    transitions.move(session, job, JobState.RUNNING, at=clock.now())
    job.stage_out = True
    transitions.move(session, job, JobState.COMPLETED, at=clock.now())  # -> staging_out
    assert job.state is JobState.STAGING_OUT
    job.stage_out = False
    job.reason = "3 result file(s) stored in Caen (FR-NOR)"
    transitions.move(session, job, JobState.COMPLETED, at=clock.now())
    session.commit()
    [row] = queued_rows(session)
    assert row.kind is NotificationKind.JOB_STAGED
    message = render(row.kind, row.payload)
    assert "results stored / terminé, résultats stockés" in message.subject
    assert "stored in Caen (FR-NOR)" in message.body


def test_the_same_event_is_never_queued_twice(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    with_email(session, alice)
    job = submit(session, backends, alice, clock)
    for _ in range(3):  # a retried tick, a second worker
        outbox.job_state_changed(session, job, JobState.RUNNING, JobState.FAILED, at=clock.now())
    session.commit()
    assert len(queued_rows(session)) == 1


def test_no_email_address_means_no_email_row_but_webhooks_still_get_it(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    hooks = [
        outbox.add_webhook(
            session, alice, url=f"https://hooks.example.org/{i}", dev_mode=False, clock=clock, sealer=SEALER
        ).webhook
        for i in range(2)
    ]
    job = submit(session, backends, alice, clock)
    transitions.move(session, job, JobState.FAILED, at=clock.now())
    session.commit()
    rows = queued_rows(session)
    assert {(r.channel, r.webhook_id) for r in rows} == {(Channel.WEBHOOK, h.id) for h in hooks}


# --- preferences ------------------------------------------------------------------------------
def test_defaults_then_choices_decide_the_channels(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    with_email(session, alice)
    prefs = outbox.preferences_of(session, alice.id)
    assert prefs[NotificationKind.JOB_STARTED] == outbox.Preference(email=False, webhook=True)
    assert all(prefs[k].email for k in NotificationKind if k is not NotificationKind.JOB_STARTED)
    outbox.set_preferences(
        session,
        alice,
        {NotificationKind.JOB_STARTED: {"email": True}, NotificationKind.JOB_FAILED: {"email": False}},
        clock=clock,
    )
    prefs = outbox.preferences_of(session, alice.id)
    assert prefs[NotificationKind.JOB_STARTED] == outbox.Preference(email=True, webhook=True)
    assert prefs[NotificationKind.JOB_FAILED] == outbox.Preference(email=False, webhook=True)
    started, failed = submit(session, backends, alice, clock), submit(session, backends, alice, clock)
    transitions.move(session, started, JobState.RUNNING, at=clock.now())
    transitions.move(session, failed, JobState.FAILED, at=clock.now())
    session.commit()
    assert [r.kind for r in queued_rows(session)] == [NotificationKind.JOB_STARTED]


# --- sending, retries, claims ---------------------------------------------------------------------
def queue_failures(session: Session, user: User, clock: FakeClock, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    for job_id in ids:
        outbox.queue(
            session,
            kind=NotificationKind.JOB_FAILED,
            event_key=f"job:{job_id}:job_failed",
            payload={
                "job_id": str(job_id),
                "slurm_job_id": "77",
                "job_name": "run",
                "cluster": CLUSTER,
                "state": "failed",
            },
            recipients=[user],
            at=clock.now(),
        )
    session.commit()
    return ids


def test_the_sender_delivers_each_notification_once(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 3)
    mailer = FakeMailer()
    result = run_pending(session_factory, Channels(mailer=mailer), clock=clock)
    assert (result.sent, result.retried, result.abandoned) == (3, 0, 0)
    assert [to for to, _, _ in mailer.sent] == ["alice@unicaen.fr"] * 3
    assert mailer.sent[0][1] == "[myriagate] Job 77 (run) failed / en échec"
    assert all(r.sent_at == clock.now() and r.next_attempt_at is None for r in queued_rows(session))
    clock.advance(3600)
    assert run_pending(session_factory, Channels(mailer=mailer), clock=clock).sent == 0
    assert len(mailer.sent) == 3


def test_a_transient_failure_is_retried_later_with_backoff_then_given_up(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 1)
    mailer = FakeMailer(fail_with=DeliveryFailed("SMTP server unreachable", transient=True))
    channels = Channels(mailer=mailer)
    assert run_pending(session_factory, channels, clock=clock).retried == 1
    [row] = queued_rows(session)
    assert row.attempts == 1 and row.sent_at is None and row.abandoned_at is None
    assert row.next_attempt_at == clock.now() + timedelta(seconds=sender.RETRY_DELAYS_S[0])
    assert "unreachable" in (row.last_error or "")
    clock.advance(sender.RETRY_DELAYS_S[0] - 1)
    assert run_pending(session_factory, channels, clock=clock).retried == 0  # not due yet
    for delay in sender.RETRY_DELAYS_S:
        clock.advance(delay)
        run_pending(session_factory, channels, clock=clock)
    [row] = queued_rows(session)
    assert row.attempts == sender.MAX_ATTEMPTS
    assert row.abandoned_at == clock.now() and row.next_attempt_at is None and row.sent_at is None


def test_the_smtp_server_coming_back_delivers_what_waited(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 2)
    mailer = FakeMailer(fail_with=DeliveryFailed("down", transient=True))
    run_pending(session_factory, Channels(mailer=mailer), clock=clock)
    mailer.fail_with = None
    clock.advance(sender.RETRY_DELAYS_S[0])
    assert run_pending(session_factory, Channels(mailer=mailer), clock=clock).sent == 2
    assert len(mailer.sent) == 2


def test_a_permanent_failure_or_a_missing_channel_is_given_up_at_once(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 1)
    refused = FakeMailer(fail_with=DeliveryFailed("550 no such user", transient=False))
    assert run_pending(session_factory, Channels(mailer=refused), clock=clock).abandoned == 1
    queue_failures(session, alice, clock, 1)
    assert run_pending(session_factory, Channels(mailer=None), clock=clock).abandoned == 1
    errors = [r.last_error for r in queued_rows(session)]
    assert errors[0] == "550 no such user" and "MYRIAGATE_SMTP_HOST" in (errors[1] or "")


def test_rows_older_than_the_max_age_are_not_sent(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 1)
    clock.advance(sender.MAX_AGE.total_seconds() + 1)
    mailer = FakeMailer()
    assert run_pending(session_factory, Channels(mailer=mailer), clock=clock).abandoned == 1
    assert mailer.sent == []


def test_a_claimed_row_is_not_claimed_again_until_its_claim_expires(
    session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 2)
    now = clock.now()
    until = now + timedelta(seconds=sender.CLAIM_S)
    first = repo.claim(session, "worker-a", now=now, until=until, limit=10)
    session.commit()
    assert len(first) == 2
    assert repo.claim(session, "worker-b", now=now, until=until, limit=10) == []
    # worker-a died: after the claim runs out, worker-b takes the rows over.
    later = until + timedelta(seconds=1)
    assert repo.claim(session, "worker-b", now=later, until=later + timedelta(60), limit=10) == first
    session.commit()
    assert not repo.finish(session, first[0], "worker-a", sent_at=later)  # a lost claim records nothing


def test_two_senders_at_once_send_every_notification_exactly_once(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    with_email(session, alice)
    queue_failures(session, alice, clock, 40)
    mailer = FakeMailer(delay_s=0.002)
    barrier = threading.Barrier(2)
    results: list[sender.SendResult] = []

    def sender(name: str) -> None:
        barrier.wait()
        while (
            r := run_pending(session_factory, Channels(mailer=mailer), clock=clock, holder=name, limit=5)
        ).sent:
            results.append(r)

    threads = [threading.Thread(target=sender, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    bodies = [body for _, _, body in mailer.sent]
    assert len(bodies) == 40 and len(set(bodies)) == 40
    assert sum(r.sent for r in results) == 40
    assert all(r.sent_at is not None and r.attempts == 1 for r in queued_rows(session))


# --- webhooks: signature, URLs -------------------------------------------------------------------
def test_webhook_deliveries_are_signed_over_timestamp_and_body(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    created = outbox.add_webhook(
        session, alice, url="https://hooks.example.org/in", dev_mode=False, clock=clock, sealer=SEALER
    )
    [job_id] = queue_failures(session, alice, clock, 1)
    poster = FakeWebhookPoster()
    channels = Channels(webhooks=poster, webhook_secrets=SEALER)
    assert run_pending(session_factory, channels, clock=clock).sent == 1
    [(url, body, headers)] = poster.posted
    assert url == "https://hooks.example.org/in"
    timestamp = headers["X-Myriagate-Timestamp"]
    assert int(timestamp) == int(clock.now().timestamp())
    expected = hmac.new(created.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert headers["X-Myriagate-Signature"] == "sha256=" + expected.hexdigest()
    document = json.loads(body)
    assert document["kind"] == "job_failed" and document["data"]["job_id"] == str(job_id)
    now = clock.now().timestamp()
    sig = headers["X-Myriagate-Signature"]
    assert verify(created.secret, timestamp=timestamp, body=body, signature=sig, now=now)
    assert not verify(created.secret, timestamp=timestamp, body=body + b" ", signature=sig, now=now)
    assert not verify("another-secret", timestamp=timestamp, body=body, signature=sig, now=now)
    # Replayed ten minutes later: refused by the timestamp, and it cannot be re-signed.
    assert not verify(created.secret, timestamp=timestamp, body=body, signature=sig, now=now + 600)
    assert not verify(created.secret, timestamp=str(int(now) + 600), body=body, signature=sig, now=now + 600)
    assert sign(created.secret, int(timestamp), body) == sig


def test_webhook_secret_is_stored_sealed_never_in_clear(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    """Whoever reads the database (a backup, a readable SQLite file) cannot sign."""
    created = outbox.add_webhook(
        session, alice, url="https://hooks.example.org/in", dev_mode=False, clock=clock, sealer=SEALER
    )
    with session_factory() as raw_reader:
        row = raw_reader.execute(sa.text("SELECT * FROM webhooks")).mappings().one()
    assert not any(created.secret in str(value) for value in row.values())
    stored = row["secret"]
    assert SEALER.unseal(stored) == created.secret
    with pytest.raises(ConfigError, match="MYRIAGATE_SECRET_KEY"):
        SecretSealer.for_webhooks("another-secret-key").unseal(stored)
    # Sealed afresh each time: two webhooks never share a stored value, even for one secret.
    assert SEALER.seal(created.secret) != SEALER.seal(created.secret)


def test_a_changed_secret_key_abandons_webhook_deliveries_with_a_clear_error(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    """A rotated MYRIAGATE_SECRET_KEY: nothing is posted unsigned or wrongly signed, each
    delivery is given up once with the reason, and the sender goes on (no crash loop)."""
    outbox.add_webhook(
        session, alice, url="https://hooks.example.org/in", dev_mode=False, clock=clock, sealer=SEALER
    )
    queue_failures(session, alice, clock, 2)
    poster = FakeWebhookPoster()
    rotated = Channels(webhooks=poster, webhook_secrets=SecretSealer.for_webhooks("rotated-secret-key"))
    result = run_pending(session_factory, rotated, clock=clock)
    assert (result.sent, result.retried, result.abandoned) == (0, 0, 2)
    assert poster.posted == []
    for row in queued_rows(session):
        assert row.abandoned_at is not None and row.next_attempt_at is None
        assert row.last_error is not None
        assert "cannot be decrypted with this MYRIAGATE_SECRET_KEY" in row.last_error
        assert "delete the webhook and add it again" in row.last_error
    clock.advance(HOUR)
    assert run_pending(session_factory, rotated, clock=clock) == sender.SendResult()


def test_deleting_a_webhook_drops_its_pending_deliveries(
    session_factory: sessionmaker[Session], session: Session, alice: User, clock: FakeClock
) -> None:
    created = outbox.add_webhook(
        session, alice, url="https://hooks.example.org/in", dev_mode=False, clock=clock, sealer=SEALER
    )
    queue_failures(session, alice, clock, 2)
    outbox.delete_webhook(session, alice, created.webhook.id, clock=clock)
    assert queued_rows(session) == []
    with pytest.raises(Exception, match="no webhook"):
        outbox.delete_webhook(session, alice, created.webhook.id, clock=clock)


BAD_URLS = [
    "http://hooks.example.org/in",  # plain http outside dev mode
    "ftp://hooks.example.org/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "javascript:alert(1)",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://localhost/",
    "https://10.0.0.5/",
    "https://192.168.1.1/",
    "https://172.16.0.1/",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://2130706433/",  # 127.0.0.1 as one number
    "https://0x7f.1/",
    "https://017700000001/",
    "https://127.1/",
    "https://metadata.google.internal/",
    "https://user:pass@hooks.example.org/",
    "https://hooks.example.org@169.254.169.254/",
    "https://hooks.example.org:0/",
    "https://hooks.example.org:99999/",
    "https:///nohost",
    "https://hooks.example.org/a b",
    "https://hooks.example.org/\r\nX-Injected: 1",
    "https://hooks.example.org/#frag",
    "https://-bad-.example.org/",
    "https://" + "a" * 2100 + ".org/",
    "",
]


@pytest.mark.parametrize("url", BAD_URLS + [f"https://{h}/" for h in HOSTILE_STRINGS])
def test_hostile_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest):
        check_url(url, dev_mode=False)


def test_dev_mode_allows_http_and_loopback_but_never_link_local() -> None:
    assert check_url("http://127.0.0.1:8080/hook", dev_mode=True)
    assert check_url("http://localhost:8080/hook", dev_mode=True)
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/", "http://127.1/"):
        with pytest.raises(InvalidRequest):
            check_url(url, dev_mode=True)


def test_a_host_resolving_to_a_metadata_address_is_refused_at_delivery_without_a_request() -> None:
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["93.184.216.34", "169.254.169.254"]  # one public, one metadata: refused

    poster = HttpWebhookPoster(resolver=resolver, timeout_s=0.5)
    with pytest.raises(DeliveryFailed) as info:
        poster.post("https://innocent.example.org/hook", b"{}", {})
    assert not info.value.transient and "169.254.169.254" in info.value.detail
    assert resolved == ["innocent.example.org"]


# --- e-mail text ----------------------------------------------------------------------------------
def test_subject_is_clear_and_bilingual_and_values_cannot_add_lines() -> None:
    payload = {
        "slurm_job_id": "1234",
        "job_name": "climate-run",
        "cluster": "myria",
        "state": "completed",
        "exit_code": 0,
        "job_id": str(uuid.uuid4()),
    }
    message = render(NotificationKind.JOB_FINISHED, payload)
    assert message.subject == "[myriagate] Job 1234 (climate-run) finished / terminé"
    assert "Tâche 1234 (climate-run) sur myria : terminé." in message.body
    assert "Job 1234 (climate-run) on myria finished." in message.body
    assert message.body.index("Tâche") < message.body.index("Job 1234")  # French first
    assert (
        render(NotificationKind.JOB_FINISHED, payload, "en").subject
        == "[myriagate] Job 1234 (climate-run) finished"
    )
    evil = render(NotificationKind.JOB_FAILED, payload | {"job_name": "x\r\nBcc: all@criann.fr\n\nfake"})
    assert "\n" not in evil.subject and "\r" not in evil.subject
    assert "\nBcc:" not in evil.body


# --- allocation events -------------------------------------------------------------------------
def make_allocation(session: Session, clock: FakeClock, core_hours: int) -> tuple[uuid.UUID, User, User]:
    """caen-climat with an allocation of ``core_hours`` in the current period; its lead and a member."""
    projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
    project = projects_repo.add_project(
        session,
        cluster=CLUSTER,
        slurm_account="caen-climat",
        institution="unicaen",
        created_at=clock.now(),
        name="Climat",
    )
    lead = users_repo.add(
        session,
        username="lea@unicaen.fr",
        cluster_login="lea",
        created_at=clock.now(),
        email="lea@unicaen.fr",
    )
    users_repo.add_membership(
        session, lead, cluster=CLUSTER, slurm_account="caen-climat", role=MembershipRole.PROJECT_LEAD
    )
    member = users_repo.add(
        session,
        username="max@unicaen.fr",
        cluster_login="max",
        created_at=clock.now(),
        email="max@unicaen.fr",
    )
    users_repo.add_membership(session, member, cluster=CLUSTER, slurm_account="caen-climat")
    period = allocations_repo.create_period(
        session,
        cluster=CLUSTER,
        name="2026",
        starts_at=clock.now() - timedelta(days=5),
        ends_at=clock.now() + timedelta(days=360),
    )
    allocation = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=period.id, created_at=clock.now()
    )
    SqlLedger(session, clock=clock).grant(
        allocation.id,
        Cost(core_hours * HOUR, 0),
        author="admin@unicaen.fr",
        reason="annual grant",
        enforce_quota=False,
    )
    session.commit()
    return allocation.id, lead, member


def kinds_to(session: Session, user: User) -> list[NotificationKind]:
    return [r.kind for r in queued_rows(session) if r.user_id == user.id]


def test_balance_levels_are_told_once_each_to_the_leads(session: Session, clock: FakeClock) -> None:
    allocation_id, lead, member = make_allocation(session, clock, core_hours=1000)
    ledger = SqlLedger(session, clock=clock)
    balance_watch.check(session, clock=clock)
    session.commit()
    assert kinds_to(session, lead) == [NotificationKind.GRANT_CHANGED]  # a new allocation: its grant is news
    ledger.hold(allocation_id=allocation_id, job_id=uuid.uuid4(), amount=Cost(850 * HOUR, 0))  # 15 % left
    balance_watch.check(session, clock=clock)
    balance_watch.check(session, clock=clock)  # nothing new: nothing queued
    session.commit()
    assert kinds_to(session, lead) == [NotificationKind.GRANT_CHANGED, NotificationKind.BALANCE_BELOW_20]
    small = uuid.uuid4()
    ledger.hold(allocation_id=allocation_id, job_id=small, amount=Cost(100 * HOUR, 0))  # 5 % left
    balance_watch.check(session, clock=clock)
    ledger.release(job_id=small)  # back to 15 %, then down to 5 % again: no repeat
    balance_watch.check(session, clock=clock)
    ledger.hold(allocation_id=allocation_id, job_id=uuid.uuid4(), amount=Cost(100 * HOUR, 0))
    balance_watch.check(session, clock=clock)
    ledger.hold(allocation_id=allocation_id, job_id=uuid.uuid4(), amount=Cost(50 * HOUR, 0))  # nothing left
    balance_watch.check(session, clock=clock)
    session.commit()
    assert kinds_to(session, lead) == [
        NotificationKind.GRANT_CHANGED,
        NotificationKind.BALANCE_BELOW_20,
        NotificationKind.BALANCE_BELOW_10,
        NotificationKind.BALANCE_EXHAUSTED,
    ]
    assert kinds_to(session, member) == []  # members are not mailed about the budget
    exhausted = queued_rows(session)[-1]
    assert exhausted.payload["remaining_core_seconds"] == 0
    assert (
        render(exhausted.kind, exhausted.payload).subject
        == "[myriagate] Allocation caen-climat (devcluster, 2026) exhausted / épuisée"
    )


def test_a_top_up_is_told_and_rearms_the_levels(session: Session, clock: FakeClock) -> None:
    allocation_id, lead, _ = make_allocation(session, clock, core_hours=100)
    ledger = SqlLedger(session, clock=clock)
    ledger.hold(allocation_id=allocation_id, job_id=uuid.uuid4(), amount=Cost(95 * HOUR, 0))
    balance_watch.check(session, clock=clock)
    ledger.grant(
        allocation_id, Cost(100 * HOUR, 0), author="admin@unicaen.fr", reason="top-up", enforce_quota=False
    )  # 105 of 200 left: above every level
    balance_watch.check(session, clock=clock)
    ledger.hold(allocation_id=allocation_id, job_id=uuid.uuid4(), amount=Cost(90 * HOUR, 0))  # 7.5 %
    balance_watch.check(session, clock=clock)
    session.commit()
    assert kinds_to(session, lead) == [
        NotificationKind.GRANT_CHANGED,
        NotificationKind.BALANCE_BELOW_10,
        NotificationKind.GRANT_CHANGED,
        NotificationKind.BALANCE_BELOW_10,
    ]
    top_up = queued_rows(session)[2]
    assert top_up.payload["previous_core_seconds"] == 100 * HOUR
    assert top_up.payload["granted_core_seconds"] == 200 * HOUR
    assert [c["reason"] for c in top_up.payload["changes"]] == ["top-up"]
    body = render(top_up.kind, top_up.payload).body
    assert "CPU-hours granted: 100 → 200" in body and "Heures CPU attribuées : 100 → 200" in body


def test_allocations_of_past_periods_and_old_grants_are_not_news(session: Session, clock: FakeClock) -> None:
    _, lead, _ = make_allocation(session, clock, core_hours=100)
    clock.advance(2 * 86400)  # the watch starts two days after the grant: no "grant changed" flood
    balance_watch.check(session, clock=clock)
    session.commit()
    assert kinds_to(session, lead) == []


@pytest.mark.parametrize(
    ("granted", "remaining", "level"),
    [
        ((100, 0), (20, 0), 100),
        ((100, 0), (19, 0), 20),
        ((100, 0), (10, 0), 20),
        ((100, 0), (9, 0), 10),
        ((100, 0), (0, 0), 0),
        ((100, 50), (90, 4), 10),
        ((0, 0), (0, 0), 100),
        ((3, 0), (1, 0), 100),
    ],
)
def test_balance_level_boundaries(granted: tuple[int, int], remaining: tuple[int, int], level: int) -> None:
    assert balance_level(granted, remaining) == level


def test_jobs_table_untouched_by_a_notice_failure_free_move(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    """The hook adds rows only: the job's move and its history are as before."""
    job = submit(session, backends, alice, clock)
    assert transitions.move(session, job, JobState.RUNNING, at=clock.now())
    assert not transitions.move(session, job, JobState.PENDING, at=clock.now())  # never backwards
    session.commit()
    fresh: Job = reload(session, job)
    assert fresh.state is JobState.RUNNING


def test_a_change_of_preferences_or_webhooks_applies_to_the_next_event_in_the_same_session(
    session: Session, alice: User, clock: FakeClock, backends: FakeSlurmBackendFactory
) -> None:
    """Preferences are read once per transaction (a tick may ask a thousand times), never staler."""
    with_email(session, alice)
    first, second, third = (submit(session, backends, alice, clock) for _ in range(3))
    transitions.move(session, first, JobState.FAILED, at=clock.now())
    session.commit()
    outbox.set_preferences(session, alice, {NotificationKind.JOB_FAILED: {"email": False}}, clock=clock)
    hook = outbox.add_webhook(
        session, alice, url="https://hooks.example.org/x", dev_mode=False, clock=clock, sealer=SEALER
    )
    transitions.move(session, second, JobState.FAILED, at=clock.now())
    session.rollback()  # this move is abandoned: no notice either
    transitions.move(session, third, JobState.FAILED, at=clock.now())
    session.commit()
    assert [(r.payload["job_id"], r.target) for r in queued_rows(session)] == [
        (str(first.id), "email"),
        (str(third.id), f"webhook:{hook.webhook.id}"),
    ]
