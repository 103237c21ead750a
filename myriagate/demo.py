"""Demo data for the dev cluster: researchers of two universities and a few jobs to watch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import MembershipRole, User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.domain.costs import Cost
from myriagate.ports import Clock, LedgerFactory
from myriagate.services.people.auth import set_password
from myriagate.services.staging import uploads
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.submission.submission import Submission
from myriagate.services.submission.submit import SubmitRequest


@dataclass(frozen=True)
class DemoUser:
    username: str
    login: str
    display_name: str
    institution: str
    accounts: tuple[tuple[str, MembershipRole], ...]


# Mirrors the Slurm account tree made by deploy/devcluster/up.sh: institutions, then projects.
DEMO_INSTITUTIONS: tuple[tuple[str, str], ...] = (
    ("unicaen", "Université de Caen Normandie"),
    ("urouen", "Université de Rouen Normandie"),
)
DEMO_PROJECTS: tuple[tuple[str, str, str], ...] = (
    ("caen-climat", "unicaen", "Climat régional normand"),
    ("caen-bio", "unicaen", "Biologie structurale"),
    ("rouen-chimie", "urouen", "Chimie théorique"),
)


# Mirrors the Unix users and Slurm associations made by deploy/devcluster/up.sh.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        "alice",
        "alice",
        "Alice Martin (Université de Caen Normandie)",
        "unicaen",
        (("caen-climat", MembershipRole.RESEARCHER),),
    ),
    DemoUser(
        "bob",
        "bob",
        "Bob Lefèvre (Université de Rouen Normandie)",
        "urouen",
        (("rouen-chimie", MembershipRole.RESEARCHER),),
    ),
    DemoUser(
        "carol",
        "carol",
        "Carol Dubois (Université de Caen Normandie)",
        "unicaen",
        (("caen-climat", MembershipRole.PROJECT_LEAD), ("caen-bio", MembershipRole.RESEARCHER)),
    ),
)

# (username, script, overrides): a success, a failure with exit code 3, an array, a long one.
DEMO_JOBS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "alice",
        "#!/bin/bash\n#SBATCH --job-name=demo-hello\n#SBATCH --time=00:05:00\n"
        'echo "bonjour from $(hostname) as $(id -un)"\nsleep 5\n',
        {"partition": "debug"},
    ),
    (
        "bob",
        "#!/bin/bash\n#SBATCH -J demo-fails\n#SBATCH -t 5\necho about to fail >&2\nsleep 3\nexit 3\n",
        {"partition": "debug"},
    ),
    (
        "carol",
        "#!/bin/bash\n#SBATCH --array=0-2\n#SBATCH --job-name=demo-array\n#SBATCH --time=5\n"
        "echo task $SLURM_ARRAY_TASK_ID\nsleep 4\n",
        {"account": "caen-bio"},
    ),
    (
        "alice",
        "#!/bin/bash\n#SBATCH --job-name=demo-long\n#SBATCH --time=00:10:00\nsleep 20\necho done\n",
        {},
    ),
)


# The dev cluster's platform admin: acts on the cluster as the gateway's service login.
DEMO_ADMIN = DemoUser("admin", "myriagate", "Admin CRIANN (plateforme)", "unicaen", ())
# Users of Caen's university admin; no cluster work of her own.
DEMO_UNIVERSITY_ADMIN = DemoUser(
    "diane", "myriagate", "Diane Moreau (admin, Université de Caen)", "unicaen", ()
)


# Demo compute time for the current calendar year: institution quotas, then project grants.
DEMO_QUOTA_HOURS = 100_000
DEMO_GRANT_HOURS: dict[str, int] = {"caen-climat": 10_000, "caen-bio": 2_000, "rouen-chimie": 5_000}


def seed_allocations(session: Session, *, cluster: str, clock: Clock, ledger: LedgerFactory) -> None:
    """A period for this year, a quota per demo institution and a grant per demo project
    (through ``ledger``)."""
    now = clock.now()
    period = allocations_repo.current_period(session, cluster, now)
    if period is None:
        period = allocations_repo.create_period(
            session,
            cluster=cluster,
            name=str(now.year),
            starts_at=datetime(now.year, 1, 1, tzinfo=UTC),
            ends_at=datetime(now.year + 1, 1, 1, tzinfo=UTC),
        )
    for code, _name in DEMO_INSTITUTIONS:
        if allocations_repo.get_quota(session, code, period.id) is None:
            allocations_repo.set_quota(
                session, institution=code, period_id=period.id, amount=Cost(DEMO_QUOTA_HOURS * 3600, 0)
            )
    book = ledger(session)
    for account, hours in DEMO_GRANT_HOURS.items():
        project = projects_repo.get_project(session, cluster, account)
        if project is None or allocations_repo.allocation_for(session, project.id, period.id) is not None:
            continue
        allocation = allocations_repo.create_allocation(
            session, project_id=project.id, period_id=period.id, created_at=now
        )
        book.grant(allocation.id, Cost(hours * 3600, 0), author="demo", reason="demo grant")
    session.commit()


def seed_users(session: Session, *, cluster: str, clock: Clock, password: str | None = None) -> list[User]:
    """Create the demo institutions, projects, users and memberships; existing ones are kept.

    With ``password``, every demo user can sign in with it (dev cluster only).
    """
    for code, name in DEMO_INSTITUTIONS:
        if projects_repo.get_institution(session, code) is None:
            projects_repo.add_institution(session, code=code, name=name)
    for account, institution, title in DEMO_PROJECTS:
        if projects_repo.get_project(session, cluster, account) is None:
            projects_repo.add_project(
                session,
                cluster=cluster,
                slurm_account=account,
                institution=institution,
                name=title,
                created_at=clock.now(),
            )
    users: list[User] = []
    for demo in (*DEMO_USERS, DEMO_ADMIN, DEMO_UNIVERSITY_ADMIN):
        user = users_repo.get_by_username(session, demo.username)
        if user is None:
            user = users_repo.add(
                session,
                username=demo.username,
                cluster_login=demo.login,
                display_name=demo.display_name,
                created_at=clock.now(),
            )
            user.institution = demo.institution
            user.is_platform_admin = demo is DEMO_ADMIN
            user.university_admin_of = demo.institution if demo is DEMO_UNIVERSITY_ADMIN else None
            if password is not None:
                set_password(user, password)
        have = {(m.cluster, m.slurm_account) for m in user.memberships}
        for account, role in demo.accounts:
            if (cluster, account) not in have:
                users_repo.add_membership(session, user, cluster=cluster, slurm_account=account, role=role)
        users.append(user)
    session.commit()
    return users


def submit_demo_jobs(
    session: Session, *, submission: Submission, cluster: str, spool_dir: Path | None = None
) -> list[Job]:
    """Submit the demo jobs through the gateway's submission use case, as their researchers.

    With a spool, one more job stages an uploaded input in and its results out to the "caen"
    storage endpoint (data staging, FR-NOR).
    """
    jobs: list[Job] = []
    for username, script, overrides in DEMO_JOBS:
        user = users_repo.get_by_username(session, username)
        if user is None:
            raise LookupError(f"demo user {username} is missing: seed the users first")
        request = SubmitRequest(script_text=script, cluster=cluster, overrides=overrides, source="cli")
        jobs.append(submission.submit(session, user, request).job)
    if spool_dir is not None:
        jobs.append(_submit_staged_demo_job(session, submission, cluster, spool_dir))
    return jobs


STAGED_DEMO_SCRIPT = """#!/bin/bash
#SBATCH --job-name=demo-staging
#SBATCH --time=00:05:00
#SBATCH --partition=debug
set -eu
mkdir -p results
awk -F, 'NR > 1 { s += $2; n++ } END { printf "mean temperature: %.2f\\n", s / n }' data/temperatures.csv \\
    > results/summary.txt
sha256sum data/temperatures.csv > results/inputs.sha256
"""
STAGED_DEMO_INPUT = b"day,temperature\n1,11.5\n2,12.0\n3,13.25\n4,12.75\n"


def _submit_staged_demo_job(session: Session, submission: Submission, cluster: str, spool_dir: Path) -> Job:
    user = users_repo.get_by_username(session, "alice")
    if user is None:
        raise LookupError("demo user alice is missing: seed the users first")
    upload = uploads.create_upload(session, user=user, at=submission.clock.now(), source="cli")
    writer, path = uploads.open_file(
        session, upload_id=upload.id, path="data/temperatures.csv", user=user, spool_dir=spool_dir,
        max_bytes=len(STAGED_DEMO_INPUT),
    )  # fmt: skip
    writer.write(STAGED_DEMO_INPUT)
    sha256 = writer.finish(None)
    uploads.record_file(
        session, upload_id=upload.id, path=path, size_bytes=len(STAGED_DEMO_INPUT), sha256=sha256
    )
    request = SubmitRequest(script_text=STAGED_DEMO_SCRIPT, cluster=cluster, source="cli")
    staging = StagingRequest(upload_id=upload.id, output_patterns=["results/*"], store="caen")
    return submission.submit(session, user, request, staging).job


@dataclass(frozen=True)
class JobLine:
    """One row of the demo's live table."""

    job_id: str
    login: str
    job_name: str | None
    slurm_job_id: str | None
    state: str
    exit_code: int | None
    reason: str | None
    is_final: bool


def job_lines(session: Session, job_ids: Sequence[uuid.UUID]) -> list[JobLine]:
    """Fresh states of these jobs, as the worker last recorded them."""
    session.expire_all()
    lines: list[JobLine] = []
    for job_id in job_ids:
        job = session.get(Job, job_id)
        if job is None:
            continue
        lines.append(
            JobLine(
                str(job.id),
                job.cluster_login,
                job.job_name,
                job.slurm_job_id,
                job.state.value,
                job.exit_code,
                job.reason,
                job.state.is_final,
            )
        )
    return lines
