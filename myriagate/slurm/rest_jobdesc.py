"""The v0.0.38 ``job`` object slurmrestd submits, from the renderer's sbatch options.

slurmrestd 22.05 reads each key of ``job`` through the same option code as sbatch
(``slurm_process_option_data``, keyed by ``src/plugins/openapi/v0.0.38/jobs.c``'s table), so a
value goes as sbatch's own text (``"01:30:00"``, ``"1500M"``) and Slurm reads it exactly as
sbatch would. What differs is the key names, a few options that the table disables or reads
differently (refused here by name, never dropped: measured on the dev cluster), and the
environment, which sbatch takes from the submitting process and slurmrestd must be given.

The environment is the login's, as with sbatch run as that login by the CLI backend: HOME,
USER, LOGNAME, PATH (the profile's command path) and LANG (``runners.environment``), never the
gateway's own; ``--export=VAR=value`` items are added. ``get_user_environment`` (sbatch
``--get-user-env``) is refused by slurmctld for any submitter but root, so it is not used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from myriagate.domain import values
from myriagate.errors import SchedulerRejected, Text
from myriagate.slurm import commands

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

# sbatch long option -> v0.0.38 job key; the value goes as sbatch's text.
_KEYS: Mapping[str, str] = {
    "job-name": "name", "partition": "partition", "account": "account", "qos": "qos",
    "reservation": "reservation", "time": "time_limit", "time-min": "time_minimum",
    "begin": "begin_time", "deadline": "deadline", "dependency": "dependency", "nice": "nice",
    "nodes": "nodes", "ntasks": "tasks", "ntasks-per-node": "tasks_per_node",
    "ntasks-per-socket": "tasks_per_socket", "cpus-per-task": "cpus_per_task",
    "threads-per-core": "threads_per_core", "hint": "cpu_binding_hint", "distribution": "distribution",
    "mem": "memory_per_node", "mem-per-cpu": "memory_per_cpu", "mem-per-gpu": "memory_per_gpu",
    "tmp": "temporary_disk_per_node", "constraint": "constraints", "nodelist": "nodelist",
    "exclude": "exclude_nodes", "licenses": "licenses", "gres": "gres", "gpus": "gpus",
    "gpus-per-node": "gpus_per_node", "gpus-per-task": "gpus_per_task", "cpus-per-gpu": "cpus_per_gpu",
    "array": "array", "output": "standard_output", "error": "standard_error", "input": "standard_input",
    "open-mode": "open_mode", "chdir": "current_working_directory", "mail-type": "mail_type",
    "mail-user": "mail_user",
}  # fmt: skip

# Flags (no value) -> the key and the boolean it sets.
_FLAGS: Mapping[str, tuple[str, bool]] = {
    "requeue": ("requeue", True),
    "no-requeue": ("requeue", False),
    "hold": ("hold", True),
}

# Refused by name (each tried against slurmrestd 22.05 on the dev cluster): its table disables
# the oversubscribe and required_switches keys.
_REFUSED = frozenset({"oversubscribe", "switches"})


def _not_accepted(name: str) -> Text:
    return Text("--%(name)s cannot be used on this cluster: its Slurm REST API does not accept it", name=name)


# Nothing to set: slurmrestd never reads #PBS lines.
_NOTHING_TO_SET = frozenset({"ignore-pbs"})


def _special(name: str, value: str | None) -> dict[str, Any] | None:
    """Options whose value slurmrestd reads differently from sbatch (None: not one of them)."""
    if name == "exclusive":
        # A bare --exclusive is sbatch's "exclusive"; the data reader refuses a boolean.
        return {"exclusive": value or "exclusive"}
    if name == "kill-on-invalid-dep":
        return {"kill_on_invalid_dependency": value == "yes"}
    if name == "signal":
        if value is not None and value.upper().startswith("B:"):
            raise SchedulerRejected(
                Text(
                    "--signal=B:… cannot be used on this cluster: its Slurm REST API misreads B: "
                    "(the batch shell only); give the signal without B:"
                )
            )
        return {"signal": value}
    return None


def job_fields(args: Sequence[str], *, home: str, login: str, path: str, tag: str) -> dict[str, Any]:
    """The ``job`` object for the renderer's long options ``args`` (checked again here).

    ``home`` is the login's home: the job starts there when ``--chdir`` is not given (without
    one, slurmrestd starts it in ``/``, measured). ``tag`` becomes the job's comment.
    """
    job: dict[str, Any] = {"current_working_directory": home}
    export = "ALL"
    for arg in commands.sbatch_options(args):
        name, has_value, raw = arg[2:].partition("=")
        value = raw if has_value else None
        if name in _NOTHING_TO_SET:
            continue
        if name == "export":
            export = value or "ALL"
            continue
        if name in _REFUSED:
            raise SchedulerRejected(_not_accepted(name))
        special = _special(name, value)
        if special is not None:
            job.update(special)
        elif name in _FLAGS:
            key, setting = _FLAGS[name]
            job[key] = setting
        elif name in _KEYS and value is not None:
            job[_KEYS[name]] = value
        else:
            raise SchedulerRejected(_not_accepted(name))
    job["comment"] = commands.tag(tag)
    job["environment"] = job_environment(export, home=home, login=login, path=path)
    return job


def job_environment(export: str, *, home: str, login: str, path: str) -> dict[str, str]:
    """The job's starting environment for ``--export=export``: the login's own variables as the
    CLI backend's sbatch passes them, plus ``VAR=value`` items. A bare ``VAR`` would copy the
    submitting process's value, which here is the gateway's: refused."""
    # The same variables as runners.environment.login_environment (which this layer may not
    # import): what the CLI backend's sbatch runs with, and so what its jobs start with.
    variables = {
        "HOME": home,
        "USER": values.login(login),
        "LOGNAME": login,
        "PATH": values.search_path(path, "command path"),
        "LANG": "C.UTF-8",
    }
    for item in export.split(","):
        if not item or item.upper() in {"ALL", "NONE", "NIL"}:
            continue
        name, has_value, value = item.partition("=")
        if not has_value:
            raise SchedulerRejected(
                Text(
                    "--export=%(name)s: on this cluster give the variable a value (%(name)s=value)", name=name
                )
            )
        variables[name] = value
    return variables
