"""The far side of uploads (issue #17), run for real on this machine through a LocalRunner and a
fed command, as over SSH but without a cluster: hostile names kept literally, links at the
target or on the way never followed nor replaced, two uploads of one name never mixed, a part
cut short resumed, a wrong checksum and a refused name leaving nothing behind."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from myriagate.domain.file_uploads import UploadOffsetMismatch, UploadTicket
from myriagate.errors import AlreadyExists, ChecksumMismatch, InvalidRequest, NotFound, UnsafeValue
from myriagate.runners.feeds import LocalFeeds
from myriagate.runners.local import LocalRunner
from myriagate.staging.cluster_uploads import HelperClusterUploads
from tests.fakes.hostile import CANARY, HOSTILE_BYTES, HOSTILE_STRINGS

HOSTILE_NAMES = [
    s.encode() for s in HOSTILE_STRINGS if "\x00" not in s and "/" not in s and s
] + HOSTILE_BYTES


@pytest.fixture
def uploads() -> HelperClusterUploads:
    runner = LocalRunner()
    return HelperClusterUploads(runner, LocalFeeds(runner), timeout_s=30)


def _put(
    uploads: HelperClusterUploads, root: Path, path: bytes, data: bytes, *, overwrite: bool = False
) -> str:
    upload = UploadTicket.new_upload()
    uploads.begin(str(root), path, upload=upload, size_bytes=len(data), overwrite=overwrite)
    sha = hashlib.sha256(data).hexdigest()
    writer = uploads.open_append(
        str(root), path, upload=upload, offset=0, size_bytes=len(data), sha256=sha, overwrite=overwrite
    )
    for start in range(0, len(data), 65536):
        writer.write(data[start : start + 65536])
    outcome = writer.finish()
    assert outcome.complete and outcome.sha256 == sha
    return upload


def _hidden(root: Path) -> list[str]:
    return [n for n in os.listdir(root) if n.startswith(".myriagate-upload-")]


def test_hostile_names_are_written_byte_for_byte_and_nothing_runs(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    for i, name in enumerate(HOSTILE_NAMES):
        _put(uploads, tmp_path, name, b"x" * i)
    assert sorted(os.listdir(bytes(tmp_path))) == sorted(HOSTILE_NAMES)
    for i, name in enumerate(HOSTILE_NAMES):
        assert Path(os.fsdecode(bytes(tmp_path) + b"/" + name)).read_bytes() == b"x" * i
    assert not Path(CANARY).exists()


def test_a_part_cut_short_is_resumed_and_the_file_appears_only_whole(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    data = os.urandom(3 << 20)
    upload = UploadTicket.new_upload()
    root, sha = str(tmp_path), hashlib.sha256(data).hexdigest()
    uploads.begin(root, b"run.bin", upload=upload, size_bytes=len(data), overwrite=False)
    writer = uploads.open_append(
        root, b"run.bin", upload=upload, offset=0, size_bytes=len(data), sha256=sha, overwrite=False
    )
    writer.write(data[: 1 << 20])
    assert writer.finish().offset == 1 << 20
    assert os.listdir(tmp_path) == _hidden(tmp_path)  # nothing under the target's name yet
    with pytest.raises(UploadOffsetMismatch):
        uploads.open_append(
            root, b"run.bin", upload=upload, offset=0, size_bytes=len(data), sha256=sha, overwrite=False
        ).finish()
    assert uploads.offset(root, b"run.bin", upload=upload) == 1 << 20
    writer = uploads.open_append(
        root, b"run.bin", upload=upload, offset=1 << 20, size_bytes=len(data), sha256=sha, overwrite=False
    )
    writer.write(data[1 << 20 :])
    assert writer.finish().complete
    assert (tmp_path / "run.bin").read_bytes() == data and _hidden(tmp_path) == []
    assert (tmp_path / "run.bin").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_links_at_the_target_or_on_the_way_are_never_followed(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    area, outside = tmp_path / "area", tmp_path / "outside"
    area.mkdir()
    outside.mkdir()
    (outside / "victim").write_bytes(b"untouched")
    (area / "to-victim").symlink_to(outside / "victim")
    (area / "to-outside").symlink_to(outside)
    for path, overwrite in [(b"to-victim", False), (b"to-victim", True), (b"to-outside/new", False)]:
        with pytest.raises(UnsafeValue):
            uploads.begin(
                str(area), path, upload=UploadTicket.new_upload(), size_bytes=1, overwrite=overwrite
            )
    assert (outside / "victim").read_bytes() == b"untouched" and os.listdir(outside) == ["victim"]
    assert sorted(os.listdir(area)) == ["to-outside", "to-victim"]


def test_a_link_planted_while_the_bytes_come_is_not_replaced(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    upload = UploadTicket.new_upload()
    uploads.begin(str(tmp_path), b"t.bin", upload=upload, size_bytes=3, overwrite=True)
    (tmp_path / "t.bin").symlink_to("/etc/passwd")  # planted between begin and the last part
    writer = uploads.open_append(
        str(tmp_path), b"t.bin", upload=upload, offset=0, size_bytes=3, sha256=None, overwrite=True
    )
    writer.write(b"abc")
    with pytest.raises(UnsafeValue):
        writer.finish()
    assert os.readlink(tmp_path / "t.bin") == "/etc/passwd" and _hidden(tmp_path) == []


def test_an_existing_file_is_kept_unless_overwrite_and_then_keeps_its_mode(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"old")
    (tmp_path / "f").chmod(0o640)
    with pytest.raises(AlreadyExists):
        uploads.begin(str(tmp_path), b"f", upload=UploadTicket.new_upload(), size_bytes=3, overwrite=False)
    _put(uploads, tmp_path, b"f", b"new", overwrite=True)
    assert (tmp_path / "f").read_bytes() == b"new" and (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def test_two_uploads_of_one_name_one_wins_whole_the_other_is_refused(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    datas = [b"A" * (2 << 20), b"B" * (2 << 20)]
    ids = [UploadTicket.new_upload() for _ in datas]
    for upload, data in zip(ids, datas, strict=True):
        uploads.begin(str(tmp_path), b"same.bin", upload=upload, size_bytes=len(data), overwrite=False)
    results: list[object] = [None, None]

    def send(i: int) -> None:
        writer = uploads.open_append(
            str(tmp_path),
            b"same.bin",
            upload=ids[i],
            offset=0,
            size_bytes=len(datas[i]),
            sha256=None,
            overwrite=False,
        )
        writer.write(datas[i])
        try:
            results[i] = writer.finish()
        except AlreadyExists as exc:
            results[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["AlreadyExists", "AppendOutcome"]
    assert (tmp_path / "same.bin").read_bytes() in datas and _hidden(tmp_path) == []


def test_wrong_checksum_too_many_bytes_and_a_missing_directory_leave_nothing(
    uploads: HelperClusterUploads, tmp_path: Path
) -> None:
    root = str(tmp_path)
    upload = UploadTicket.new_upload()
    uploads.begin(root, b"c.bin", upload=upload, size_bytes=3, overwrite=False)
    writer = uploads.open_append(
        root, b"c.bin", upload=upload, offset=0, size_bytes=3, sha256="0" * 64, overwrite=False
    )
    writer.write(b"abc")
    with pytest.raises(ChecksumMismatch):
        writer.finish()
    upload = UploadTicket.new_upload()
    uploads.begin(root, b"d.bin", upload=upload, size_bytes=3, overwrite=False)
    writer = uploads.open_append(
        root, b"d.bin", upload=upload, offset=0, size_bytes=3, sha256=None, overwrite=False
    )
    writer.write(b"abcdef")
    with pytest.raises(InvalidRequest):
        writer.finish()
    with pytest.raises(NotFound):
        uploads.begin(
            root, b"no/such/dir.bin", upload=UploadTicket.new_upload(), size_bytes=1, overwrite=False
        )
    assert os.listdir(tmp_path) == []


def test_discard_removes_the_partial_file(uploads: HelperClusterUploads, tmp_path: Path) -> None:
    upload = UploadTicket.new_upload()
    uploads.begin(str(tmp_path), b"x", upload=upload, size_bytes=5, overwrite=False)
    assert len(_hidden(tmp_path)) == 1
    uploads.discard(str(tmp_path), b"x", upload=upload)
    assert os.listdir(tmp_path) == []
    with pytest.raises(NotFound):
        uploads.offset(str(tmp_path), b"x", upload=upload)
