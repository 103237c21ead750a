"""The file write use cases (issue #17) over the fake cluster: they act as the caller's own
login, refuse a read-only area and a bad path before anything reaches the cluster, and bound
the disk-usage walk."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from myriagate.db.models.users import User
from myriagate.errors import InvalidRequest, NotFound, PermissionDenied, UnsafeValue
from myriagate.profiles.file_areas import FileArea
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.changes import FileChanges
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.fakes.profiles import dev_profile

ALICE = cast(User, SimpleNamespace(cluster_login="alice"))


@pytest.fixture
def fake() -> FakeClusterFilesFactory:
    fake = FakeClusterFilesFactory()
    fake.tree("alice").files.update({b"run1/out.txt": b"12345", b"run1/sub/x": b"x"})
    return fake


@pytest.fixture
def changes(fake: FakeClusterFilesFactory) -> FileChanges:
    profile = dev_profile()
    shared = FileArea(name="shared", root="/shared", writable=False, label="Shared", label_fr="Partagé")
    profile = profile.model_copy(
        update={"files": profile.files.model_copy(update={"areas": (*profile.files.areas, shared)})}
    )

    def profile_of(name: str | None) -> ClusterProfile:
        if name not in (None, profile.name):
            raise NotFound(f"unknown cluster {name!r}")
        return profile

    return FileChanges(profile=profile_of, files_for=lambda _cluster: fake)


def test_changes_run_as_the_callers_login_in_the_areas_root(
    changes: FileChanges, fake: FakeClusterFilesFactory
) -> None:
    assert changes.make_directory(ALICE, "devcluster", "scratch", "new") == (b"new",)
    assert fake.calls == [("alice", "mkdir", "/scratch/alice", b"new")]
    assert changes.rename(ALICE, "devcluster", "home", "run1/out.txt", "run1/-rf") == b"run1/-rf"
    done = changes.remove(ALICE, "devcluster", "home", "run1", recursive=True)
    assert (done.files, done.size_bytes) == (2, 6)
    assert [c[:2] for c in fake.calls[1:]] == [("alice", "rename"), ("alice", "remove")]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.make_directory(ALICE, "devcluster", "shared", "x"), PermissionDenied),
        (lambda c: c.remove(ALICE, "devcluster", "shared", "x"), PermissionDenied),
        (lambda c: c.copy(ALICE, "devcluster", "shared", "x", "y"), PermissionDenied),
        (lambda c: c.make_directory(ALICE, "devcluster", "nowhere", "x"), NotFound),
        (lambda c: c.make_directory(ALICE, "devcluster", "home", "../x"), UnsafeValue),
        (lambda c: c.rename(ALICE, "devcluster", "home", "run1", "/etc/x"), UnsafeValue),
        (lambda c: c.remove(ALICE, "devcluster", "home", ""), InvalidRequest),
        (lambda c: c.remove(ALICE, "devcluster", "home", "a\nb"), UnsafeValue),
        (lambda c: c.usage(ALICE, "devcluster", "home", "", max_entries=0), InvalidRequest),
        (lambda c: c.usage(ALICE, "devcluster", "home", "", max_seconds=0), InvalidRequest),
        (lambda c: c.glob(ALICE, "devcluster", "home", "r*/x"), InvalidRequest),
    ],
)
def test_refusals_reach_no_cluster(
    changes: FileChanges, fake: FakeClusterFilesFactory, call: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        call(changes)  # type: ignore[operator]
    assert fake.calls == []


def test_reading_a_read_only_area_is_fine(changes: FileChanges, fake: FakeClusterFilesFactory) -> None:
    fake.tree("alice").files[b"f"] = b"abc"
    assert changes.usage(ALICE, "devcluster", "shared", "").files == 3  # the fake: one tree per login
    assert fake.calls[-1] == ("alice", "usage", "/shared", b"")
    assert [e.path for e in changes.glob(ALICE, "devcluster", "shared", "f*").entries] == [b"f"]


def test_an_unknown_area_is_refused_naming_the_areas_as_the_browser_does(
    fake: FakeClusterFilesFactory,
) -> None:
    """One refusal for an unknown area (services.files.browser.file_area), whichever use case."""
    with pytest.raises(NotFound) as raised:
        FileChanges(profile=lambda _name: dev_profile(), files_for=lambda _c: fake).make_directory(
            ALICE, "devcluster", "nosuch", "x"
        )
    assert "no file area 'nosuch' on devcluster (its areas: home, scratch" in str(raised.value.detail)
    bare = dev_profile()
    bare = bare.model_copy(update={"files": bare.files.model_copy(update={"areas": ()})})
    with pytest.raises(NotFound) as raised:
        FileChanges(profile=lambda _name: bare, files_for=lambda _c: fake).rename(
            ALICE, "devcluster", "home", "a", "b"
        )
    assert str(raised.value.detail) == "the cluster devcluster shows no file areas"
    assert fake.calls == []
