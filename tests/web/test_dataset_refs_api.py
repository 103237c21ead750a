"""Issue #15, "Ids you can use", for datasets as for jobs: lists give each dataset a short id
(the shortest unique prefix among the datasets the caller may see, 8+ hex digits), every
``/datasets/{id}`` route and page takes it, an ambiguous prefix is a 409 listing the candidates,
another user's dataset is the same 404 as a missing one whichever id names it, and text that
cannot be an id is a 422."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from tests.conftest import FakeClock
from tests.web.conftest import MakeUser, assert_problem
from tests.web.pages_helpers import logged_in
from tests.web.test_job_refs_api import ids_from
from tests.web.test_pages_datasets import add_dataset

AuthClient = Callable[[User], TestClient]


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def bob(make_user: MakeUser) -> User:
    return make_user(
        username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
    )


@pytest.fixture
def datasets(
    web_session_factory: sessionmaker[Session], alice: User, bob: User, clock: FakeClock
) -> dict[str, uuid.UUID]:
    """alice's twins (10 shared hex digits), a loner of hers, and bob's dataset sharing the
    twins' first 8 digits (which alice may not see: it must change nothing for her)."""
    made = {
        "twin1": ids_from("abcdef0123" + "4"), "twin2": ids_from("abcdef0123" + "5"),
        "loner": ids_from("12345678"), "bobs": ids_from("abcdef01" + "9"),
    }  # fmt: skip
    with web_session_factory() as db:
        for minutes, (name, dataset_id) in enumerate(made.items()):
            owner, account = (bob, "rouen-chimie") if name == "bobs" else (alice, "caen-climat")
            add_dataset(db, owner, clock, name=name, account=account, minutes=minutes, dataset_id=dataset_id)
    return made


def test_lists_show_the_shortest_unique_prefix_among_the_datasets_one_may_see(
    auth_client: AuthClient, alice: User, bob: User, datasets: dict[str, uuid.UUID]
) -> None:
    listed = auth_client(alice).get("/api/v1/datasets").json()["items"]
    shorts = {item["name"]: item["short_id"] for item in listed}
    assert shorts == {
        "twin1": datasets["twin1"].hex[:11], "twin2": datasets["twin2"].hex[:11],
        "loner": datasets["loner"].hex[:8],
    }  # fmt: skip
    # bob sees only his: 8 digits are enough for him, whatever alice's ids are.
    assert [i["short_id"] for i in auth_client(bob).get("/api/v1/datasets").json()["items"]] == [
        datasets["bobs"].hex[:8]
    ]
    one = auth_client(alice).get(f"/api/v1/datasets/{datasets['twin1']}").json()
    assert one["short_id"] == datasets["twin1"].hex[:11]


def test_a_unique_prefix_or_the_full_id_names_the_dataset(
    auth_client: AuthClient, alice: User, datasets: dict[str, uuid.UUID]
) -> None:
    as_alice = auth_client(alice)
    for name in ("twin1", "twin2", "loner"):
        full = datasets[name]
        for ref in (full.hex[:11], str(full), full.hex, str(full).upper()):
            answer = as_alice.get(f"/api/v1/datasets/{ref}")
            assert answer.status_code == 200, (ref, answer.text)
            assert answer.json()["id"] == str(full) and answer.json()["name"] == name
    # 8 digits shared by her twins (and bob's, which she may not see): ambiguous, hers listed.
    body = assert_problem(as_alice.get("/api/v1/datasets/abcdef01"), 409, "ambiguous_dataset")
    assert {c["id"] for c in body["candidates"]} == {str(datasets["twin1"]), str(datasets["twin2"])}
    assert {c["name"] for c in body["candidates"]} == {"twin1", "twin2"}
    assert body["title"] == "Ambiguous dataset id"
    assert "give more characters" in body["detail"]
    # A file download takes the same ids (the dataset is found before its file is looked for).
    assert_problem(as_alice.get("/api/v1/datasets/abcdef01/files/out.txt"), 409, "ambiguous_dataset")


def test_another_users_dataset_is_the_same_404_as_a_missing_one_and_non_ids_are_422(
    auth_client: AuthClient, alice: User, datasets: dict[str, uuid.UUID]
) -> None:
    as_alice = auth_client(alice)
    bobs = datasets["bobs"]
    theirs = [assert_problem(as_alice.get(f"/api/v1/datasets/{ref}"), 404, "not_found")
              for ref in (bobs.hex[:9], str(bobs))]  # fmt: skip
    missing = [assert_problem(as_alice.get(f"/api/v1/datasets/{ref}"), 404, "not_found")
               for ref in ("ffffffff9", str(uuid.uuid4()))]  # fmt: skip
    assert [b["title"] for b in theirs] == [b["title"] for b in missing]
    for ref in ("abc", "not-a-dataset", "$(touch x)", "'; drop", "-rf", "a" * 65):
        body = assert_problem(as_alice.get(f"/api/v1/datasets/{ref}"), 422, "invalid_request")
        assert "not a dataset id" in body["detail"] or body["errors"], body


def test_french_callers_read_the_refusals_in_french(
    auth_client: AuthClient, alice: User, datasets: dict[str, uuid.UUID]
) -> None:
    as_alice = auth_client(alice)
    french = {"Accept-Language": "fr"}
    body = assert_problem(as_alice.get("/api/v1/datasets/abcdef01", headers=french), 409, "ambiguous_dataset")
    assert body["title"] == "Identifiant de jeu de données ambigu"
    assert (
        body["detail"]
        == "abcdef01 désigne 2 jeux de données : donnez davantage de caractères de l'identifiant"
    )
    body = assert_problem(as_alice.get("/api/v1/datasets/xyz", headers=french), 422, "invalid_request")
    assert "n'est pas un identifiant de jeu de données" in body["detail"]


def test_the_dataset_page_sends_a_short_id_to_the_datasets_own_address(
    app: FastAPI, alice: User, datasets: dict[str, uuid.UUID]
) -> None:
    client = logged_in(app, alice)
    full = datasets["loner"]
    for ref in (full.hex[:8], full.hex):
        moved = client.get(f"/datasets/{ref}", follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"] == f"/datasets/{full}"
    assert client.get(f"/datasets/{full}").status_code == 200
    assert client.get("/datasets/abcdef01").status_code == 409
    assert client.get(f"/datasets/{datasets['bobs'].hex[:9]}").status_code == 404
