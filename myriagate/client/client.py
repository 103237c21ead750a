"""``Client``: the gateway's REST API (``/api/v1``) as typed Python calls, for scripts and notebooks.

The ``myriagate`` CLI is built on this same class, so a script sees exactly what the CLI
sees: the API's own pydantic models back, and refusals raised as ``MyriagateError``
subclasses carrying the server's problem details (docs/client.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import quote
from uuid import UUID

import httpx

from myriagate.client.config import load_config
from myriagate.client.dataset_transfers import DatasetTransferCalls
from myriagate.client.interactive import InteractiveCalls
from myriagate.errors import FieldError, InvalidRequest, NotFound
from myriagate.web.api.schemas import (
    ClusterDetail,
    ClusterOut,
    JobDetail,
    JobOut,
    JobPage,
    JobSubmitted,
    TemplateDetail,
    TemplateOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserOut,
)

# What only submitting, waiting, quotas and datasets need is imported by the calls that use it:
# every `myriagate` command builds a Client, and `jobs list` should not pay for the sbatch option
# table's model or the transfer code (bench/cli_start.py).
if TYPE_CHECKING:
    from myriagate.client import transfers
    from myriagate.client.submissions import Option
    from myriagate.web.api.allocation_schemas import AllocationOut
    from myriagate.web.api.staging_schemas import DatasetDetail, DatasetOut
    from myriagate.web.api.submit_schemas import DryRunOut, JobSubmit

Stream = Literal["output", "error"]
JobRef = UUID | str | JobOut
Script = str | os.PathLike[str]


class Client(DatasetTransferCalls, InteractiveCalls):
    """A client of one gateway.

    ``Client()`` uses what ``myriagate login`` stored (or ``MYRIAGATE_URL`` and
    ``MYRIAGATE_TOKEN``); ``Client(url, token)`` uses exactly those. ``language="fr"`` asks
    the gateway for its refusals in French (``error.detail``). Close it (or use ``with``) to
    free its connections.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = 30.0,
        user_agent: str | None = None,
        language: str | None = None,
    ) -> None:
        if url is None:
            config = load_config()
            url, token = config.require_url(), token or config.token
        extra = {} if user_agent is None else {"user_agent": user_agent}
        super().__init__(url, token, http=http, timeout_s=timeout_s, language=language, **extra)

    # --- who am I, tokens -----------------------------------------------------------------
    def me(self) -> UserOut:
        return self._model(UserOut, self.request("GET", "/me"))

    def create_token(self, request: TokenIn, *, basic: tuple[str, str] | None = None) -> TokenCreated:
        """A new personal token: with HTTP Basic (username, password) or the current token."""
        auth = httpx.BasicAuth(*basic) if basic is not None else None
        response = self.request("POST", "/tokens", json=request.model_dump(mode="json"), auth=auth)
        return self._model(TokenCreated, response)

    def tokens(self) -> list[TokenOut]:
        return self._list(TokenOut, self.request("GET", "/tokens"))

    def find_token_id(self, secret: str) -> UUID | None:
        """The id of the listed token whose prefix the secret starts with (None if unsure)."""
        body = secret.partition("_")[2]  # the prefix shown may leave out the `mgt_` marker
        matches = [
            t.id
            for t in self.tokens()
            if t.revoked_at is None and (secret.startswith(t.prefix) or body.startswith(t.prefix))
        ]
        return matches[0] if len(matches) == 1 else None

    def revoke_token(self, token_id: UUID | str) -> None:
        self.request("DELETE", f"/tokens/{segment(str(token_id))}")

    # --- clusters, templates, quota -------------------------------------------------------
    def clusters(self) -> list[ClusterOut]:
        return self._list(ClusterOut, self.request("GET", "/clusters"))

    def cluster(self, name: str) -> ClusterDetail:
        return self._model(ClusterDetail, self.request("GET", f"/clusters/{segment(name)}"))

    def templates(self) -> list[TemplateOut]:
        return self._list(TemplateOut, self.request("GET", "/templates"))

    def template(self, name: str) -> TemplateDetail:
        return self._model(TemplateDetail, self.request("GET", f"/templates/{segment(name)}"))

    def quota(self, cluster: str | None = None) -> list[AllocationOut]:
        """Your projects' allocations for the current period, with their balances."""
        from myriagate.web.api.allocation_schemas import AllocationOut

        return self._list(AllocationOut, self.request("GET", "/allocations", params={"cluster": cluster}))

    # --- submitting -----------------------------------------------------------------------
    @overload
    def submit(self, script: JobSubmit, /) -> JobSubmitted | DryRunOut: ...

    @overload
    def submit(
        self,
        script: Script | None = None,
        /,
        *,
        template: str | None = None,
        params: Mapping[str, str | int] | None = None,
        cluster: str | None = None,
        inputs: Sequence[Path | str] = (),
        input_datasets: Sequence[UUID | str] = (),
        results: Sequence[str] = (),
        store: str | None = None,
        progress: transfers.TransferProgress | None = None,
        **options: Option,
    ) -> JobSubmitted: ...

    def submit(self, script: JobSubmit | Script | None = None, /, **kwargs: Any) -> JobSubmitted | DryRunOut:
        """Submit a job: ``script`` is the script's text, or a path (``Path``) to read it from.

        sbatch's options are keywords by their long names with ``_`` for ``-``
        (``partition="debug", time="00:10:00", cpus_per_task=4``) and override the script's
        #SBATCH lines. ``inputs`` are local files or directories uploaded first; ``results``
        are globs stored as a dataset after the job (on ``store``).
        """
        from myriagate.web.api.submit_schemas import DryRunOut, JobSubmit

        if isinstance(script, JobSubmit):
            request = script
        else:
            request = self._request_for(script, dry_run=False, **kwargs)
        response = self.request("POST", "/jobs", json=request.model_dump(mode="json", exclude_none=True))
        if request.dry_run:
            return self._model(DryRunOut, response)
        return self._model(JobSubmitted, response)

    def dry_run(
        self,
        script: Script | None = None,
        /,
        *,
        template: str | None = None,
        params: Mapping[str, str | int] | None = None,
        cluster: str | None = None,
        **options: Option,
    ) -> DryRunOut:
        """What ``submit`` would send and hold, checked by the gateway; nothing is submitted."""
        from myriagate.client.submissions import build_submission, read_script
        from myriagate.web.api.submit_schemas import DryRunOut

        text = read_script(Path(script)) if isinstance(script, os.PathLike) else script
        request = build_submission(
            text,
            dry_run=True,
            template=template,
            params=params,
            cluster=cluster,
            options=options,
            script_name=_file_name(script),
        )
        plan = self.submit(request)
        assert isinstance(plan, DryRunOut)  # a dry-run request is answered with a plan
        return plan

    def _request_for(
        self,
        script: Script | None,
        *,
        dry_run: bool,
        inputs: Sequence[Path | str] = (),
        progress: transfers.TransferProgress | None = None,
        **kwargs: Any,
    ) -> JobSubmit:
        from myriagate.client import transfers
        from myriagate.client.inputs import collect_inputs
        from myriagate.client.submissions import REQUEST_KEYWORDS, build_submission, read_script

        text = read_script(Path(script)) if isinstance(script, os.PathLike) else script
        files = collect_inputs(inputs)  # refused (a link leading out) before anything is sent
        known = {k: v for k, v in kwargs.items() if k in REQUEST_KEYWORDS}
        options = {k: v for k, v in kwargs.items() if k not in REQUEST_KEYWORDS}
        request = build_submission(
            text,
            dry_run=dry_run,
            staged=bool(files),
            options=options,
            script_name=_file_name(script),
            **known,
        )
        if files and not dry_run and request.staging is not None:
            request.staging.upload_id = transfers.upload_files(self, files, progress)
        return request

    # --- jobs -----------------------------------------------------------------------------
    def jobs_page(self, filters: Mapping[str, Any], *, limit: int, cursor: str | None = None) -> JobPage:
        params = {**filters, "limit": limit, "cursor": cursor}
        return self._model(JobPage, self.request("GET", "/jobs", params=params))

    def iter_jobs(
        self, filters: Mapping[str, Any], *, limit: int | None, page_size: int = 200
    ) -> Iterator[JobOut]:
        """Jobs across pages (following ``next_cursor``), at most ``limit`` of them."""
        cursor: str | None = None
        seen = 0
        while True:
            size = page_size if limit is None else min(page_size, limit - seen)
            if size <= 0:
                return
            page = self.jobs_page(filters, limit=size, cursor=cursor)
            for job in page.items:
                yield job
                seen += 1
            if page.next_cursor is None or not page.items:
                return
            cursor = page.next_cursor

    def jobs(
        self,
        *,
        state: str | Sequence[str] | None = None,
        cluster: str | None = None,
        account: str | None = None,
        owner: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 50,
    ) -> list[JobOut]:
        """Jobs you may see, newest first (``limit=None``: all of them, page after page)."""
        states = [state] if isinstance(state, str) else list(state) if state else None
        filters = {
            "state": [str(s) for s in states] if states else None,
            "cluster": cluster,
            "account": account,
            "owner": owner,
            # A naive datetime is local time, as Python reads it (the API wants a zone).
            "since": since.astimezone().isoformat() if since else None,
            "until": until.astimezone().isoformat() if until else None,
        }
        return list(self.iter_jobs(filters, limit=limit))

    def job(self, job: JobRef, *, cluster: str | None = None) -> JobDetail:
        """One job with its options, script and state history.

        ``job`` is its id, the short id ``jobs()`` shows (``short_id``) or its Slurm job id;
        ``cluster`` says which cluster's when that Slurm id exists on several.
        """
        response = self.request("GET", f"/jobs/{job_path(job)}", params={"cluster": cluster})
        return self._model(JobDetail, response)

    def _job_id(self, job: JobRef) -> UUID:
        """The full id of a job: as given when it is one, else as the gateway resolves it."""
        if isinstance(job, JobOut | UUID):
            return job.id if isinstance(job, JobOut) else job
        try:
            return UUID(job.strip())
        except ValueError:
            return self.job(job).id

    def cancel(self, job: JobRef) -> JobOut:
        """Ask Slurm to cancel the job (a job that already ended is left as it is)."""
        response = self.request("POST", f"/jobs/{job_path(job)}/cancel")
        if response.content and "id" in (response.json() or {}):
            return self._model(JobOut, response)
        return self.job(job)

    def output_bytes(
        self, job: JobRef, *, stream: Stream = "output", max_bytes: int = 65536, task: int | None = None
    ) -> bytes:
        """The last ``max_bytes`` of the job's output (or error) file, as stored."""
        params = {"stream": stream, "max_bytes": max_bytes, "task": task}
        return self.request("GET", f"/jobs/{job_path(job)}/output", params=params).content

    def logs(
        self, job: JobRef, *, stream: Stream = "output", max_bytes: int = 65536, task: int | None = None
    ) -> str:
        """The end of the job's output (``stream="error"``: its error file) as text."""
        data = self.output_bytes(job, stream=stream, max_bytes=max_bytes, task=task)
        return data.decode("utf-8", errors="replace")

    def wait(
        self,
        job: JobRef,
        *,
        timeout_s: float | None = None,
        on_update: Callable[[JobOut], object] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JobOut:
        """The job once it ended (completed, failed, cancelled, …); ``TimeoutError`` after ``timeout_s``."""
        report = None if on_update is None else (lambda jobs: on_update(jobs[0]))
        from myriagate.client.waiting import wait_for_jobs

        return wait_for_jobs(self, [self._job_id(job)], sleep=sleep, timeout_s=timeout_s, on_update=report)[0]

    def wait_all(
        self,
        jobs: Sequence[JobRef],
        *,
        timeout_s: float | None = None,
        on_update: Callable[[Sequence[JobOut]], object] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[JobOut]:
        """Every job once it ended, in the order given."""
        ids = [self._job_id(j) for j in jobs]
        from myriagate.client.waiting import wait_for_jobs

        return wait_for_jobs(self, ids, sleep=sleep, timeout_s=timeout_s, on_update=on_update)

    # --- datasets ---------------------------------------------------------------------------
    def datasets(
        self, *, account: str | None = None, job: JobRef | None = None, limit: int = 50
    ) -> list[DatasetOut]:
        """Datasets you may see (yours and your projects'), newest first."""
        job_id = job.id if isinstance(job, JobOut) else job
        params = {"account": account, "job": None if job_id is None else str(job_id), "limit": limit}
        from myriagate.web.api.staging_schemas import DatasetPage

        return list(self._model(DatasetPage, self.request("GET", "/datasets", params=params)).items)

    def dataset(self, dataset: UUID | str) -> DatasetDetail:
        """One dataset: its files with their sha256, where it is stored, the jobs that used it."""
        from myriagate.web.api.staging_schemas import DatasetDetail

        return self._model(DatasetDetail, self.request("GET", f"/datasets/{segment(str(dataset))}"))

    def download(
        self,
        dataset: UUID | str | DatasetDetail,
        dest: Path | str = ".",
        *,
        paths: Sequence[str] = (),
        progress: transfers.TransferProgress | None = None,
    ) -> list[Path]:
        """Write the dataset's files (or ``paths`` of it) under ``dest``, each verified by sha256."""
        from myriagate.client import transfers
        from myriagate.web.api.staging_schemas import DatasetDetail

        detail = dataset if isinstance(dataset, DatasetDetail) else self.dataset(dataset)
        by_path = {f.path: f for f in detail.files}
        missing = [p for p in paths if p not in by_path]
        if missing:
            raise NotFound(f"dataset {detail.id} has no file {missing[0]!r}")
        files = [by_path[p] for p in dict.fromkeys(paths)] if paths else list(detail.files)
        if progress is not None:
            progress.start(f"{len(files)} file(s)", sum(f.size_bytes for f in files))
        return [transfers.download_file(self, detail.id, f, Path(dest), progress) for f in files]


def _file_name(script: Script | None) -> str | None:
    """A script given as a path names the job after its file, as sbatch does; text names nothing."""
    return Path(script).name if isinstance(script, os.PathLike) else None


def segment(name: str) -> str:
    """A name as one URL path segment (a slash in it must not change the route)."""
    return quote(name, safe="")


def job_path(job: JobRef) -> str:
    return segment(str(job.id if isinstance(job, JobOut) else job).strip())


def parse_job_id(text: str) -> UUID:
    """A job id as typed by a person; a clear exit-5 error otherwise."""
    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a job id (a UUID as printed by `myriagate submit`)",
            fields=[FieldError(("job_id",), "not a UUID")],
        ) from None
