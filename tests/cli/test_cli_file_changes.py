# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files mkdir|mv|cp|rm|du` (issue #17) against the in-process API over
FakeClusterFiles: wildcards sent to the gateway and matched on the cluster (never here),
rm -r counted and never done without --yes when nobody can be asked, refusals printed with
their exit codes, names with leading dashes kept as names."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from typer.testing import Result

from myriagate.web.api.file_changes import get_file_changes
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_changes
from tests.cli.test_cli_files import Recording, quiet_server_logs, run, token, transport, tree  # noqa: F401
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory, FakeTree
from tests.web.test_api_files import fake  # noqa: F401 - fixture by name


@pytest.fixture(autouse=True)
def changes_on_the_fake(app: FastAPI, gateway: Gateway, fake: FakeClusterFilesFactory) -> None:
    changes = file_changes(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_changes] = lambda: changes  # cleared by the app fixture


def test_mkdir_makes_directories_and_a_leading_dash_is_a_name(
    run: Callable[..., Result], tree: FakeTree
) -> None:
    done = run("files", "mkdir", "-p", "home:new/deep")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["made home:new", "made home:new/deep"]
    dashed = run("files", "mkdir", "--", "-J evil")
    assert dashed.exit_code == 0, dashed.output
    assert b"-J evil" in tree.dirs and {b"new", b"new/deep"} <= tree.dirs
    again = run("files", "mkdir", "new")
    assert again.exit_code == 6 and "already exists" in again.stderr


def test_mv_expands_a_wildcard_on_the_cluster_and_moves_into_a_directory(
    run: Callable[..., Result], tree: FakeTree, transport: Recording
) -> None:
    done = run("files", "mv", "results/?.h5", "run1")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        "home:results/a.h5 -> home:run1/a.h5",
        "home:results/b.h5 -> home:run1/b.h5",
    ]
    assert {b"run1/a.h5", b"run1/b.h5"} <= set(tree.files) and b"results/.c.h5" in tree.files
    globbed = [r for r in transport.requests if r.url.path.endswith("/glob")]
    assert [r.url.params["pattern"] for r in globbed] == ["results/?.h5"]  # matched there, not here


def test_mv_keeps_an_existing_target_unless_forced(run: Callable[..., Result], tree: FakeTree) -> None:
    kept = run("files", "mv", "run1/-rf", "run1/out.txt")
    assert kept.exit_code == 6 and "already exists" in kept.stderr
    assert tree.files[b"run1/out.txt"] == b"line 1\nline 2\n"
    assert run("files", "mv", "-f", "run1/-rf", "run1/out.txt").exit_code == 0
    assert tree.files[b"run1/out.txt"] == b"dash"
    across = run("files", "mv", "home:data.bin", "scratch:data.bin")
    assert across.exit_code == 5 and "different areas" in across.stderr


def test_cp_needs_r_for_a_directory_and_says_what_it_copied(
    run: Callable[..., Result], tree: FakeTree
) -> None:
    refused = run("files", "cp", "results", "copy")
    assert refused.exit_code == 5 and "directory" in refused.stderr
    done = run("files", "cp", "-r", "results", "copy")
    assert done.exit_code == 0, done.output
    assert "home:results -> home:copy (5 files, 2 directories, " in done.stdout
    assert tree.files[b"copy/a.h5"] == tree.files[b"results/a.h5"]


def test_rm_r_counts_and_does_nothing_without_yes_when_nobody_can_be_asked(
    run: Callable[..., Result], tree: FakeTree
) -> None:
    not_empty = run("files", "rm", "results")
    assert not_empty.exit_code == 6 and "not empty" in not_empty.stderr
    unasked = run("files", "rm", "-r", "results")
    assert (
        unasked.exit_code == 5
        and "would remove 5 files, 2 directories" in unasked.stderr
        and "--yes" in unasked.stderr
    )
    assert b"results/a.h5" in tree.files
    done = run("files", "rm", "-r", "--yes", "results", "--json")
    assert done.exit_code == 0, done.output
    [removed] = json.loads(done.stdout)
    assert (removed["files"], removed["directories"], removed["complete"]) == (5, 2, True)
    assert not [p for p in tree.files if p.startswith(b"results")]
    link = run("files", "rm", "run1/escape")
    assert link.exit_code == 0 and "(0 files, 0 directories, 1 link, 0 B)" in link.stdout
    assert b"run1/escape" not in tree.links


def test_rm_of_a_wildcard_that_matches_nothing_says_so(run: Callable[..., Result]) -> None:
    done = run("files", "rm", "results/*.zip")
    assert done.exit_code == 3 and "nothing matches" in done.stderr


def test_a_wildcard_whose_every_match_is_skipped_is_not_a_success(
    run: Callable[..., Result], tree: FakeTree
) -> None:
    """Issue #17 trial: ``rm 'run1/caf*'`` matched only a name that is not plain text, warned that
    it was skipped, removed nothing and exited 0, as if it had been removed."""
    done = run("files", "rm", "run1/caf*")
    assert done.exit_code == 3, done.output
    assert "skipped home:run1/caf\\xe9 \\n$(id).txt" in done.stderr
    assert "nothing that matches home:run1/caf* can be named" in done.stderr
    assert b"run1/caf\xe9 \n$(id).txt" in tree.files


def test_du_shows_every_area_or_the_paths_asked(run: Callable[..., Result]) -> None:
    done = run("files", "du")
    assert done.exit_code == 0, done.output
    assert "home:" in done.stdout and "scratch:" in done.stdout
    [one] = json.loads(run("files", "du", "run1", "--json").stdout)
    assert (one["area"], one["path"], one["files"], one["partial"]) == ("home", "run1", 4, False)
