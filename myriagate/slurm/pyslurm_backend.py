"""PyslurmBackend: the SlurmBackend protocol through pyslurm (Slurm's C API), in process.

For a gateway running on a cluster host. pyslurm is imported lazily, in the constructor, and
refused with a ConfigError when absent or built for another Slurm release than the cluster's
(pyslurm X.Y.* links libslurm X.Y only).

What differs between pyslurm releases is in ``pyslurm_dialects`` (chosen here from
``pyslurm.version()``). Tested against the real pyslurm 22.5 on the dev cluster
(``deploy/pyslurm.sh`` builds it; ``tests/contract`` id ``pyslurm``,
``tests/integration/test_pyslurm_real.py``) and, in the unit tier, against
``tests/fakes/fake_pyslurm`` (25.11's names). Pass ``module`` to inject a fake; by default
``import pyslurm`` is used.
"""

from __future__ import annotations

import errno
import importlib
import os
import pwd
import re
import stat
import time
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus, JobUsage, RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import (
    ConfigError,
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
)
from myriagate.ports import ClusterHealth
from myriagate.slurm import arrays, commands, endings, parse, pyslurm_dialects
from myriagate.slurm.states import to_job_state

_UNCERTAIN = re.compile(r"timed out|Unable to contact|Connection refused|Communication", re.IGNORECASE)
_GONE = re.compile(r"Invalid job id|already complet|Job/step already", re.IGNORECASE)
_DENIED = re.compile(r"permission denied|not authorized", re.IGNORECASE)


def _release(version: str) -> tuple[int, int] | None:
    m = re.match(r"^\s*(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def _rpc_message(exc: Exception) -> str:
    return str(getattr(exc, "msg", None) or exc) or type(exc).__name__


class PyslurmBackend:
    """ports.SlurmBackend over pyslurm.

    ``cluster_slurm_version`` comes from the cluster profile; ``login`` (only when the gateway
    runs as root) makes submissions run as that user (``user_id``), otherwise jobs belong to
    the gateway's own user. ``tag_window`` bounds the accounting search of find_by_tag.
    """

    def __init__(
        self,
        cluster_slurm_version: str,
        *,
        login: str | None = None,
        module: ModuleType | None = None,
        tag_window: timedelta = timedelta(days=30),
    ) -> None:
        if module is None:
            try:
                module = importlib.import_module("pyslurm")
            except ImportError as exc:
                raise ConfigError(
                    "the pyslurm backend needs pyslurm built for the cluster's Slurm release: "
                    "bash deploy/pyslurm.sh with MYRIAGATE_PYSLURM_SOURCE set to its source; "
                    "use the CLI backend otherwise"
                ) from exc
        self.pyslurm = module
        built_for = str(getattr(module, "version", lambda: "")())
        wanted, got = _release(cluster_slurm_version), _release(built_for)
        if wanted is None or got is None or wanted != got:
            raise ConfigError(
                f"pyslurm {built_for or '?'} is built for Slurm {got[0] if got else '?'}."
                f"{got[1] if got else '?'}, but the cluster runs Slurm {cluster_slurm_version}: "
                "install the pyslurm release matching the cluster, or use the CLI backend"
            )
        self.dialect = pyslurm_dialects.for_release(got)
        self.login = values.login(login) if login is not None else None
        self.tag_window = tag_window

    # --- submission ----------------------------------------------------------------------
    def submit(self, script: RenderedScript, *, tag: str) -> str:
        commands.tag(tag)
        # The renderer passes every #SBATCH directive it read as an option (docs/job-scripts.md),
        # so the script's own lines are not read again (pyslurm's reader splits them naively).
        attributes = self.dialect.submit_attributes(
            commands.sbatch_options(script.sbatch_args), home=self.home_dir(), login=self.login
        )
        try:
            desc = self.pyslurm.JobSubmitDescription(**attributes)
        except (AttributeError, ValueError, TypeError) as exc:
            raise SchedulerRejected(f"pyslurm refused the job description: {exc}") from exc
        desc.script = script.text
        desc.comment = tag
        if self.login is not None:
            desc.user_id = self.login
            desc.group_id = self.login
        try:
            job_id = desc.submit()
        except self.pyslurm.RPCError as exc:
            message = _rpc_message(exc)
            if _UNCERTAIN.search(message):
                raise SubmissionUncertain(f"submit: {message}") from exc
            raise SchedulerRejected(message) from exc
        except (ValueError, TypeError) as exc:
            raise SchedulerRejected(str(exc)) from exc
        return str(job_id)

    def find_by_tag(self, tag: str) -> str | None:
        for record in self._live().values():
            if getattr(record, "comment", None) == tag:
                return str(record.array_id or record.id)
        since = datetime.now(UTC) - self.tag_window
        query = self.pyslurm.db.JobFilter(start_time=since, end_time=datetime.now(UTC))
        for record in self._accounted(query).values():
            if getattr(record, "comment", None) == tag:
                return str(record.array_id or record.id)
        return None

    def find_by_tags(self, tags: Collection[str]) -> dict[str, str | None]:
        """``find_by_tag`` for many tags: one load of the controller's jobs and, for the tags
        it does not hold, one accounting query."""
        wanted = list(dict.fromkeys(tags))
        found: dict[str, str | None] = dict.fromkeys(wanted)
        for record in self._live().values():
            comment = getattr(record, "comment", None)
            if comment in found and found[comment] is None:
                found[comment] = str(record.array_id or record.id)
        if any(v is None for v in found.values()):
            since = datetime.now(UTC) - self.tag_window
            query = self.pyslurm.db.JobFilter(start_time=since, end_time=datetime.now(UTC))
            for record in self._accounted(query).values():
                comment = getattr(record, "comment", None)
                if comment in found and found[comment] is None:
                    found[comment] = str(record.array_id or record.id)
        return found

    # --- state ---------------------------------------------------------------------------
    def status(self, slurm_job_ids: Collection[str]) -> dict[str, JobStatus]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        wanted = {arrays.parent_id(i) for i in ids}
        queued = {
            s.slurm_job_id: s
            for r in self._live().values()
            if str(r.array_id or r.id) in wanted
            for s in self._statuses(r)
        }
        need = arrays.needing_accounting(ids, queued)
        accounted: dict[str, JobStatus] = {}
        if need:
            query = self.pyslurm.db.JobFilter(ids=sorted({int(arrays.parent_id(i)) for i in need}))
            for record in self._accounted(query).values():
                accounted.update((row.slurm_job_id, row) for row in self._statuses(record))
        views = arrays.combine_views(ids, queued, accounted)
        # slurmdbd writes a job's request a moment after its end (record.memory 0 until then):
        # left for the next poll, as the CLI backend does (slurm.endings.add_endings).
        return {
            job_id: status
            for job_id, status in views.items()
            if not (
                endings.wants_details(status)
                and status.mem_requested_bytes is None
                and endings.just_ended(status)
            )
        }

    def cancel(self, slurm_job_id: str) -> None:
        values.slurm_job_id(slurm_job_id)
        raw = int(slurm_job_id) if "_" not in slurm_job_id else self._raw_id(slurm_job_id)
        if raw is None:
            # Pending tasks have no id of their own in slurmctld yet, and pyslurm cancels by
            # numeric id only: cancel the whole array instead.
            raise SchedulerRejected(f"cannot cancel task {slurm_job_id} alone through pyslurm")
        try:
            self.pyslurm.Job(raw).cancel()
        except self.pyslurm.RPCError as exc:
            message = _rpc_message(exc)
            if _DENIED.search(message):
                raise PermissionDenied(message) from exc
            if _GONE.search(message):
                return
            raise SchedulerRejected(message) from exc

    def accounting(self, slurm_job_ids: Collection[str]) -> dict[str, JobUsage]:
        ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
        if not ids:
            return {}
        query = self.pyslurm.db.JobFilter(ids=sorted({int(arrays.parent_id(i)) for i in ids}))
        rows = {u.slurm_job_id: u for r in self._accounted(query).values() if (u := self._usage(r))}
        usage: dict[str, JobUsage] = {}
        by_parent = arrays.tasks_by_parent(rows)
        for job_id in ids:
            tasks = by_parent.get(job_id, []) if "_" not in job_id else []
            if job_id in rows:
                usage[job_id] = rows[job_id]
            elif tasks:
                usage[job_id] = arrays.aggregate_usage(job_id, [rows[t] for t in tasks])
        return usage

    def accounting_by_accounts(
        self, accounts: Collection[str], since: datetime, until: datetime, slurm_job_ids: Collection[str] = ()
    ) -> list[JobUsage]:
        """Finished jobs of these accounts in the window (only ``slurm_job_ids`` when given)."""
        if not accounts:
            return []
        names = sorted({values.account(a) for a in accounts})
        wanted = {values.slurm_job_id(i) for i in slurm_job_ids}
        ids = sorted({int(arrays.parent_id(i)) for i in wanted}) if wanted else None
        query = self.pyslurm.db.JobFilter(accounts=names, start_time=since, end_time=until, ids=ids)
        found: list[JobUsage] = []
        for record in self._accounted(query).values():
            usage = self._usage(record)
            if usage is None or usage.state is None or not usage.state.is_final:
                continue
            if not wanted or usage.slurm_job_id in wanted:
                found.append(usage)
        return found

    def comments(self, slurm_job_ids: Collection[str]) -> dict[str, str]:
        """Comments as slurmdbd's records carry them (structured data: nothing to frame)."""
        wanted = {values.slurm_job_id(i) for i in slurm_job_ids}
        if not wanted:
            return {}
        query = self.pyslurm.db.JobFilter(ids=sorted({int(arrays.parent_id(i)) for i in wanted}))
        return {
            job_id: str(getattr(record, "comment", None) or "")
            for record in self._accounted(query).values()
            for job_id in self._ids_of(record)
            if job_id in wanted
        }

    def home_dir(self) -> str:
        login = self.login or pwd.getpwuid(os.geteuid()).pw_name
        try:
            return pwd.getpwnam(login).pw_dir
        except KeyError as exc:
            raise SchedulerRejected(f"no local user {login!r}") from exc

    def tail(self, path: str, max_bytes: int = 65536) -> bytes:
        """Read the file here (pyslurm runs on a cluster host); as root, only the login's own.

        The gateway may run as root here, so the file's own permissions do not protect it: a
        link at the last component is not followed, and only a regular file is read (a FIFO
        the login put at its output path would block the reading thread forever).
        """
        values.file_pattern(path, "path")
        if max_bytes <= 0:
            return b""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return b""
        except PermissionError as exc:
            raise PermissionDenied(f"cannot read {path}: {exc.strerror}") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PermissionDenied(f"{path} is a symbolic link: not followed") from exc
            raise PermissionDenied(f"cannot read {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise PermissionDenied(f"{path} is not a regular file")
            if self.login is not None and os.geteuid() == 0 and info.st_uid != _uid(self.login):
                raise PermissionDenied(f"{path} does not belong to {self.login}")
            handle.seek(max(0, info.st_size - max_bytes))
            return handle.read(max_bytes)

    def read_private(self, path: str, home: str, max_bytes: int) -> bytes:
        """``tail`` of a file only if it and every directory down to it from ``home`` are the
        login's, writable by nobody else and no links (what the CLI backend's command checks)."""
        values.file_pattern(path, "path")
        root = home.rstrip("/")
        if not path.startswith(root + "/"):
            raise PermissionDenied(f"{path} is not below {home}")
        owner = _uid(self.login) if self.login is not None else os.geteuid()
        ways = [root + "/."] + [root + "/" + "/".join(path[len(root) + 1 :].split("/")[: i + 1])
                                for i in range(path[len(root) + 1 :].count("/") + 1)]  # fmt: skip
        for way in ways:
            try:
                info = os.lstat(way)
            except FileNotFoundError:
                return b""
            if (
                stat.S_ISLNK(info.st_mode) or info.st_uid != owner or info.st_mode & 0o022
                or not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode))
            ):  # fmt: skip
                raise PermissionDenied(
                    f"{way} is not the login's alone (owner, permissions or a link): {path} not read"
                )
        return self.tail(path, max_bytes)

    def ping(self) -> ClusterHealth:
        started = time.monotonic()
        try:
            partitions = self.pyslurm.Partitions.load()
        except self.pyslurm.RPCError as exc:
            return ClusterHealth(reachable=False, detail=_rpc_message(exc))
        return ClusterHealth(
            reachable=True,
            slurm_version=str(self.pyslurm.version()),
            partitions={str(name): str(p.state).lower() for name, p in partitions.items()},
            latency_ms=round((time.monotonic() - started) * 1000, 3),
        )

    # --- internals -----------------------------------------------------------------------
    def _live(self) -> dict[Any, Any]:
        """Every job the controller holds, in one RPC (like one squeue call)."""
        try:
            return dict(self.pyslurm.Jobs.load())
        except self.pyslurm.RPCError as exc:
            raise SchedulerUnavailable(_rpc_message(exc)) from exc

    def _accounted(self, query: Any) -> dict[Any, Any]:
        try:
            return dict(self.pyslurm.db.Jobs.load(query))
        except self.pyslurm.RPCError as exc:
            raise SchedulerUnavailable(_rpc_message(exc)) from exc

    def _raw_id(self, task_id: str) -> int | None:
        parent, _, index = task_id.partition("_")
        for record in self._live().values():
            if str(record.array_id) == parent and str(self.dialect.array_task_id(record)) == index:
                return int(record.id)
        return None

    def _ids_of(self, record: Any) -> list[str]:
        """The ids a record stands for: a job, one array task, or pending tasks folded."""
        array_id, task_id = getattr(record, "array_id", None), self.dialect.array_task_id(record)
        if not array_id:
            return [str(record.id)]
        if task_id is not None:
            return [f"{array_id}_{task_id}"]
        waiting = getattr(record, "array_tasks_waiting", None) or ""
        return parse.expand_array_range(str(array_id), waiting) if waiting else []

    def _statuses(self, record: Any) -> Iterable[JobStatus]:
        raw_state = str(record.state or "")
        state = to_job_state(raw_state)
        final = state is not None and state.is_final
        started = state is not None and state.rank >= JobState.RUNNING.rank
        nodes = getattr(record, "allocated_nodes", None) or getattr(record, "nodelist", None)
        # How it ended (domain.job_explanations), as the CLI backend's slurm.endings gets it.
        ended = endings.from_pyslurm(record) if final and not getattr(record, "array_id", None) else {}
        for job_id in self._ids_of(record):
            yield JobStatus(
                slurm_job_id=job_id,
                state=state,
                slurm_state=raw_state,
                reason=parse.optional(str(record.state_reason or "")),
                exit_code=record.exit_code if final else None,
                signal=(record.exit_code_signal or 0) if final else None,
                work_dir=record.working_directory or None,
                nodes=nodes or None,
                submitted_at=_time(record.submit_time),
                started_at=_time(record.start_time) if started else None,
                ended_at=_time(record.end_time) if final else None,
                raw_job_id=str(record.id) if started or not getattr(record, "array_id", None) else None,
                **ended,
            )

    def _usage(self, record: Any) -> JobUsage | None:
        ids = self._ids_of(record)
        if len(ids) != 1:
            return None  # folded pending tasks used nothing yet
        state = to_job_state(str(record.state or ""))
        if state is not None and state.is_final and not record.memory:
            # slurmdbd records a short job's end before its requested TRES (seen on the dev
            # cluster: COMPLETED with no memory, then 1500 M 0.4 s later): not accounted yet,
            # asked again by the caller's next pass. Memory is a TRES Slurm always tracks.
            return None
        gpus = pyslurm_dialects.gpus_allocated(record)
        return JobUsage(
            slurm_job_id=ids[0],
            state=state,
            elapsed_s=int(record.elapsed_time or 0),
            alloc_cpus=int(record.cpus or 0),
            alloc_gpus=gpus,
            alloc_nodes=int(record.num_nodes or 1),
            alloc_mem_mb=int(record.memory or 0),
            partition=record.partition or None,
            account=record.account or None,
            user=record.user_name or None,
            started_at=_time(record.start_time),
            ended_at=_time(record.end_time),
            exit_code=record.exit_code if state is not None and state.is_final else None,
            tres_alloc={"cpu": int(record.cpus or 0), "mem": int(record.memory or 0),
                        "node": int(record.num_nodes or 1)} | ({"gres/gpu": gpus} if gpus else {}),
        )  # fmt: skip


def _uid(login: str) -> int:
    try:
        return pwd.getpwnam(login).pw_uid
    except KeyError as exc:
        raise PermissionDenied(f"no local user {login}") from exc
