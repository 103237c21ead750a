"""Dataset pages: the list (mine and my projects', by project, in pages), one dataset (files,
sizes, sha256, location, provenance), verified downloads; who may see what (a dataset one may
not see is the same 404 page as a missing one); hostile names shown escaped."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import Dataset, DatasetFile
from myriagate.db.models.users import User
from myriagate.services.staging.context import StagingContext
from myriagate.wiring import Gateway
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.fakes.hostile import XSS_STRINGS
from tests.web import pages_helpers
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import host_dir, logged_in, produce_dataset, sha, spool_files
from tests.web.test_pages_access import assert_escaped

settings_overrides = pages_helpers.settings_overrides
stager = pages_helpers.stager
staging_ctx = pages_helpers.staging_ctx

RESULTS = {"results/a.h5": b"\x89HDF" + b"1" * 5000, "results/sub dir/b.h5": b"\x89HDF2"}
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def bob(make_user: MakeUser) -> User:
    return make_user(
        username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
    )


@pytest.fixture
def produced(
    app: FastAPI,
    alice: User,
    gateway: Gateway,
    stager: FakeStager,
    staging_ctx: StagingContext,
    fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory,
    clock: FakeClock,
) -> dict[str, Any]:
    """alice's client and a job of hers whose results went to Caen as a dataset, via the pages."""
    client = logged_in(app, alice)
    real_clock, app.state.clock = app.state.clock, clock  # the jobs' times follow the cluster's clock
    job_id, dataset_id = produce_dataset(
        client, gateway=gateway, stager=stager, ctx=staging_ctx, fake_cluster=fake_cluster,
        backends=backends, clock=clock, login="alice", results=RESULTS,
    )  # fmt: skip
    app.state.clock = real_clock  # later logins get cookies that have not expired yet
    return {"client": client, "job_id": job_id, "dataset_id": dataset_id}


def add_dataset(db: Session, owner: User, clock: FakeClock, *, name: str, account: str, minutes: int = 0,
                files: dict[str, bytes] | None = None,
                dataset_id: uuid.UUID | None = None) -> Dataset:  # fmt: skip
    """A dataset row as stage-out records it (for lists and names; not backed by files)."""
    files = files or {"out.txt": b"x"}
    dataset = Dataset(
        id=dataset_id or uuid.uuid4(), name=name, owner_id=owner.id, cluster=CLUSTER, slurm_account=account,
        endpoint="caen", site="Caen", region="FR-NOR", operator="Université de Caen Normandie",
        root=f"/srv/myriagate-storage/caen/{account}/x", file_count=len(files),
        size_bytes=sum(len(c) for c in files.values()), producer_job_id=None,
        created_at=clock.now() + timedelta(minutes=minutes),
    )  # fmt: skip
    dataset.files = [DatasetFile(path=p, size_bytes=len(c), sha256=sha(c)) for p, c in files.items()]
    db.add(dataset)
    db.commit()
    return dataset


def without_request_id(text: str) -> str:
    return REQUEST_ID.sub("<id>", text)


def dataset_links(page: str) -> list[str]:
    return re.findall(r'<td><a href="/datasets/([0-9a-f-]{36})">', page)


# --- list and detail -------------------------------------------------------------------
def test_a_produced_dataset_is_listed_and_shown_with_files_checksums_location_and_provenance(
    produced: dict[str, Any],
) -> None:
    client: TestClient = produced["client"]
    dataset_id, job_id = produced["dataset_id"], produced["job_id"]
    listing = client.get("/datasets")
    assert listing.status_code == 200
    assert '<a href="/datasets">Datasets</a>' in listing.text  # in the navigation
    assert dataset_links(listing.text) == [dataset_id]
    assert "<td>Caen, FR-NOR</td>" in listing.text and "<td>caen-climat</td>" in listing.text

    detail = client.get(f"/datasets/{dataset_id}").text
    assert '<dd id="location">Caen, FR-NOR</dd>' in detail
    assert "Université de Caen Normandie" in detail
    for path, content in RESULTS.items():
        assert f"<code>{path}</code>" in detail
        assert f'<code class="sha256">{sha(content)}</code>' in detail
        assert f'href="/datasets/{dataset_id}/files/{quote(path)}"' in detail
    assert "5 kB" in detail  # results/a.h5 is 5,004 bytes
    assert f'<a href="/jobs/{job_id}">job {job_id}</a>' in detail
    assert "no job has used it as input yet" in detail

    # The job page links to it, with the same checksums.
    job_page = client.get(f"/jobs/{job_id}").text
    assert f'<a href="/datasets/{dataset_id}" id="output-dataset">' in job_page
    assert all(sha(c) in job_page for c in RESULTS.values())


def test_files_download_verified_and_a_corrupted_copy_is_never_sent(
    produced: dict[str, Any], db: Session, stager: FakeStager, gateway: Gateway
) -> None:
    client: TestClient = produced["client"]
    dataset_id = produced["dataset_id"]
    for path, content in RESULTS.items():
        response = client.get(f"/datasets/{dataset_id}/files/{quote(path)}")
        assert response.status_code == 200, response.text
        assert response.content == content
        assert response.headers["x-content-sha256"] == sha(content)
        assert "attachment" in response.headers["content-disposition"]
    assert spool_files(gateway.settings.spool_dir) == []  # temporary copies removed once sent

    dataset = db.get(Dataset, uuid.UUID(dataset_id))
    assert dataset is not None
    (host_dir(stager, 2223, dataset.root) / "results/a.h5").write_bytes(b"\x89HDF" + b"2" * 5000)
    corrupted = client.get(f"/datasets/{dataset_id}/files/results/a.h5")
    assert corrupted.status_code == 502
    assert "text/html" in corrupted.headers["content-type"] and "checksum_mismatch" in corrupted.text
    assert b"2222" not in corrupted.content
    assert spool_files(gateway.settings.spool_dir) == []
    assert client.get(f"/datasets/{dataset_id}/files/results/missing.h5").status_code == 404
    assert client.get(f"/datasets/{dataset_id}/files/%2E%2E/%2E%2E/etc/passwd").status_code == 422


def test_project_members_and_platform_admins_see_it_others_get_the_missing_page(
    produced: dict[str, Any], app: FastAPI, bob: User, make_user: MakeUser
) -> None:
    dataset_id = produced["dataset_id"]
    colleague = logged_in(
        app, make_user(username="carol@unicaen.fr", login="carol", accounts=["caen-climat"])
    )
    admin = logged_in(app, make_user("platform_admin"))
    for who in (colleague, admin):
        assert dataset_links(who.get("/datasets").text) == [dataset_id]
        assert who.get(f"/datasets/{dataset_id}").status_code == 200

    intruder = logged_in(app, bob)
    uni_admin = logged_in(app, make_user("university_admin", institution="unicaen"))
    missing = intruder.get(f"/datasets/{uuid.uuid4()}")
    assert missing.status_code == 404
    for who in (intruder, uni_admin):
        assert dataset_links(who.get("/datasets").text) == []
        hidden = who.get(f"/datasets/{dataset_id}")
        assert hidden.status_code == 404
        # Same page as a dataset that does not exist, but for the id in the detail.
        assert without_request_id(hidden.text).replace(dataset_id, "X") == without_request_id(
            who.get(f"/datasets/{uuid.UUID(int=1)}").text
        ).replace(str(uuid.UUID(int=1)), "X")
        download = who.get(f"/datasets/{dataset_id}/files/results/a.h5")
        assert download.status_code == 404 and b"HDF" not in download.content


def test_anonymous_visitors_are_sent_to_the_login_page(client: TestClient) -> None:
    anonymous = TestClient(client.app, follow_redirects=False)
    for path in ("/datasets", f"/datasets/{uuid.uuid4()}", f"/datasets/{uuid.uuid4()}/files/a.h5"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path


def test_the_list_filters_by_project_and_pages(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    lead = make_user(username="lea@unicaen.fr", login="lea", accounts=["caen-climat", "caen-bio"])
    other = make_user(username="max@unicaen.fr", login="max", accounts=["caen-bio"])
    outsider = make_user(username="zoe@univ-rouen.fr", login="zoe", accounts=["rouen-chimie"],
                         institution="univ-rouen")  # fmt: skip
    climat = [
        add_dataset(db, lead, clock, name=f"climat-{i:02}", account="caen-climat", minutes=i)
        for i in range(30)
    ]
    bio = add_dataset(db, other, clock, name="bio-by-max", account="caen-bio", minutes=100)
    add_dataset(db, outsider, clock, name="rouen-secret", account="rouen-chimie", minutes=200)
    client = logged_in(app, lead)

    first = client.get("/datasets").text
    newest_first = [str(bio.id)] + [str(d.id) for d in reversed(climat)]
    assert dataset_links(first) == newest_first[:25]
    assert "rouen-secret" not in first
    nxt = re.search(r'<a href="(/datasets\?cursor=[^"]+)" rel="next">', first)
    assert nxt is not None
    second = client.get(nxt.group(1).replace("&amp;", "&")).text
    assert dataset_links(second) == newest_first[25:]
    assert 'rel="next"' not in second and "First page" in second

    only_bio = client.get("/datasets?project=caen-bio").text
    assert dataset_links(only_bio) == [str(bio.id)]
    assert '<option value="caen-bio" selected>' in only_bio
    assert dataset_links(client.get("/datasets?project=rouen-chimie").text) == []


@pytest.mark.parametrize("hostile", XSS_STRINGS)
def test_hostile_dataset_names_and_paths_are_shown_escaped(
    app: FastAPI, alice: User, db: Session, clock: FakeClock, hostile: str
) -> None:
    dataset = add_dataset(db, alice, clock, name=hostile, account="caen-climat",
                          files={f"results/{hostile}.h5": b"x"})  # fmt: skip
    client = logged_in(app, alice)
    for path in ("/datasets", f"/datasets/{dataset.id}", f"/datasets?project={quote(hostile)}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_escaped(response.text)
