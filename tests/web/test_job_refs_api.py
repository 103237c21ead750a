"""Issue #15, "Ids you can use": ``/jobs/{job_id}`` takes a full id, a unique prefix of 8+ hex
digits or a Slurm job id (``cluster`` when that id exists on several clusters); lists carry
each job's short id. Only the caller's visible jobs count: another user's job is a 404 by any
name, and never makes one of the caller's ids ambiguous."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.domain.jobs import submission_tag
from myriagate.domain.states import JobState
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser, assert_problem

OTHER_CLUSTER = "othercluster"
SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\necho hello\n"


def add_job(
    db: Session,
    user: User,
    clock: FakeClock,
    *,
    job_id: uuid.UUID | None = None,
    slurm_job_id: str | None = None,
    cluster: str = CLUSTER,
    name: str = "job",
) -> Job:
    """A job row of ``user`` with a chosen id, Slurm id and cluster (no sbatch involved)."""
    job_id = job_id or uuid.uuid4()
    now = clock.now()
    job = Job(
        id=job_id, user_id=user.id, cluster=cluster, cluster_login=user.cluster_login,
        slurm_account="caen-climat", partition="debug", tag=submission_tag(job_id), job_name=name,
        state=JobState.PENDING, slurm_job_id=slurm_job_id, script_text="#!/bin/bash\n", sbatch_args=[],
        spec={}, created_at=now, updated_at=now, submitted_at=now,
    )  # fmt: skip
    db.add(job)
    db.commit()
    clock.advance(1)
    return job


def ids_from(prefix: str) -> uuid.UUID:
    """A random id starting with the hex ``prefix``."""
    return uuid.UUID(hex=prefix + uuid.uuid4().hex[len(prefix) :])


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice")


@pytest.fixture
def bob(make_user: MakeUser) -> User:
    return make_user(
        username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
    )


@pytest.fixture
def as_alice(alice: User, auth_client: Callable[[User], TestClient]) -> TestClient:
    return auth_client(alice)


def test_full_id_prefix_and_slurm_id_name_the_same_job(as_alice: TestClient) -> None:
    created = as_alice.post("/api/v1/jobs", json={"script": SCRIPT}).json()
    full, slurm = created["id"], created["slurm_job_id"]
    assert slurm
    names = [
        full,
        full.replace("-", ""),
        full.upper(),
        full[:8],
        full[:13],
        full[:8].upper(),
        slurm,
        f"{slurm}_3",
    ]
    for name in names:
        response = as_alice.get(f"/api/v1/jobs/{name}")
        assert response.status_code == 200, (name, response.text)
        assert response.json()["id"] == full, name
    assert as_alice.get(f"/api/v1/jobs/{full[:8]}/history").status_code == 200
    assert as_alice.get(f"/api/v1/jobs/{slurm}", params={"cluster": CLUSTER}).json()["id"] == full
    cancelled = as_alice.post(f"/api/v1/jobs/{full[:9]}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["id"] == full


def test_lists_and_a_job_carry_the_shortest_unique_prefix(
    as_alice: TestClient, alice: User, db: Session, clock: FakeClock
) -> None:
    twins = [add_job(db, alice, clock, job_id=ids_from("abcdef0123" + d)) for d in "45"]
    alone = add_job(db, alice, clock)
    listed = {item["id"]: item["short_id"] for item in as_alice.get("/api/v1/jobs").json()["items"]}
    assert listed[str(twins[0].id)] == twins[0].id.hex[:11]  # 10 digits shared: one more tells them apart
    assert listed[str(twins[1].id)] == twins[1].id.hex[:11]
    assert listed[str(alone.id)] == alone.id.hex[:8]  # never shorter than 8
    assert as_alice.get(f"/api/v1/jobs/{twins[0].id.hex[:11]}").json()["short_id"] == twins[0].id.hex[:11]
    for short in listed.values():
        assert as_alice.get(f"/api/v1/jobs/{short}").status_code == 200, short


def test_an_ambiguous_prefix_is_a_409_listing_the_candidates(
    as_alice: TestClient, alice: User, db: Session, clock: FakeClock
) -> None:
    twins = [add_job(db, alice, clock, job_id=ids_from("abcdef0123" + d), name=f"twin {d}") for d in "45"]
    for ref in ("abcdef01", "ABCDEF0123", "abcdef01-23"):
        body = assert_problem(as_alice.get(f"/api/v1/jobs/{ref}"), 409, "ambiguous_job")
        assert "give more characters" in body["detail"]
        candidates = body["candidates"]
        assert {c["id"] for c in candidates} == {str(t.id) for t in twins}
        assert {c["job_name"] for c in candidates} == {"twin 4", "twin 5"}
        assert all(
            c["state"] == "pending" and c["submitted_at"] and c["cluster"] == CLUSTER for c in candidates
        )
    assert_problem(as_alice.post("/api/v1/jobs/abcdef01/cancel"), 409, "ambiguous_job")
    assert as_alice.get("/api/v1/jobs/abcdef01234").json()["id"] == str(twins[0].id)


def test_a_slurm_id_on_two_clusters_needs_the_cluster(
    as_alice: TestClient, alice: User, db: Session, clock: FakeClock
) -> None:
    here = add_job(db, alice, clock, slurm_job_id="4242")
    there = add_job(db, alice, clock, slurm_job_id="4242", cluster=OTHER_CLUSTER)
    body = assert_problem(as_alice.get("/api/v1/jobs/4242"), 409, "ambiguous_job")
    assert {(c["cluster"], c["slurm_job_id"]) for c in body["candidates"]} == {
        (CLUSTER, "4242"),
        (OTHER_CLUSTER, "4242"),
    }
    assert body["detail"] == "4242 names 2 jobs: name the cluster, or give more characters of the id"
    assert as_alice.get("/api/v1/jobs/4242", params={"cluster": CLUSTER}).json()["id"] == str(here.id)
    assert as_alice.get("/api/v1/jobs/4242", params={"cluster": OTHER_CLUSTER}).json()["id"] == str(there.id)
    assert_problem(as_alice.get("/api/v1/jobs/4242", params={"cluster": "nowhere"}), 404, "not_found")
    # A full id with another cluster is not that job either.
    assert_problem(as_alice.get(f"/api/v1/jobs/{here.id}", params={"cluster": OTHER_CLUSTER}), 404)


def test_digits_read_as_both_a_prefix_and_a_slurm_id(
    as_alice: TestClient, alice: User, db: Session, clock: FakeClock
) -> None:
    numeric = add_job(db, alice, clock, job_id=ids_from("12345678"))
    other = add_job(db, alice, clock, slurm_job_id="12345678")
    assert_problem(as_alice.get("/api/v1/jobs/12345678"), 409, "ambiguous_job")
    listed = {item["id"]: item["short_id"] for item in as_alice.get("/api/v1/jobs").json()["items"]}
    short = listed[str(numeric.id)]
    # The 8 digits are another job's Slurm id: the short id goes on until it names one job.
    assert len(short) > 8 and numeric.id.hex.startswith(short)
    assert as_alice.get(f"/api/v1/jobs/{short}").json()["id"] == str(numeric.id)
    assert listed[str(other.id)] == other.id.hex[:8]


def test_another_users_job_is_not_found_by_any_name_and_never_a_candidate(
    as_alice: TestClient, alice: User, bob: User, db: Session, clock: FakeClock
) -> None:
    bobs = add_job(db, bob, clock, job_id=ids_from("feedface0123"), slurm_job_id="777")
    mine = add_job(db, alice, clock, job_id=ids_from("feedface0124"))
    ghost = uuid.uuid4()  # no such job: bob's must get exactly the same answers

    def answers(ref: str) -> list[tuple[int, str]]:
        url = f"/api/v1/jobs/{ref}"
        got = [as_alice.get(url), as_alice.post(f"{url}/cancel"), as_alice.get(f"{url}/output"),
               as_alice.get(f"{url}/history")]  # fmt: skip
        return [(r.status_code, assert_problem(r, 404, "not_found")["detail"]) for r in got]

    def forms(job_id: uuid.UUID) -> list[str]:
        return [str(job_id), job_id.hex, job_id.hex[:12].upper()]

    for bob_ref, ghost_ref in [*zip(forms(bobs.id), forms(ghost), strict=True), ("777", "778")]:
        assert answers(bob_ref) == [
            (status, detail.replace(ghost_ref, bob_ref).replace(str(ghost), str(bobs.id)))
            for status, detail in answers(ghost_ref)
        ]
    # bob's job shares 11 digits with alice's, but alice only ever sees her own.
    assert as_alice.get("/api/v1/jobs/feedface").json()["id"] == str(mine.id)
    assert as_alice.get("/api/v1/jobs").json()["items"][0]["short_id"] == mine.id.hex[:8]


@pytest.mark.parametrize(
    "ref", ["abc", "abcdef0", "zzzzzzzz", "12-", "1_x", "x" * 65, *[h for h in HOSTILE_STRINGS if h.strip()]]
)
def test_what_cannot_be_a_job_id_is_refused_not_looked_up(as_alice: TestClient, ref: str) -> None:
    response = as_alice.get(f"/api/v1/jobs/{quote(ref, safe='')}")
    # 422 (not a job id) or 404 (a route that is not a job's); never a 500.
    assert response.status_code in (404, 422), (ref, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
