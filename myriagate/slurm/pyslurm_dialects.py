"""What differs between pyslurm releases, in one place, chosen by ``pyslurm.version()``.

PyslurmBackend builds a ``JobSubmitDescription`` from the renderer's sbatch options (the same
``--name=value`` list the CLI backend hands to sbatch) and reads Slurm's records back. The
attribute names and the value types they take are not the same in every pyslurm release:

- **22.5** (Slurm 22.05; read from pyslurm 22.5.3's ``core/job/submission.pyx`` and tried on
  the dev cluster): ``time_limit`` takes minutes as an ``int`` or a Slurm time string, never a
  digit string; an array's task 0 reads as no task id; flags are booleans;
  ``--exclusive``/``--oversubscribe`` are one attribute, ``resource_sharing``. Three options
  it accepts are never applied or crash, so they are refused here rather than silently
  dropped: ``signal`` and ``switches`` (their setters are not called), ``mem-per-gpu`` (a
  NameError). ``--hint`` has no attribute. Accounting records carry GPUs in
  ``tres_allocated``.
- **25.x**: the names the backend was first written to (``tests/fakes/fake_pyslurm``), values
  passed as sbatch writes them.

Both: the job's environment is never the gateway's. pyslurm's default ``environment="ALL"``
copies the *calling process's* environment into the job (the gateway's settings and secrets);
the job gets the login's own environment instead (``get_user_environment``), plus the variables
``--export`` names with a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myriagate.errors import ConfigError, SchedulerRejected

# An option's value (None for a flag) -> the attributes it sets.
Convert = Callable[[str | None], dict[str, Any]]


def _text(attribute: str) -> Convert:
    return lambda value: {attribute: value}


def _number(attribute: str) -> Convert:
    return lambda value: {attribute: int(value or 0)}


def _minutes_or_text(attribute: str) -> Convert:
    # pyslurm 22.5's timestr_to_mins hands a digit string on unconverted (TypeError later).
    return lambda value: {attribute: int(value) if value and value.isdigit() else value}


def _flag(attribute: str, setting: Any) -> Convert:
    return lambda _value: {attribute: setting}


def _exclusive(value: str | None) -> dict[str, Any]:
    return {"resource_sharing": value or "no"}  # bare --exclusive: no sharing; or user / mcs


def _mail_types(value: str | None) -> dict[str, Any]:
    types = [t for t in (value or "").split(",") if t]
    if [t.upper() for t in types] == ["NONE"]:
        return {}
    if any(t.upper() == "INVALID_DEPEND" for t in types):
        raise SchedulerRejected("--mail-type=INVALID_DEPEND is not supported by the pyslurm backend")
    return {"mail_types": ",".join(types)}


def _gpus_per_node(value: str | None) -> dict[str, Any]:
    # Slurm reads --gpus-per-node=N as a per-node GRES request; pyslurm 22.5 has no attribute
    # of its own for it. Merged with --gres by ``submit_attributes``.
    return {"gres_per_node": f"gpu:{value}"}


_COMMON: dict[str, Convert] = {
    "job-name": _text("name"), "partition": _text("partitions"), "account": _text("account"),
    "qos": _text("qos"), "reservation": _text("reservations"), "begin": _text("begin_time"),
    "deadline": _text("deadline"), "dependency": _text("dependencies"),
    "nodes": _text("nodes"), "constraint": _text("constraints"), "nodelist": _text("required_nodes"),
    "exclude": _text("excluded_nodes"), "licenses": _text("licenses"), "gres": _text("gres_per_node"),
    "gpus": _text("gpus"), "array": _text("array"), "output": _text("standard_output"),
    "error": _text("standard_error"), "input": _text("standard_in"),
    "open-mode": _text("log_files_open_mode"), "chdir": _text("working_directory"),
    "mail-type": _mail_types, "mail-user": _text("mail_user"), "distribution": _text("distribution"),
    "mem": _text("memory_per_node"), "mem-per-cpu": _text("memory_per_cpu"),
    "tmp": _text("temporary_disk_per_node"),
}  # fmt: skip

_RELEASE_22_5: dict[str, Convert] = _COMMON | {
    "time": _minutes_or_text("time_limit"), "time-min": _minutes_or_text("time_limit_min"),
    "nice": _number("nice"), "ntasks": _number("ntasks"), "ntasks-per-node": _number("ntasks_per_node"),
    "ntasks-per-socket": _number("ntasks_per_socket"), "cpus-per-task": _number("cpus_per_task"),
    "threads-per-core": _number("threads_per_core"), "gpus-per-task": _text("gpus_per_task"),
    "cpus-per-gpu": _number("cpus_per_gpu"), "gpus-per-node": _gpus_per_node,
    "requeue": _flag("is_requeueable", True), "no-requeue": _flag("is_requeueable", False),
    "kill-on-invalid-dep": lambda value: {"kill_on_invalid_dependency": value == "yes"},
    "exclusive": _exclusive, "oversubscribe": _flag("resource_sharing", "yes"),
}  # fmt: skip
_REFUSED_22_5 = {
    "signal": "pyslurm 22.5 accepts --signal but never applies it",
    "switches": "pyslurm 22.5 accepts --switches but never applies it",
    "mem-per-gpu": "pyslurm 22.5 fails on --mem-per-gpu",
    "hint": "pyslurm 22.5 has no --hint",
}

_RELEASE_25: dict[str, Convert] = _COMMON | {
    name: _text(attribute)
    for name, attribute in {
        "time": "time_limit", "time-min": "time_limit_min", "nice": "nice", "ntasks": "ntasks",
        "ntasks-per-node": "ntasks_per_node", "ntasks-per-socket": "ntasks_per_socket",
        "cpus-per-task": "cpus_per_task", "threads-per-core": "threads_per_core",
        "gpus-per-task": "gpus_per_task", "cpus-per-gpu": "cpus_per_gpu",
        "gpus-per-node": "gpus_per_node", "signal": "signal", "switches": "switches",
        "mem-per-gpu": "memory_per_gpu", "hint": "hint",
    }.items()
} | {
    "requeue": _flag("is_requeueable", True), "no-requeue": _flag("is_requeueable", False),
    "kill-on-invalid-dep": lambda value: {"kill_on_invalid_dependency": value == "yes"},
    "exclusive": _exclusive, "oversubscribe": _flag("resource_sharing", "yes"),
}  # fmt: skip

# Options that change nothing a JobSubmitDescription holds: pyslurm never reads #PBS lines.
_NOTHING_TO_SET = frozenset({"ignore-pbs"})


@dataclass(frozen=True)
class Dialect:
    """One pyslurm release family: how an sbatch option becomes attributes, and back."""

    release: tuple[int, int]
    options: Mapping[str, Convert]
    refused: Mapping[str, str]
    # pyslurm 22.5 reads a task id of 0 as "no value" (u32_parse's zero_is_noval): task 0 of an
    # array looks like the record of its folded pending tasks, except that nothing is waiting.
    task_zero_reads_none: bool = False

    def array_task_id(self, record: Any) -> int | None:
        """The array task a record is (None: not one task), with that 22.5 quirk undone."""
        task = getattr(record, "array_task_id", None)
        if task is None and self.task_zero_reads_none and not getattr(record, "array_tasks_waiting", None):
            return 0
        return int(task) if task is not None else None

    def submit_attributes(self, args: Sequence[str], *, home: str, login: str | None) -> dict[str, Any]:
        """``JobSubmitDescription`` keyword arguments for the renderer's long options ``args``.

        ``home`` is the login's home directory: the job starts there when ``--chdir`` is not
        given (pyslurm's default is the gateway's own working directory).
        """
        attributes: dict[str, Any] = {"working_directory": home}
        export = "ALL"
        for arg in args:
            name, has_value, raw = arg[2:].partition("=")
            value = raw if has_value else None
            if name in _NOTHING_TO_SET:
                continue
            if name == "hold":
                attributes["priority"] = 0
                continue
            if name == "export":
                export = value or "ALL"
                continue
            if name in self.refused:
                why = self.refused[name]
                raise SchedulerRejected(f"--{name} is not supported by the pyslurm backend: {why}")
            convert = self.options.get(name)
            if convert is None:
                raise SchedulerRejected(f"--{name} is not supported by the pyslurm backend")
            for key, setting in convert(value).items():
                if key == "gres_per_node" and key in attributes:
                    setting = f"{attributes[key]},{setting}"  # --gres and --gpus-per-node together
                attributes[key] = setting
        attributes.update(job_environment(export, home=home, login=login))
        return attributes


def job_environment(export: str, *, home: str, login: str | None) -> dict[str, Any]:
    """The environment a job submitted through pyslurm starts with, for ``--export=export``.

    As with sbatch run by the login, the job sees the login's own environment (Slurm loads it
    on the node: ``get_user_environment``), never the gateway's; ``VAR=value`` items are added.
    A bare ``VAR`` would copy the submitting process's value, which through pyslurm is the
    gateway's: refused.
    """
    variables: dict[str, str] = {"HOME": home}
    if login is not None:
        variables |= {"USER": login, "LOGNAME": login}
    for item in export.split(","):
        if item.upper() in {"ALL", "NONE", "NIL"} or not item:
            continue
        name, has_value, value = item.partition("=")
        if not has_value:
            raise SchedulerRejected(
                f"--export={name} (a variable without a value) needs the CLI backend: give it a value"
            )
        variables[name] = value
    return {"environment": variables, "get_user_environment": True}


DIALECTS = (
    Dialect((22, 5), _RELEASE_22_5, _REFUSED_22_5, task_zero_reads_none=True),
    Dialect((25, 11), _RELEASE_25, {}),
)


def for_release(release: tuple[int, int]) -> Dialect:
    """The dialect of pyslurm ``release`` (major, minor): the family of the same major release
    (pyslurm's names change between Slurm majors, not within one)."""
    for dialect in DIALECTS:
        if dialect.release[0] == release[0]:
            return dialect
    known = ", ".join(f"{a}.{b}" for a, b in (d.release for d in DIALECTS))
    raise ConfigError(
        f"pyslurm {release[0]}.{release[1]} is not a release this gateway was written for ({known}): "
        "use the CLI backend"
    )


def gpus_allocated(record: Any) -> int:
    """GPUs an accounting record says the job held: ``gres`` (25.x) or ``tres_allocated`` (22.5)."""
    gres = getattr(record, "gres", None)
    if isinstance(gres, Mapping) and gres:
        return sum(int(n) for key, n in gres.items() if str(key).split(":")[0] == "gpu")
    tres = getattr(record, "tres_allocated", None)
    if isinstance(tres, Mapping):
        return sum(int(n) for key, n in tres.items() if str(key) == "gres/gpu")
    return 0
