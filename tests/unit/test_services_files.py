"""The file use cases (issue #17) with a fake cluster: they act as the caller's own login, check
paths before anything reaches the cluster, page with cursors, bound previews and ranges."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from myriagate.db.models.users import User
from myriagate.domain.files import SortKey
from myriagate.errors import InvalidRequest, NotFound, PermissionDenied, UnsafeValue
from myriagate.profiles.models import ClusterProfile
from myriagate.services.files.browser import MAX_PREVIEW_BYTES, FileBrowser
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.fakes.profiles import dev_profile


def _user(login: str) -> User:
    return cast(User, SimpleNamespace(cluster_login=login))


ALICE, BOB = _user("alice"), _user("bob")


@pytest.fixture
def fake() -> FakeClusterFilesFactory:
    fake = FakeClusterFilesFactory()
    tree = fake.tree("alice")
    tree.files.update(
        {
            b"run1/out.txt": b"line 1\nline 2\n",
            b"run1/big.log": "é".encode() * 1000,
            b"run1/a.bin": b"ELF\x00\x01",
            b"run1/empty": b"",
            b"notes.md": b"# notes\n",
        }
    )
    tree.links[b"escape"] = b"/etc"
    return fake


@pytest.fixture
def browser(fake: FakeClusterFilesFactory) -> FileBrowser:
    profile = dev_profile()

    def profile_of(name: str | None) -> ClusterProfile:
        if name not in (None, profile.name):
            raise NotFound(f"unknown cluster {name!r}")
        return profile

    return FileBrowser(profile=profile_of, files_for=lambda _cluster: fake)


def test_areas_are_the_profiles_with_the_callers_login_filled_in(browser: FileBrowser) -> None:
    areas = {a.name: a for a in browser.areas(ALICE, "devcluster")}
    assert areas["scratch"].root == "/scratch/alice"
    assert areas["home"].root == "~"
    assert {a.name: a.root for a in browser.areas(BOB, "devcluster")}["scratch"] == "/scratch/bob"


def test_every_operation_runs_as_the_callers_own_login_in_its_area_root(
    browser: FileBrowser, fake: FakeClusterFilesFactory
) -> None:
    browser.list(ALICE, "devcluster", "scratch", "")
    browser.stat(ALICE, "devcluster", "home", "notes.md")
    browser.preview(ALICE, "devcluster", "home", "notes.md")
    browser.download(ALICE, "devcluster", "home", "notes.md").close()
    assert fake.calls == [
        ("alice", "list", "/scratch/alice", b""),
        ("alice", "stat", "{home}", b"notes.md"),
        ("alice", "read", "{home}", b"notes.md"),
        ("alice", "download", "{home}", b"notes.md"),
    ]
    with pytest.raises(NotFound):  # bob's own (empty) tree: alice's files are not his
        browser.stat(BOB, "devcluster", "home", "notes.md")
    assert fake.calls[-1][0] == "bob"


@pytest.mark.parametrize("path", ["../bob", "/etc/passwd", "a\nb", "x\x00", "a/./b", "n" * 300])
def test_a_bad_path_is_refused_before_anything_reaches_the_cluster(
    browser: FileBrowser, fake: FakeClusterFilesFactory, path: str
) -> None:
    for call in (
        lambda: browser.list(ALICE, "devcluster", "home", path),
        lambda: browser.stat(ALICE, "devcluster", "home", path),
        lambda: browser.preview(ALICE, "devcluster", "home", path),
        lambda: browser.download(ALICE, "devcluster", "home", path),
    ):
        with pytest.raises(UnsafeValue):
            call()
    assert fake.calls == []


def test_an_unknown_area_or_cluster_is_not_found_and_names_the_known_areas(
    browser: FileBrowser, fake: FakeClusterFilesFactory
) -> None:
    with pytest.raises(NotFound, match="its areas: home, scratch"):
        browser.list(ALICE, "devcluster", "project", "")
    with pytest.raises(NotFound):
        browser.list(ALICE, "nowhere", "home", "")
    assert fake.calls == []


def test_pages_follow_their_cursor_to_the_end(browser: FileBrowser, fake: FakeClusterFilesFactory) -> None:
    fake.tree("alice").files.update({f"many/{i:02d}".encode(): b"x" * i for i in range(25)})
    seen: list[str] = []
    cursor = None
    while True:
        page = browser.list(
            ALICE, "devcluster", "home", "many", sort=SortKey.SIZE, descending=True, limit=10, cursor=cursor
        )
        assert page.total == 25
        seen += [e.path.decode() for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"many/{i:02d}" for i in reversed(range(25))]
    with pytest.raises(InvalidRequest):  # a cursor is bound to its sort order
        browser.list(
            ALICE, "devcluster", "home", "many", sort=SortKey.NAME, limit=10, cursor=page_cursor(browser)
        )
    for limit in (0, 10_001):
        with pytest.raises(InvalidRequest):
            browser.list(ALICE, "devcluster", "home", "many", limit=limit)


def page_cursor(browser: FileBrowser) -> str:
    page = browser.list(ALICE, "devcluster", "home", "many", sort=SortKey.SIZE, limit=1)
    assert page.next_cursor is not None
    return page.next_cursor


def test_the_clusters_refusals_pass_through(browser: FileBrowser, fake: FakeClusterFilesFactory) -> None:
    fake.tree("alice").refuse[b"run1"] = PermissionDenied("the cluster does not let your login read 'run1'")
    with pytest.raises(PermissionDenied):
        browser.list(ALICE, "devcluster", "home", "run1")
    with pytest.raises(UnsafeValue):
        browser.list(ALICE, "devcluster", "home", "escape")


def test_previews_are_bounded_text_from_the_head_or_the_tail(browser: FileBrowser) -> None:
    head = browser.preview(ALICE, "devcluster", "home", "run1/out.txt", max_bytes=8)
    assert (head.text, head.truncated, head.offset, head.size_bytes) == ("line 1\nl", True, 0, 14)
    tail = browser.preview(ALICE, "devcluster", "home", "run1/big.log", end="tail", max_bytes=7)
    # 'é' is two bytes: the one cut by the start of the tail is dropped, not shown as garbage.
    assert tail.text == "ééé" and tail.offset == 2000 - 7
    cut = browser.preview(ALICE, "devcluster", "home", "run1/big.log", max_bytes=5)
    assert cut.text == "éé"
    empty = browser.preview(ALICE, "devcluster", "home", "run1/empty")
    assert (empty.text, empty.size_bytes, empty.truncated) == ("", 0, False)
    with pytest.raises(InvalidRequest, match="binary data"):
        browser.preview(ALICE, "devcluster", "home", "run1/a.bin")
    with pytest.raises(InvalidRequest, match="download the file"):
        browser.preview(ALICE, "devcluster", "home", "run1/out.txt", max_bytes=MAX_PREVIEW_BYTES + 1)
    with pytest.raises(InvalidRequest, match="name a file"):
        browser.preview(ALICE, "devcluster", "home", "")


def test_downloads_serve_one_range_and_drop_it_for_a_date_if_range(browser: FileBrowser) -> None:
    part = browser.download(ALICE, "devcluster", "home", "run1/out.txt", range_header="bytes=7-")
    assert part.ranged and b"".join(part.chunks()) == b"line 2\n"
    dated = browser.download(
        ALICE,
        "devcluster",
        "home",
        "run1/out.txt",
        range_header="bytes=7-",
        if_range="Sat, 05 Dec 2026 09:00:00 GMT",
    )
    assert not dated.ranged and b"".join(dated.chunks()) == b"line 1\nline 2\n"
    several = browser.download(ALICE, "devcluster", "home", "run1/out.txt", range_header="bytes=0-1,4-5")
    assert not several.ranged  # one range only: the whole file, as RFC 9110 allows
