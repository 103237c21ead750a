"""Cluster files (issue #17), the pure parts: paths refused before any command, names shown
literally, keyset cursors, byte ranges, the far side's NUL-separated records, area roots."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from myriagate.domain.files import (
    ByteRange,
    FileEntry,
    FileKind,
    SortKey,
    area_path,
    cursor_after,
    display_name,
    is_plain_utf8,
    parse_cursor,
    parse_range,
)
from myriagate.errors import BackendError, InvalidRequest, UnsafeValue
from myriagate.profiles.file_areas import FileArea
from myriagate.staging.cluster_files import parse_entries
from tests.fakes.hostile import HOSTILE_BYTES, HOSTILE_STRINGS


@pytest.mark.parametrize("root", [None, "", ".", "/", "//", "./"])
def test_the_area_root_is_the_empty_path(root: str | None) -> None:
    assert area_path(root) == b""


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../bob", "'..'"),
        ("a/../../etc", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a\nb", "control character"),
        ("a\x00b", "control character"),
        ("a\tb", "control character"),
        ("x" * 1025, "longer than"),
        ("d/" + "n" * 256, "longer than 255 bytes"),
    ],
)
def test_paths_that_could_leave_the_area_or_break_a_command_are_refused(path: str, words: str) -> None:
    with pytest.raises(UnsafeValue) as caught:
        area_path(path)
    assert words in caught.value.detail


@pytest.mark.parametrize(
    "name", ["it's", 'say "hi"', "$(touch x)", "`id`", "-rf", "--uid=0", "a b", "é à ü — Ω", "~root", "a\\b"]
)
def test_odd_but_harmless_names_are_kept_byte_for_byte(name: str) -> None:
    assert area_path(f"dir/{name}") == f"dir/{name}".encode()


def test_display_escapes_control_bytes_backslashes_and_invalid_utf8_so_no_two_names_look_alike() -> None:
    assert display_name(b"line\none") == "line\\none"
    assert display_name(b"caf\xe9") == "caf\\xe9"
    assert display_name(b"back\\slash") == "back\\\\slash"
    assert display_name(b"tab\there\x1f") == "tab\\there\\x1f"
    assert display_name("é $(id) 'q'".encode()) == "é $(id) 'q'"  # shown as it is: nothing runs it
    # A literal backslash-n and a newline differ once shown.
    assert display_name(b"a\\nb") != display_name(b"a\nb")
    shown = {display_name(s.encode()) for s in HOSTILE_STRINGS} | {display_name(b) for b in HOSTILE_BYTES}
    assert len(shown) == len(HOSTILE_STRINGS) + len(HOSTILE_BYTES)
    assert all("\n" not in s and "\x00" not in s for s in shown)


def test_plain_utf8_names_are_exact_and_escaped_ones_are_not() -> None:
    assert is_plain_utf8("résultats $(x).csv".encode())
    assert not is_plain_utf8(b"caf\xe9")
    assert not is_plain_utf8(b"a\nb")
    assert not is_plain_utf8(b"a\\b")


def _entry(name: bytes, size: int = 1, mtime: int = 5) -> FileEntry:
    return FileEntry(name, FileKind.FILE, size, mtime, 0o100644, 1, 1)


def test_a_cursor_round_trips_and_is_tied_to_its_sort_order() -> None:
    cursor = cursor_after(_entry(b"caf\xe9\n", size=42), SortKey.SIZE, True)
    token = cursor.token()
    assert parse_cursor(token, SortKey.SIZE, True) == cursor
    with pytest.raises(InvalidRequest):
        parse_cursor(token, SortKey.NAME, True)
    with pytest.raises(InvalidRequest):
        parse_cursor(token, SortKey.SIZE, False)
    for forged in ("", "not base64!", "bnVsbA", token[:-3]):
        with pytest.raises(InvalidRequest):
            parse_cursor(forged, SortKey.SIZE, True)


@pytest.mark.parametrize(
    ("header", "size", "span"),
    [
        ("bytes=0-99", 1000, (0, 100)),
        ("bytes=900-", 1000, (900, 100)),
        ("bytes=-10", 1000, (990, 10)),
        ("bytes=-5000", 1000, (0, 1000)),
        ("bytes=990-5000", 1000, (990, 10)),
        ("bytes=1000-", 1000, None),
        ("bytes=-1", 0, None),
    ],
)
def test_single_byte_ranges_resolve_against_the_file_size(
    header: str, size: int, span: tuple[int, int] | None
) -> None:
    byte_range = parse_range(header)
    assert byte_range is not None
    assert byte_range.resolve(size) == span


@pytest.mark.parametrize(
    "header", [None, "", "bytes=", "bytes=-", "bytes=5-1", "items=0-1", "bytes=0-1,5-6", "bytes=a-b"]
)
def test_ranges_this_gateway_does_not_serve_mean_the_whole_file(header: str | None) -> None:
    assert parse_range(header) is None


def test_records_keep_every_byte_of_hostile_names_and_link_targets() -> None:
    names = [s.encode() for s in HOSTILE_STRINGS if "\x00" not in s] + HOSTILE_BYTES
    body = b"".join(b"33188\x0012\x00777\x001000\x001000\x00" + n + b"\x00\x00" for n in names)
    body += b"41471\x0011\x00777\x001000\x001000\x00link\n\x00/etc/pass\xffwd\x00"
    entries = parse_entries(body)
    assert [e.name for e in entries[:-1]] == names
    assert all(e.kind is FileKind.FILE and e.size_bytes == 12 and e.link_target is None for e in entries[:-1])
    assert entries[-1].kind is FileKind.SYMLINK
    assert entries[-1].link_target == b"/etc/pass\xffwd"
    assert entries[-1].permissions == "lrwxrwxrwx"


@pytest.mark.parametrize(
    "body",
    [
        b"33188\x001\x00",
        b"33188\x001\x002\x003\x004\x00n\x00\x00extra",
        b"x\x001\x002\x003\x004\x00n\x00\x00",
    ],
)
def test_a_cut_or_malformed_listing_is_an_error_not_a_guess(body: bytes) -> None:
    with pytest.raises(BackendError):
        parse_entries(body)


@pytest.mark.parametrize(
    "root", ["/scratch/{login}", "{home}", "{home}/work", "/project/shared", "/home/{login}/x-{login}"]
)
def test_area_roots_accept_absolute_paths_with_login_and_home(root: str) -> None:
    area = FileArea(name="a", root=root, label="A", label_fr="A")
    assert "{" not in area.root_for("alice").replace("{home}", "")


@pytest.mark.parametrize(
    "root",
    [
        "scratch/{login}",
        "/scratch/../etc",
        "/scratch/{user}",
        "/x/{home}",
        "{home}x",
        "/a b",
        "/a\n",
        "/scratch/{login",
    ],
)
def test_area_roots_that_could_point_anywhere_are_refused_at_load(root: str) -> None:
    with pytest.raises(ValidationError):
        FileArea(name="a", root=root, label="A", label_fr="A")


def test_byte_range_suffix_of_an_empty_file_is_unsatisfiable() -> None:
    assert ByteRange(None, 10).resolve(0) is None
    assert ByteRange(0, None).resolve(0) is None
