"""One tag lookup per login and tick, however many of its submissions are uncertain.

Reconciliation settles jobs whose ``sbatch`` reply was lost by looking their tag up
(``squeue``, then ``sacct``). Done job by job, 30 lost submissions would be 60 Slurm calls
in one tick (squeue.1 and sacct.1 warn that such loops can deny service to slurmctld and
slurmdbd). ``TagLookups`` wraps the tick's backend factory: the first ``find_by_tag`` for a
login asks ``find_by_tags`` for every uncertain tag of that login at once (one ``squeue``,
at most one ``sacct``), and every job of that login is answered from it. A failed lookup is
remembered for the tick too, so a cluster that is down costs one attempt per login, not one
per job. The per-job logic (``tracking._reconcile_one``) is unchanged: it still calls
``find_by_tag``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime

from myriagate.db.models.jobs import Job
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.errors import BackendError, SchedulerUnavailable
from myriagate.ports import ClusterHealth, SlurmBackend, SlurmBackendFactory


class _LoginLookups:
    """A login's backend whose ``find_by_tag`` answers from one batched lookup; every other
    call goes to the login's own backend."""

    def __init__(self, backend: SlurmBackend, tags: list[str]) -> None:
        self._backend = backend
        self._tags = tags
        self._answer: dict[str, str | None] | None = None
        self._failure: BackendError | None = None

    def find_by_tag(self, tag: str) -> str | None:
        if self._answer is None and self._failure is None:
            try:
                tags = self._tags if tag in self._tags else [*self._tags, tag]
                self._answer = self._backend.find_by_tags(tags)
            except BackendError as exc:
                self._failure = exc
        if self._failure is not None:
            # The same failure for every job of the login: nothing is asked again this tick.
            raise type(self._failure)(self._failure.detail) from self._failure
        assert self._answer is not None
        if tag not in self._answer:
            raise SchedulerUnavailable("tag lookup inconclusive: an answer carried a Slurm error")
        return self._answer[tag]

    def submit(self, script: RenderedScript, *, tag: str) -> str:
        return self._backend.submit(script, tag=tag)

    def find_by_tags(self, tags: Collection[str]) -> dict[str, str | None]:
        return self._backend.find_by_tags(tags)

    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        return self._backend.status(slurm_job_ids)

    def cancel(self, slurm_job_id: str) -> None:
        self._backend.cancel(slurm_job_id)

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]:
        return self._backend.accounting(slurm_job_ids)

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime, slurm_job_ids: Collection[str] = ()
    ) -> list[JobUsage]:
        return self._backend.accounting_by_accounts(accounts, since, until, slurm_job_ids)

    def comments(self, slurm_job_ids: Collection[str]) -> dict[str, str]:
        return self._backend.comments(slurm_job_ids)

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        return self._backend.tail(path, max_bytes)

    def read_private(self, path: str, home: str, max_bytes: int) -> bytes:
        return self._backend.read_private(path, home, max_bytes)

    def home_dir(self) -> str:
        return self._backend.home_dir()

    def ping(self) -> ClusterHealth:
        return self._backend.ping()


class TagLookups:
    """A SlurmBackendFactory for one reconciliation pass over ``jobs``."""

    def __init__(self, backends: SlurmBackendFactory, jobs: Iterable[Job]) -> None:
        self._backends = backends
        self._tags: dict[str, list[str]] = defaultdict(list)
        for job in jobs:
            self._tags[job.cluster_login].append(job.tag)
        self._logins: dict[str, _LoginLookups] = {}

    def for_login(self, login: str) -> SlurmBackend:
        if login not in self._logins:
            self._logins[login] = _LoginLookups(self._backends.for_login(login), self._tags[login])
        return self._logins[login]

    def for_service(self) -> SlurmBackend:
        return self._backends.for_service()
