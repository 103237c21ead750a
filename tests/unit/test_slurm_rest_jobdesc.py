"""The v0.0.38 job object from the renderer's sbatch options (issue #16): every option the
gateway accepts either maps to slurmrestd's key or is refused by name; the environment is the
login's, never the gateway's."""

from __future__ import annotations

import json

import pytest

from myriagate.domain.directives import parse_directives
from myriagate.domain.sbatch_options.accepted import ACCEPTED_OPTIONS
from myriagate.domain.sbatch_options.merge import merge
from myriagate.errors import SchedulerRejected, UnsafeValue
from myriagate.scripts.render import sbatch_args
from myriagate.slurm.rest_jobdesc import job_fields
from myriagate.web.i18n import Translator
from tests.fakes.hostile import HOSTILE_STRINGS

HOME = "/home/alice"


def fields(*args: str) -> dict[str, object]:
    return job_fields(args, home=HOME, login="alice", path="/usr/bin:/bin", tag="mg:t")


def test_the_renderers_own_options_map_to_slurmrestds_keys_with_sbatchs_text() -> None:
    spec = merge(
        parse_directives(
            "#!/bin/bash\n#SBATCH -J 'my run' -p court -t 90 -N 1 -n 4 -c 2 --mem=4G\n"
            "#SBATCH --gres=gpu:v100:2 -a 0-9%2 -o out/%x_%A_%a.log -e err.log -A caen-climat -D runs\n"
            "#SBATCH --export=NONE,FOO=bar\n"
        )
    )
    job = fields(*sbatch_args(spec))  # ends with --ignore-pbs, as every real submission does

    assert job == {
        "name": "my run", "partition": "court", "account": "caen-climat", "time_limit": "01:30:00",
        "nodes": "1", "tasks": "4", "cpus_per_task": "2", "memory_per_node": "4096M",
        "gres": "gpu:v100:2", "array": "0-9%2", "standard_output": "out/%x_%A_%a.log",
        "standard_error": "err.log", "current_working_directory": "runs", "comment": "mg:t",
        "environment": {"HOME": HOME, "USER": "alice", "LOGNAME": "alice", "PATH": "/usr/bin:/bin",
                        "LANG": "C.UTF-8", "FOO": "bar"},
    }  # fmt: skip


def test_without_chdir_the_job_starts_in_the_logins_home() -> None:
    assert fields("--partition=debug")["current_working_directory"] == HOME


def test_every_accepted_option_is_mapped_or_refused_by_name() -> None:
    # --signal's example is B:USR1@60, which 22.05 misreads: refused on its own below.
    samples = {"flag": None, "exclusive": None, "signal": "USR1@60"}
    for option in ACCEPTED_OPTIONS:
        kind = option.kind.name if option.kind is not None else "flag"
        value = samples.get(kind, option.kind.example if option.kind is not None else None)
        arg = f"--{option.name}" if value is None else f"--{option.name}={value}"
        try:
            job = fields(arg)
        except SchedulerRejected as refused:
            assert f"--{option.name} cannot be used on this cluster" in refused.detail
            assert option.name in {"oversubscribe", "switches"}, f"{arg} refused: {refused.detail}"
        else:
            assert job != fields() or option.name == "export", arg  # something was set


def test_flags_and_options_slurmrestd_reads_differently() -> None:
    job = fields("--hold", "--no-requeue")
    assert (job["hold"], job["requeue"]) == (True, False)
    assert fields("--exclusive")["exclusive"] == "exclusive"  # a boolean is refused by 22.05
    assert fields("--exclusive=user")["exclusive"] == "user"
    assert fields("--kill-on-invalid-dep=yes")["kill_on_invalid_dependency"] is True
    assert fields("--signal=R:USR1@30")["signal"] == "R:USR1@30"
    with pytest.raises(SchedulerRejected, match="B:"):
        fields("--signal=B:USR1@30")
    with pytest.raises(SchedulerRejected, match="oversubscribe"):
        fields("--oversubscribe")


def test_unknown_options_are_refused_by_name_never_dropped() -> None:
    with pytest.raises(SchedulerRejected, match="--uid cannot be used on this cluster") as refused:
        fields("--uid=0")
    assert Translator("fr").text(refused.value.detail) == (
        "--uid ne peut pas être utilisé sur ce cluster : son API REST Slurm ne l'accepte pas"
    )
    with pytest.raises(UnsafeValue):
        fields("--comment=mg:other")  # the tag is the gateway's
    with pytest.raises(UnsafeValue):
        fields("-p", "court")


def test_the_environment_is_the_logins_never_the_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYRIAGATE_SECRET_KEY", "do-not-leak")
    monkeypatch.setenv("SBATCH_ACCOUNT", "someone-else")

    env = fields("--export=ALL,OMP_NUM_THREADS=4")["environment"]

    assert env == {"HOME": HOME, "USER": "alice", "LOGNAME": "alice", "PATH": "/usr/bin:/bin",
                   "LANG": "C.UTF-8", "OMP_NUM_THREADS": "4"}  # fmt: skip
    with pytest.raises(SchedulerRejected, match="give the variable a value"):
        fields("--export=MYRIAGATE_SECRET_KEY")  # would copy the gateway's own value


@pytest.mark.parametrize("name", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_values_travel_as_json_strings_verbatim_or_are_refused(name: str) -> None:
    try:
        job = fields(f"--job-name={name}")
    except UnsafeValue:
        assert any(ord(c) < 32 or c == "\x7f" for c in name)
    else:
        assert json.loads(json.dumps(job))["name"] == name  # no shell, no quoting to get wrong
