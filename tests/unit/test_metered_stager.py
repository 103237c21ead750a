"""MeteredStager: bytes actually moved, duration, rate and failures of staging transfers.

Over the FakeStager (which keeps the Stager contract, skipping identical files); metrics are
read from prometheus_client's default registry, isolated per test by a unique host name.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from myriagate.errors import StagingError
from myriagate.ports import RemoteTree
from myriagate.staging.metered import MeteredStager
from tests.fakes.fake_stager import FakeStager


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def host() -> str:
    return f"store-{uuid.uuid4().hex[:8]}.example"


def tree(host: str) -> RemoteTree:
    return RemoteTree(host=host, port=22, login="myriagate", known_hosts=Path("/dev/null"), root="/srv/data")


def test_bytes_count_what_moved_and_skipped_files_do_not(tmp_path: Path, host: str) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "a.csv").write_bytes(b"x" * 1000)
    (local / "b.bin").write_bytes(b"y" * 3000)
    seen: list[tuple[int, int]] = []
    stager = MeteredStager(FakeStager(tmp_path / "remote"))

    staged = stager.upload(local, ["a.csv", "b.bin"], tree(host), progress=lambda d, t: seen.append((d, t)))
    assert [f.size_bytes for f in staged] == [1000, 3000]
    assert seen == [(1000, 4000), (4000, 4000)], "the caller's progress callback still sees every step"
    assert sample("myriagate_transfer_bytes_total", direction="upload", host=host) == 4000
    assert sample("myriagate_transfer_rate_bytes_per_second_count", direction="upload", host=host) == 1

    stager.upload(local, ["a.csv", "b.bin"], tree(host))  # already there: nothing moves
    assert sample("myriagate_transfer_bytes_total", direction="upload", host=host) == 4000
    assert sample("myriagate_transfer_duration_seconds_count", direction="upload", host=host) == 2
    assert sample("myriagate_transfer_rate_bytes_per_second_count", direction="upload", host=host) == 1

    back = tmp_path / "back"
    stager.download(tree(host), ["b.bin"], back)
    assert (back / "b.bin").read_bytes() == b"y" * 3000
    assert sample("myriagate_transfer_bytes_total", direction="download", host=host) == 3000


def test_a_failed_transfer_is_counted_by_error_code_and_reraised(tmp_path: Path, host: str) -> None:
    fake = FakeStager(tmp_path / "remote", failures=[StagingError("connection lost")])
    with pytest.raises(StagingError):
        MeteredStager(fake).download(tree(host), ["x"], tmp_path / "local")
    assert (
        sample("myriagate_transfer_errors_total", direction="download", host=host, error="staging_error") == 1
    )
    assert sample("myriagate_transfer_duration_seconds_count", direction="download", host=host) == 1


def test_a_retry_inside_one_call_counts_only_increases(host: str) -> None:
    """A stager whose progress restarts from zero (a retried stream) is not double-counted."""

    class Restarting(FakeStager):
        def upload(self, local_root, files, dest, *, progress=None):  # type: ignore[no-untyped-def]
            assert progress is not None
            for done in (100, 200, 50, 250, 300):  # cut at 200, resent from the start
                progress(done, 300)
            return []

    MeteredStager(Restarting(Path("/nonexistent"))).upload(Path("/x"), ["f"], tree(host))
    assert sample("myriagate_transfer_bytes_total", direction="upload", host=host) == 200 + 300
