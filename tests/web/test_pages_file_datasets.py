"""Save as dataset and copy here from the pages (issue #17), in process, in English and French:
the save form (endpoints outside the allowed regions listed disabled), the transfer's page
following the worker (live while not final) to the dataset, "copy into my files" from the
dataset's page byte for byte; refusals (paris, a link, an existing target, a read-only area,
no CSRF token) as the error page with a way back, nothing recorded."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import DatasetTransfer
from myriagate.services.dataset_transfers import runner
from myriagate.services.staging.context import StagingContext
from tests.conftest import FakeClock
from tests.fakes.fake_cluster_files import FakeTree
from tests.fakes.fake_stager import FakeStager
from tests.web import file_write_fixtures, test_api_dataset_transfers
from tests.web.file_write_fixtures import csrf, error_of

# Shared fixtures (a module's fixtures override the conftest's): the fake cluster, alice signed in.
alice_user = file_write_fixtures.alice_user
client = file_write_fixtures.client
fake = file_write_fixtures.fake
lang = file_write_fixtures.lang
tree = file_write_fixtures.tree
ctx = test_api_dataset_transfers.ctx
settings_overrides = test_api_dataset_transfers.settings_overrides
stager = test_api_dataset_transfers.stager

SCRATCH = "/files/devcluster/scratch"
WORDS = {
    "en": {
        "outside": "Paris, FR-IDF — outside the allowed regions",
        "done": "Done: the dataset is stored.",
        "waiting": "Waiting for the worker to start it.",
        "copied": "Done: the files are in your folder.",
    },
    "fr": {
        "outside": "Paris, FR-IDF — hors des régions autorisées",
        "done": "Terminé : le jeu de données est stocké.",
        "waiting": "En attente du démarrage par le worker.",
        "copied": "Terminé : les fichiers sont dans votre dossier.",
    },
}


@pytest.fixture(autouse=True)
def fake_time(app: FastAPI, client: TestClient, clock: FakeClock) -> None:
    """The worker's clock for the requests too, once alice is signed in (her session cookie
    was made on the real clock)."""
    app.state.clock = clock


def _run1(tree: FakeTree, stager: FakeStager) -> Path:
    tree.dirs.update({b"run1", b"data"})
    tree.links[b"escape"] = b"/etc"
    disk = stager.base / "127.0.0.1_2222" / "scratch" / "alice" / "run1"
    (disk / "sub").mkdir(parents=True)
    (disk / "out.txt").write_bytes(b"result\n")
    (disk / "sub" / "deep.bin").write_bytes(bytes(range(256)) * 10)
    (disk / "-rf").write_bytes(b"a name read as an option")
    return disk


def _transfers(db: Session) -> int:
    return int(db.scalar(sa.select(sa.func.count()).select_from(DatasetTransfer)) or 0)


def _save(client: TestClient, **fields: str) -> httpx.Response:
    form = {
        "csrf_token": csrf(client),
        "path": "run1",
        "name": "run 1 <b>",
        "store": "caen",
        "account": "caen-climat",
    }
    answer: httpx.Response = client.post(f"{SCRATCH}/save-dataset", data=form | fields)
    return answer


def test_save_a_folder_and_follow_it_to_its_dataset(
    client: TestClient, tree: FakeTree, stager: FakeStager, ctx: StagingContext, lang: str
) -> None:
    disk = _run1(tree, stager)
    form = client.get(f"{SCRATCH}/save-dataset", params={"path": "run1"})
    assert form.status_code == 200
    assert 'name="name" value="run1" required' in form.text and '<option value="caen">' in form.text
    assert f'<option value="paris" disabled>{WORDS[lang]["outside"]}</option>' in form.text
    asked = _save(client)
    assert asked.status_code == 303, asked.text
    follow = asked.headers["location"]
    assert re.fullmatch(r"/dataset-transfers/[0-9a-f-]{36}", follow)
    waiting = client.get(follow).text
    assert 'data-refresh="3"' in waiting and WORDS[lang]["waiting"] in waiting
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in waiting  # and without JS
    assert runner.run_pending(ctx) == 1
    done = client.get(follow).text
    assert "data-refresh" not in done and 'http-equiv="refresh"' not in done and WORDS[lang]["done"] in done
    assert "<code>-rf</code>" in done  # skipped, and named
    # The worker's note, in the page's language (web/stored_text.py).
    assert (
        "fichier(s) stocké(s) à Caen (FR-NOR)" if lang == "fr" else "file(s) stored in Caen (FR-NOR)"
    ) in done
    dataset = re.search(r'href="(/datasets/[0-9a-f-]{36})" id="dataset-link"', done)
    assert dataset is not None
    page = client.get(dataset.group(1)).text
    assert "run 1 &lt;b&gt;" in page and "scratch:/run1" in page
    assert f'href="{dataset.group(1)}/copy" id="copy-here"' in page
    assert (disk / "out.txt").exists()


def test_copy_here_from_the_datasets_page(
    client: TestClient, tree: FakeTree, stager: FakeStager, ctx: StagingContext, lang: str
) -> None:
    disk = _run1(tree, stager)
    follow = _save(client).headers["location"]
    runner.run_pending(ctx)
    dataset = re.search(r'href="(/datasets/[0-9a-f-]{36})" id="dataset-link"', client.get(follow).text)
    assert dataset is not None
    form = client.get(f"{dataset.group(1)}/copy").text
    assert '<option value="scratch">' in form and '<option value="shared">' not in form  # writable areas only
    token = csrf(client)
    exists = client.post(
        f"{dataset.group(1)}/copy", data={"csrf_token": token, "area": "scratch", "path": "data"}
    )
    assert exists.status_code == 409 and f'href="{dataset.group(1)}/copy" id="back"' in exists.text
    shared = client.post(
        f"{dataset.group(1)}/copy", data={"csrf_token": token, "area": "shared", "path": "x"}
    )
    assert shared.status_code == 403
    asked = client.post(
        f"{dataset.group(1)}/copy", data={"csrf_token": token, "area": "scratch", "path": "copies/run1"}
    )
    assert asked.status_code == 303
    assert runner.run_pending(ctx) == 1
    assert WORDS[lang]["copied"] in client.get(asked.headers["location"]).text
    target = stager.base / "127.0.0.1_2222" / "scratch" / "alice" / "copies" / "run1"
    assert (target / "sub" / "deep.bin").read_bytes() == (disk / "sub" / "deep.bin").read_bytes()


def test_refused_saves_record_nothing(
    client: TestClient, tree: FakeTree, stager: FakeStager, db: Session, lang: str
) -> None:

    _run1(tree, stager)
    paris = _save(client, store="paris")
    assert paris.status_code == 403 and "FR-IDF" in error_of(paris.text)
    assert f'href="{SCRATCH}/save-dataset?path=run1" id="back"' in paris.text
    link = _save(client, path="escape")
    assert link.status_code == 422
    forged = client.post(f"{SCRATCH}/save-dataset", data={"path": "run1", "name": "x", "store": "caen"})
    assert forged.status_code == 403
    assert _transfers(db) == 0
    assert client.get("/dataset-transfers/00000000-0000-0000-0000-000000000000").status_code == 404
