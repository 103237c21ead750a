"""pyslurm.db stand-in: accounting (slurmdbd) queries over the FakeCluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fakes import fake_pyslurm


class JobFilter:
    """pyslurm.db.JobFilter: query conditions (the attributes PyslurmBackend uses)."""

    def __init__(self, **kwargs: Any) -> None:
        self.ids: list[int] | None = None
        self.users: list[str] | None = None
        self.accounts: list[str] | None = None
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        for key, value in kwargs.items():
            if not hasattr(self, key):
                raise AttributeError(f"'JobFilter' object has no attribute '{key}'")
            setattr(self, key, value)


class Job(fake_pyslurm._Record):
    """pyslurm.db.Job: a job as slurmdbd recorded it."""


class Jobs(dict[int, Job]):
    """pyslurm.db.Jobs, keyed by raw job id."""

    @staticmethod
    def load(db_filter: JobFilter | None = None, db_connection: Any = None) -> Jobs:
        fake_pyslurm._call("sacct")
        query = db_filter or JobFilter()
        picked = []
        for job in fake_pyslurm._cluster().jobs.values():
            top = int(job.array_parent or job.slurm_job_id)
            if query.ids is not None and top not in query.ids and job.raw_id not in query.ids:
                continue
            if query.users is not None and job.login not in query.users:
                continue
            if query.accounts is not None and job.account not in query.accounts:
                continue
            if query.start_time is not None and (job.ended_at or job.submitted_at) < query.start_time:
                continue
            if query.end_time is not None and job.submitted_at > query.end_time:
                continue
            picked.append(job)
        out = Jobs()
        for key, record in fake_pyslurm._records(picked, db=True).items():
            db_job = Job.__new__(Job)
            db_job.__dict__.update(record.__dict__)
            out[key] = db_job
        return out
