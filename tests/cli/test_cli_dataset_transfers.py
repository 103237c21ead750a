# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files save-dataset` and `myriagate datasets copy-to` (issue #17) against the
in-process API: the cluster's files are the fake browser's, disks the FakeStager's, and the
worker's pass is run between the commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from myriagate.db.models.users import User
from myriagate.services.dataset_transfers import runner
from myriagate.services.staging.context import StagingContext
from tests.cli.test_cli_staging import as_user, http, quiet_server_logs  # noqa: F401 - fixtures by name
from tests.fakes.fake_stager import FakeStager
from tests.web.test_api_dataset_transfers import (  # noqa: F401 - fixtures by name
    ODD,
    alice,
    ctx,
    fake_time,
    files,
    run1,
    settings_overrides,
    stager,
)

As = Callable[..., Result]


def test_save_then_copy_to_and_the_refusals_exit_codes(
    as_user: Callable[[User], As], alice: User, run1: Path, ctx: StagingContext, stager: FakeStager
) -> None:
    run = as_user(alice)
    asked = run("files", "save-dataset", "scratch:run1", "--name", "run 1", "--store", "caen", "--json")
    assert asked.exit_code == 0, asked.output
    transfer = json.loads(asked.stdout)
    assert transfer["state"] == "queued" and transfer["place"] == "scratch:/run1"
    assert runner.run_pending(ctx) == 1
    dataset_id = run("files", "save-dataset", "scratch:run1", "--name", "x", "--store", "paris")
    assert dataset_id.exit_code == 6 and "FR-IDF" in dataset_id.output
    link = run("files", "save-dataset", "scratch:escape/x", "--name", "x")
    assert link.exit_code == 5, link.output
    shown = run("datasets", "list", "--json")
    (dataset,) = json.loads(shown.stdout)
    assert dataset["saved_from"] == "scratch:/run1"
    show = run("datasets", "show", dataset["id"])
    assert "saved by alice@unicaen.fr from scratch:/run1" in show.stdout
    copy = run("datasets", "copy-to", dataset["id"], "scratch:copies/r1")
    assert copy.exit_code == 0 and "queued" in copy.stdout, copy.output
    assert runner.run_pending(ctx) == 1
    target = stager.base / "127.0.0.1_2222" / "scratch" / "alice" / "copies" / "r1"
    assert (target / ODD).read_bytes() == (run1 / ODD).read_bytes()
    exists = run("datasets", "copy-to", dataset["id"], "scratch:data")
    assert exists.exit_code == 6 and "--replace" in exists.output
