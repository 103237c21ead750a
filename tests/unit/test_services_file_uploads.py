"""The upload use cases (issue #17) over a fake cluster: as the caller's own login, paths and
sizes checked before anything reaches the cluster, a read-only area refused, tickets that
cannot be forged, reused by another login, or kept past their expiry, parts resumed from the
offset the cluster holds."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import cast

import pytest

from myriagate.db.models.users import User
from myriagate.domain.file_uploads import (
    TICKET_TTL_S,
    InsufficientStorage,
    UploadOffsetMismatch,
    read_ticket,
    ticket_key,
)
from myriagate.errors import (
    AlreadyExists,
    ChecksumMismatch,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    UnsafeValue,
)
from myriagate.profiles.file_areas import FileArea
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.uploads import FileUploads
from tests.fakes.fake_cluster_uploads import FakeClusterUploadsFactory
from tests.fakes.profiles import dev_profile

ALICE = cast(User, SimpleNamespace(cluster_login="alice"))
BOB = cast(User, SimpleNamespace(cluster_login="bob"))
KEY = ticket_key("test-secret")


@pytest.fixture
def fake() -> FakeClusterUploadsFactory:
    return FakeClusterUploadsFactory(free_bytes=10_000)


def _profile() -> ClusterProfile:
    profile = dev_profile()
    readonly = FileArea(
        name="shared", root="/shared/{login}", writable=False, label="Shared", label_fr="Partagé"
    )
    files = profile.files.model_copy(update={"areas": (*profile.files.areas, readonly)})
    return profile.model_copy(update={"files": files})


@pytest.fixture
def clock() -> list[float]:
    return [1_800_000_000.0]


@pytest.fixture
def uploads(fake: FakeClusterUploadsFactory, clock: list[float]) -> FileUploads:
    profile = _profile()
    return FileUploads(
        profile=lambda _name: profile,
        uploads_for=lambda _cluster: fake,
        key=KEY,
        max_bytes=1 << 30,
        now=lambda: clock[0],
    )


def test_an_upload_in_two_parts_is_placed_as_the_callers_login(
    uploads: FileUploads, fake: FakeClusterUploadsFactory
) -> None:
    data = b"0123456789" * 100
    state = uploads.start(
        ALICE,
        "devcluster",
        "scratch",
        "run1/in.dat",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert state.offset == 0 and state.ticket.path == b"run1/in.dat"
    _, writer = uploads.open_append(ALICE, "devcluster", "scratch", state.id, offset=0)
    writer.write(data[:300])
    assert writer.finish().offset == 300 and not fake.files.tree("alice").files
    assert uploads.status(ALICE, "devcluster", "scratch", state.id).offset == 300
    _, writer = uploads.open_append(ALICE, "devcluster", "scratch", state.id, offset=300)
    writer.write(data[300:])
    done = writer.finish()
    assert done.complete and done.sha256 == hashlib.sha256(data).hexdigest()
    assert fake.files.tree("alice").files[b"run1/in.dat"] == data
    assert {(login, root) for login, _op, root, _path in fake.calls} == {("alice", "/scratch/alice")}


def test_a_part_from_another_offset_is_refused_with_the_one_held(uploads: FileUploads) -> None:
    state = uploads.start(ALICE, "devcluster", "home", "a.txt", size_bytes=10)
    _, writer = uploads.open_append(ALICE, "devcluster", "home", state.id, offset=0)
    writer.write(b"abc")
    writer.finish()
    with pytest.raises(UploadOffsetMismatch) as caught:
        uploads.open_append(ALICE, "devcluster", "home", state.id, offset=0)
    assert caught.value.extensions["offset"] == 3 and caught.value.http_status == 409
    with pytest.raises(InvalidRequest):
        uploads.open_append(ALICE, "devcluster", "home", state.id, offset=11)


@pytest.mark.parametrize(
    ("path", "error"),
    [("../bob/x", UnsafeValue), ("/etc/passwd", UnsafeValue), ("a\nb", UnsafeValue), ("", InvalidRequest),
     ("d/.myriagate-upload-0123.part", UnsafeValue), ("x" * 256, UnsafeValue)],
)  # fmt: skip
def test_bad_targets_are_refused_before_any_call(
    uploads: FileUploads, fake: FakeClusterUploadsFactory, path: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        uploads.start(ALICE, "devcluster", "home", path, size_bytes=1)
    assert fake.calls == []


def test_sizes_and_checksums_out_of_shape_are_refused(
    uploads: FileUploads, fake: FakeClusterUploadsFactory
) -> None:
    with pytest.raises(InvalidRequest):
        uploads.start(ALICE, "devcluster", "home", "x", size_bytes=-1)
    with pytest.raises(InvalidRequest):
        uploads.start(ALICE, "devcluster", "home", "x", size_bytes=(1 << 30) + 1)
    with pytest.raises(InvalidRequest):
        uploads.start(ALICE, "devcluster", "home", "x", size_bytes=1, sha256="$(id)")
    assert fake.calls == []


def test_a_read_only_area_and_an_unknown_one_are_refused(
    uploads: FileUploads, fake: FakeClusterUploadsFactory
) -> None:
    with pytest.raises(PermissionDenied, match="read-only"):
        uploads.start(ALICE, "devcluster", "shared", "x", size_bytes=1)
    with pytest.raises(NotFound):
        uploads.start(ALICE, "devcluster", "nowhere", "x", size_bytes=1)
    assert fake.calls == []


def test_an_existing_file_is_kept_unless_asked_and_a_full_disk_refuses_early(
    uploads: FileUploads, fake: FakeClusterUploadsFactory
) -> None:
    fake.files.tree("alice").files[b"kept.txt"] = b"old"
    with pytest.raises(AlreadyExists):
        uploads.start(ALICE, "devcluster", "home", "kept.txt", size_bytes=3)
    state = uploads.start(ALICE, "devcluster", "home", "kept.txt", size_bytes=3, overwrite=True)
    _, writer = uploads.open_append(ALICE, "devcluster", "home", state.id, offset=0)
    writer.write(b"new")
    assert writer.finish().complete and fake.files.tree("alice").files[b"kept.txt"] == b"new"
    with pytest.raises(InsufficientStorage) as caught:
        uploads.start(ALICE, "devcluster", "home", "huge.bin", size_bytes=20_000)
    assert caught.value.http_status == 507


def test_a_wrong_checksum_keeps_nothing(uploads: FileUploads, fake: FakeClusterUploadsFactory) -> None:
    state = uploads.start(ALICE, "devcluster", "home", "x.bin", size_bytes=3, sha256="0" * 64)
    _, writer = uploads.open_append(ALICE, "devcluster", "home", state.id, offset=0)
    writer.write(b"abc")
    with pytest.raises(ChecksumMismatch):
        writer.finish()
    assert b"x.bin" not in fake.files.tree("alice").files and not fake.partials["alice"]


def test_tickets_cannot_be_altered_reused_by_another_login_or_kept_past_expiry(
    uploads: FileUploads, fake: FakeClusterUploadsFactory, clock: list[float]
) -> None:
    state = uploads.start(ALICE, "devcluster", "home", "x.bin", size_bytes=3)
    version, payload, mac = state.id.split(".")
    forged = f"{version}.{payload[:-2]}AA.{mac}"
    calls = len(fake.calls)
    others = [
        (forged, ALICE, "home"),
        (state.id, BOB, "home"),
        (state.id, ALICE, "scratch"),
        ("x", ALICE, "home"),
    ]
    for upload_id, user, area in others:
        with pytest.raises(NotFound):
            uploads.status(user, "devcluster", area, upload_id)
    assert len(fake.calls) == calls
    assert read_ticket(KEY, state.id, now=clock[0]).login == "alice"
    clock[0] += TICKET_TTL_S
    with pytest.raises(NotFound, match="expired"):
        uploads.open_append(ALICE, "devcluster", "home", state.id, offset=0)


def test_cancel_removes_the_partial_data(uploads: FileUploads, fake: FakeClusterUploadsFactory) -> None:
    state = uploads.start(ALICE, "devcluster", "home", "x.bin", size_bytes=3)
    uploads.cancel(ALICE, "devcluster", "home", state.id)
    assert fake.partials["alice"] == {}
    with pytest.raises(NotFound):
        uploads.status(ALICE, "devcluster", "home", state.id)
