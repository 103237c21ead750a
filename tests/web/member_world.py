"""A project with members and jobs, shared by the members tests (API, pages, CLI)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.db.repos import audit as audit_repo
from myriagate.domain.jobs import submission_tag
from myriagate.domain.states import JobState
from tests.conftest import CLUSTER, FakeClock
from tests.web.conftest import MakeUser


def add_job(
    db: Session, user: User, clock: FakeClock, state: JobState, *, slurm_job_id: str | None = None,
    account: str = "caen-climat",
) -> Job:  # fmt: skip
    """A job row of ``user`` in ``account`` and ``state`` (no sbatch involved)."""
    job_id = uuid.uuid4()
    now = clock.now()
    job = Job(
        id=job_id, user_id=user.id, cluster=CLUSTER, cluster_login=user.cluster_login,
        slurm_account=account, partition="debug", tag=submission_tag(job_id), job_name=f"run-{state.value}",
        state=state, slurm_job_id=slurm_job_id, script_text="#!/bin/bash\n", sbatch_args=[],
        spec={}, created_at=now, updated_at=now, submitted_at=now,
    )  # fmt: skip
    db.add(job)
    db.commit()
    clock.advance(1)
    return job


def audit_of(db: Session, user: User) -> list[tuple[str, dict[str, object]]]:
    db.expire_all()
    return [(e.action, dict(e.detail or {})) for e in audit_repo.for_target(db, "user", str(user.id))]


@dataclass
class World:
    alice: User  # researcher of caen-climat, a job pending and one running there
    bob: User  # researcher of caen-climat, no job
    carol: User  # lead of caen-climat
    dave: User  # a Caen user of no project
    erin: User  # a Rouen user of no project
    caen_admin: User
    rouen_admin: User
    platform: User
    pending: Job
    running: Job


def build(make_user: MakeUser, db: Session, clock: FakeClock) -> World:
    alice = make_user(username="alice@unicaen.fr", login="alice")
    bob = make_user(username="bob@unicaen.fr", login="bob")
    carol = make_user("project_lead", username="carol@unicaen.fr", login="carol")
    dave = make_user(username="dave@unicaen.fr", login="dave", accounts=[])
    erin = make_user(username="erin@univ-rouen.fr", login="erin", accounts=[], institution="univ-rouen")
    rouen = {"accounts": ["rouen-chimie"], "institution": "univ-rouen"}
    make_user(username="rita@univ-rouen.fr", login="rita", **rouen)  # type: ignore[arg-type]
    pending = add_job(db, alice, clock, JobState.PENDING, slurm_job_id="4101")
    running = add_job(db, alice, clock, JobState.RUNNING, slurm_job_id="4102")
    add_job(db, alice, clock, JobState.COMPLETED, slurm_job_id="4100")  # ended: not listed
    add_job(db, bob, clock, JobState.FAILED, slurm_job_id="4099")
    return World(
        alice, bob, carol, dave, erin,
        make_user("university_admin", username="ursula@unicaen.fr", institution="unicaen"),
        make_user("university_admin", username="roger@univ-rouen.fr", institution="univ-rouen"),
        make_user("platform_admin", username="root@criann.fr"),
        pending, running,
    )  # fmt: skip
