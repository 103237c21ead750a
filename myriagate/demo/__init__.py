"""Demo data for the dev cluster: researchers of two universities and a few jobs to watch.

``myriagate admin demo`` (what deploy/dev-up.sh runs) seeds with ``seed`` (data.py says what,
seeding.py how it runs again over a used database) and submits ``jobs.submit_demo_jobs``.
"""

from myriagate.demo.data import (
    DEMO_ADMIN,
    DEMO_GRANT_HOURS,
    DEMO_INSTITUTIONS,
    DEMO_JOBS,
    DEMO_PROJECTS,
    DEMO_QUOTA_HOURS,
    DEMO_UNIVERSITY_ADMIN,
    DEMO_USERS,
    DemoUser,
)
from myriagate.demo.jobs import JobLine, job_lines, submit_demo_jobs
from myriagate.demo.seeding import ALL_DEMO_USERS, SeedReport, seed, seed_allocations, seed_users

__all__ = [
    "ALL_DEMO_USERS",
    "DEMO_ADMIN",
    "DEMO_GRANT_HOURS",
    "DEMO_INSTITUTIONS",
    "DEMO_JOBS",
    "DEMO_PROJECTS",
    "DEMO_QUOTA_HOURS",
    "DEMO_UNIVERSITY_ADMIN",
    "DEMO_USERS",
    "DemoUser",
    "JobLine",
    "SeedReport",
    "job_lines",
    "seed",
    "seed_allocations",
    "seed_users",
    "submit_demo_jobs",
]
