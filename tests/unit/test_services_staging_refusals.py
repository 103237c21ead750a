"""Staging refusals, below the web layer. The domain's rules for store values, paths
that can be stored and escaped audit values; the worker auditing a path the stager refused
as unsafe (FakeStager raising the UnsafeValue the OpenSSH stager's far side reports)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import AuditEvent, Job, UploadFile, User
from myriagate.domain.staging import escaped, is_reserved, output_pattern, storable_path, store_refusal
from myriagate.domain.states import JobState
from myriagate.errors import UnsafeValue
from myriagate.profiles.models import ClusterProfile
from myriagate.services.staging import uploads
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.staging.step import run_pending
from myriagate.staging.outcomes import helper_error
from myriagate.staging.remote_helper import HelperError
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.unit import test_services_staging as services_staging
from tests.unit.test_services_staging import submit, upload_files

profile = services_staging.profile
stager = services_staging.stager
spool = services_staging.spool
ctx = services_staging.ctx


# --- domain ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10.0.0.5", "ip_literal"),
        ("10.0.0.5:22", "ip_literal"),
        ("::1", "ip_literal"),
        ("[fe80::1%eth0]:22", "ip_literal"),
        ("sftp://[2001:db8::1]/srv", "ip_literal"),
        ("sftp://user@192.168.1.1:2223/x", "ip_literal"),
        ("127.1", "ip_literal"),
        ("0x7f.0.0.1", "ip_literal"),
        ("2130706433", "ip_literal"),
        ("sftp://evil.example/x", "host_not_configured"),
        ("paris.example.org", "host_not_configured"),
        ("storage:2223", "host_not_configured"),
        ("user@caen", "host_not_configured"),
        ("file:///etc", "host_not_configured"),
        ("lyon", "unknown_endpoint"),
        ("caen2", "unknown_endpoint"),
        ("", "unknown_endpoint"),
    ],
)
def test_store_refusal_tells_an_address_a_host_and_an_unknown_name_apart(value: str, reason: str) -> None:
    assert store_refusal(value) == reason


def test_escaped_values_cannot_break_a_line_or_open_markup() -> None:
    assert escaped("caen") == "caen"
    assert escaped("Évreux ü") == "Évreux ü"  # printable text is kept
    assert escaped("a\nb\r\x00\x1b[31m") == "a\\x0ab\\x0d\\x00\\x1b[31m"
    assert escaped("\x85\u2028\u202e") == "\\x85\\u2028\\u202e"  # C1, line separator, bidi override
    assert escaped("<a href='x'>&\"`\\") == "\\x3ca href=\\x27x\\x27\\x3e\\x26\\x22\\x60\\x5c"
    assert escaped("\U000e0041") == "\\U000e0041"  # a tag character (format)
    long = escaped("x" * 5000)
    assert len(long) == 513 and long.endswith("…")


@pytest.mark.parametrize(
    "value",
    [
        ".myriagate/x", ".MYRIAGATE", ".MyriaGate/partial/ab/cd", "a//b", "a/", "../x", "/etc/passwd",
        "a\x00b", "a\x7fb", "a\x85b", "a\x9bb", "a\nb", "a\u2028b", "a\u2029b", "x" * 256,
        "é" * 513, "a/" * 512 + "b", "~/x", "-rf", "a\\b", "", ".", "a/./b",
    ],
)  # fmt: skip
def test_names_that_cannot_be_stored(value: str) -> None:
    with pytest.raises(UnsafeValue):
        storable_path(value, "file path")


@pytest.mark.parametrize(
    "value", ["data/input.csv", "x" * 255, ".myriagatex", "a/.myriagate/b", "é/ü ö.h5", "a b/c;d'e\"f"]
)
def test_names_that_can_be_stored(value: str) -> None:
    assert storable_path(value) == value


def test_output_patterns_refuse_the_reserved_prefix_and_every_control_character() -> None:
    assert output_pattern("results//*.h5") == "results/*.h5"  # patterns are still normalised
    for bad in (".myriagate/*", ".MyriaGate/**", "out/\x85*", "a\u2028*"):
        with pytest.raises(UnsafeValue):
            output_pattern(bad)
    assert is_reserved(".myriagate") and is_reserved(".MYRIAGATE/x") and not is_reserved("a/.myriagate")


# --- uploads (service) ---------------------------------------------------------------
@pytest.mark.parametrize("path", [".myriagate/manifest.json", ".MyriaGate/x", "a//b", "a/b/", "c1\x85x"])
def test_an_upload_name_that_cannot_be_stored_writes_nothing(
    session: Session, alice: User, clock: FakeClock, spool: Path, path: str
) -> None:
    upload = uploads.create_upload(session, user=alice, at=clock.now())
    with pytest.raises(UnsafeValue):
        uploads.open_file(session, upload_id=upload.id, path=path, user=alice, spool_dir=spool, max_bytes=10)
    assert not spool.exists() or not any(p.is_file() for p in spool.rglob("*"))
    assert session.scalar(sa.select(sa.func.count()).select_from(UploadFile)) == 0


# --- the worker ------------------------------------------------------------------------
def refused(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staging.refused")))


def test_a_path_the_stager_refuses_as_unsafe_fails_the_job_and_is_audited_once(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"data/in.csv": b"1,2\n"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )
    assert job.state is JobState.STAGING_IN
    # What the OpenSSH stager raises when the far side finds a link where a directory should be.
    unsafe = helper_error(
        HelperError("unsafe", "data", "'data' is a symlink or not a directory"),
        "alice@127.0.0.1:2222", "/home/alice", {},
    )  # fmt: skip
    assert isinstance(unsafe, UnsafeValue)
    stager.failures.append(unsafe)
    run_pending(ctx)

    session.expire_all()
    failed = session.get(Job, job.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.reason is not None and "symlink" in failed.reason
    (event,) = refused(session)
    assert event.actor == "worker" and event.source == "worker"
    assert (event.target_type, event.target_id) == ("job", str(job.id))
    assert event.detail["reason"] == "unsafe_path" and event.detail["value"] == "data"
    assert event.detail["what"] == "stage-in"
    assert "symlink" in event.detail["detail"] and "\\x27data\\x27" in event.detail["detail"]
    actions = set(session.scalars(sa.select(AuditEvent.action)))
    assert "job.stage_in_failed" in actions
    run_pending(ctx)  # nothing left to do: the refusal is not recorded twice
    assert len(refused(session)) == 1


def test_an_unsafe_refusal_without_a_known_path_is_audited_with_its_message(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"in.csv": b"1"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )
    stager.failures.append(UnsafeValue("'in.csv' leads outside its root\nforged line"))
    run_pending(ctx)
    (event,) = refused(session)
    assert event.detail["value"] == "\\x27in.csv\\x27 leads outside its root\\x0aforged line"
    assert event.target_id == str(job.id)
