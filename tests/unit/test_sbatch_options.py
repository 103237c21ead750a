"""The sbatch option table and the reading rules built on it (names, prefixes, values)."""

from __future__ import annotations

import pytest

from myriagate.domain.directives import normalise_script, notices_of, parse_directives
from myriagate.domain.jobs import JobSpec
from myriagate.domain.sbatch_options import dependency, kinds, names, table
from myriagate.domain.sbatch_options.kinds import ReadContext
from myriagate.domain.sbatch_options.merge import merge
from myriagate.errors import InvalidRequest, JobSpecInvalid, UnsafeValue
from myriagate.scripts.render import sbatch_args

CTX = ReadContext()


def _read(line: str) -> list[tuple[str, str]]:
    return [(d.option, d.value) for d in parse_directives(f"#!/bin/bash\n{line}\nsrun a.out\n")]


# --- the table is the one source ------------------------------------------------------
def test_every_accepted_option_has_a_jobspec_field_and_every_field_an_option() -> None:
    fields = {o.field for o in table.ACCEPTED}
    assert None not in fields
    assert fields == set(JobSpec.model_fields)


def test_every_option_is_an_sbatch_option_and_aliases_are_real_or_legacy() -> None:
    for option in table.OPTIONS:
        assert option.name in names.SBATCH_LONG_OPTIONS, option.name
        for alias in option.aliases:
            assert alias in names.SBATCH_LONG_OPTIONS or alias in names.LEGACY_NAMES, alias


def test_refused_options_have_reasons_in_both_languages_and_accepted_ones_help() -> None:
    for option in table.OPTIONS:
        if option.policy == "refused":
            assert option.reason is not None and option.reason.en and option.reason.fr, option.name
            assert not option.surfaces
        else:
            assert option.help.en and option.help.fr and option.kind is not None, option.name
        if option.policy == "rewritten":
            assert option.reason is not None and option.reason.en, option.name


def test_short_letters_are_sbatchs() -> None:
    expected = {
        "partition": "p",
        "time": "t",
        "nodes": "N",
        "ntasks": "n",
        "cpus-per-task": "c",
        "constraint": "C",
        "nodelist": "w",
        "exclude": "x",
        "gpus": "G",
        "qos": "q",
        "dependency": "d",
        "licenses": "L",
        "oversubscribe": "s",
        "job-name": "J",
    }
    for name, letter in expected.items():
        assert table.BY_NAME[name].short == letter


# --- names as sbatch's getopt reads them ----------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("#SBATCH --err=e.log", [("error", "e.log")]),
        ("#SBATCH --tasks-per-node=28", [("ntasks-per-node", "28")]),
        ("#SBATCH --share", [("oversubscribe", "")]),
        ("#SBATCH --shared", [("oversubscribe", "")]),
        ("#SBATCH --mem 4G", [("mem", "4G")]),  # exact match wins over --mem-per-cpu
        ("#SBATCH --exclusive --nodes=2", [("exclusive", ""), ("nodes", "2")]),
        ("#SBATCH --exclusive=user", [("exclusive", "user")]),
        ("#SBATCH -s -N2", [("oversubscribe", ""), ("nodes", "2")]),
        ("#SBATCH --requeue --no-requeue", [("requeue", ""), ("no-requeue", "")]),
        ("#SBATCH --open=append", [("open-mode", "append")]),
        ("#SBATCH -C 'ib&avx2'", [("constraint", "ib&avx2")]),
    ],
)
def test_names_resolve_like_sbatch(line: str, expected: list[tuple[str, str]]) -> None:
    assert _read(line) == expected


@pytest.mark.parametrize(
    ("written", "candidates"),
    [
        ("cpus-per", "--cpus-per-gpu, --cpus-per-task"),
        ("mem-per", "--mem-per-cpu, --mem-per-gpu"),
        ("mail", "--mail-type, --mail-user"),
    ],
)
def test_ambiguous_prefixes_name_the_candidates(written: str, candidates: str) -> None:
    with pytest.raises(JobSpecInvalid, match="ambiguous") as caught:
        _read(f"#SBATCH --{written}=1")
    assert candidates in caught.value.detail


@pytest.mark.parametrize(
    ("written", "suggestion"),
    [("ntask-per-node", "ntasks-per-node"), ("partiton", "partition"), ("cpu-per-task", "cpus-per-task")],
)
def test_unknown_options_suggest_the_closest_accepted_one(written: str, suggestion: str) -> None:
    with pytest.raises(UnsafeValue, match=f"did you mean --{suggestion}\\?"):
        _read(f"#SBATCH --{written}=2")


@pytest.mark.parametrize("line", ["#SBATCH --cpu-freq=high", "#SBATCH --bb=x", "#SBATCH -O"])
def test_sbatch_options_the_gateway_does_not_offer_are_refused_as_such(line: str) -> None:
    with pytest.raises(UnsafeValue, match="does not offer"):
        _read(line)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("#SBATCH --uid=0", "your own login"),
        ("#SBATCH --comment=mg:x", "tag the job"),
        ("#SBATCH --wckey=x", "workload keys"),
        ("#SBATCH --get-user-env", "--export"),
        ("#SBATCH --hold", "--begin"),
        ("#SBATCH hetjob", "heterogeneous"),
        ("#SBATCH --gid 0", "groups"),
    ],
)
def test_refused_options_say_why(line: str, reason: str) -> None:
    with pytest.raises(UnsafeValue, match=reason):
        _read(line)


def test_abbreviations_and_old_names_are_told_to_the_user() -> None:
    script = "#!/bin/bash\n#SBATCH --err=e.log --share --tasks-per-node=2\n"
    notices = notices_of(parse_directives(script))
    assert notices == (
        "line 2: --err read as --error, as sbatch does",
        "line 2: --share is the old name of --oversubscribe; sent as --oversubscribe",
    )


def test_a_bom_and_windows_line_endings_are_removed_and_said() -> None:
    text, notices = normalise_script("\ufeff#!/bin/bash\r\n#SBATCH -t 10\r\nsrun a\r\n")
    assert text == "#!/bin/bash\n#SBATCH -t 10\nsrun a\n"
    assert len(notices) == 2 and "byte-order mark" in notices[0] and "CRLF" in notices[1]
    assert _read("#SBATCH -t 10") == [("time", "10")]


# --- values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "now+1hour",
        "now+30minutes",
        "16:00",
        "2027-01-31T08:00",
        "tomorrow",
        "2027-01-31",
        "0131",
        "01/31/27",
        "noon",
        "now",
    ],
)
def test_begin_accepts_sbatch_time_forms(value: str) -> None:
    assert kinds.when(value, CTX) == value


@pytest.mark.parametrize("value", ["next week", "now+1 hour", "$(date)", "2027-01-31;reboot", ""])
def test_begin_refuses_anything_else(value: str) -> None:
    with pytest.raises(InvalidRequest):
        kinds.when(value, CTX)


@pytest.mark.parametrize("value", ["USR1@60", "B:USR1@60", "R:TERM", "10@120", "SIGUSR2"])
def test_signal_forms(value: str) -> None:
    assert kinds.signal(value, CTX) == value


@pytest.mark.parametrize("value", ["USR3", "B:USR1@999999", "0", "65", "B;USR1"])
def test_bad_signals(value: str) -> None:
    with pytest.raises(JobSpecInvalid):
        kinds.signal(value, CTX)


def test_feature_and_licence_names_are_extracted() -> None:
    assert kinds.feature_names("[ib&avx2]*2|skx") == ("ib", "avx2", "skx")
    assert kinds.license_names("matlab:2,ansys@flexlm:1") == ("matlab", "ansys@flexlm")
    assert kinds.license_names("matlab@2") == ("matlab@2",)  # @ names a server, never a count


@pytest.mark.parametrize("value", ["2", "a100:2", "a100_1g.10gb:1"])
def test_gpu_counts(value: str) -> None:
    assert kinds.gpus(value, CTX) == value


@pytest.mark.parametrize("value", ["0", "a100:0", "a100", "gpu:a100:2", "-1"])
def test_bad_gpu_counts(value: str) -> None:
    with pytest.raises(JobSpecInvalid):
        kinds.gpus(value, CTX)


def test_nice_below_zero_is_refused_with_the_reason() -> None:
    with pytest.raises(JobSpecInvalid, match="administrators"):
        merge([], {"nice": "-5"})


def test_mail_types_are_checked_and_upper_cased() -> None:
    assert merge([], {"mail-type": "end,fail"}).mail_type == "END,FAIL"
    with pytest.raises(JobSpecInvalid, match="unknown mail type"):
        merge([], {"mail-type": "END,SOMETIMES"})


# --- dependencies ------------------------------------------------------------------------------
def test_dependency_expressions_read_and_rewrite_ids() -> None:
    dep = dependency.parse("afterok:1234:5f3a9c21,afterany:99_3,singleton")
    assert [c.type for c in dep.clauses] == ["afterok", "afterany", "singleton"]
    assert [r.text for r in dep.refs] == ["1234", "5f3a9c21", "99_3"]
    assert dep.with_slurm_ids(lambda r: "7" if r.text == "5f3a9c21" else r.text) == (
        "afterok:1234:7,afterany:99_3,singleton"
    )
    assert str(dependency.parse("after:12+30?afternotok:13")) == "after:12+30?afternotok:13"


@pytest.mark.parametrize(
    "value",
    [
        "afterok",
        "afterok:",
        "before:12",
        "afterok:12,afterany:13?after:14",
        "afterok:12+5",
        "afterok:$(id)",
        "singleton:12",
        "afterburstbuffer:12",
        "afterok:abc",
    ],
)
def test_bad_dependencies_are_refused(value: str) -> None:
    with pytest.raises(JobSpecInvalid):
        dependency.parse(value)


# --- overrides and families -------------------------------------------------------------------
def test_command_line_memory_option_replaces_the_scripts_other_memory_option() -> None:
    script = parse_directives("#!/bin/bash\n#SBATCH --mem-per-cpu=2G\n")
    spec = merge(script, {"mem": "8G"})
    assert (spec.mem_mb, spec.mem_per_cpu_mb) == (8192, None)


def test_two_memory_options_in_one_script_are_an_error_like_sbatch() -> None:
    with pytest.raises(JobSpecInvalid, match="cannot be combined"):
        merge(parse_directives("#!/bin/bash\n#SBATCH --mem=2G\n#SBATCH --mem-per-cpu=1G\n"))


def test_cpus_per_gpu_on_the_command_line_replaces_the_scripts_cpus_per_task() -> None:
    script = parse_directives("#!/bin/bash\n#SBATCH --cpus-per-task=4\n")
    spec = merge(script, {"cpus-per-gpu": 8})
    assert (spec.cpus_per_task, spec.cpus_per_gpu) == (None, 8)
    with pytest.raises(JobSpecInvalid, match="cannot be combined"):
        merge(parse_directives("#!/bin/bash\n#SBATCH -c 4 --cpus-per-gpu=2\n"))


def test_the_last_of_requeue_and_no_requeue_wins() -> None:
    spec = merge(parse_directives("#!/bin/bash\n#SBATCH --requeue\n#SBATCH --no-requeue\n"))
    assert (spec.requeue, spec.no_requeue) == (None, True)
    assert merge(parse_directives("#!/bin/bash\n#SBATCH --no-requeue\n"), {"requeue": True}).requeue


def test_a_typical_mpi_header_becomes_the_same_sbatch_options() -> None:
    script = (
        "#!/bin/bash\n#SBATCH -J cfd\n#SBATCH --nodes=2\n#SBATCH --tasks-per-node=28\n"
        "#SBATCH --exclusive\n#SBATCH --time=2-00:00:00\n#SBATCH --mail-type=END,FAIL\n"
        "#SBATCH --constraint=broadwell\n#SBATCH --signal=B:USR1@300\n\nsrun ./solver\n"
    )
    args = sbatch_args(merge(parse_directives(script)))
    assert args == (
        "--job-name=cfd",
        "--time=2-00:00:00",
        "--signal=B:USR1@300",
        "--nodes=2",
        "--ntasks-per-node=28",
        "--exclusive",
        "--constraint=broadwell",
        "--mail-type=END,FAIL",
        "--ignore-pbs",
    )


def test_flags_given_as_overrides() -> None:
    spec = merge([], {"exclusive": True, "oversubscribe": False, "requeue": None})
    assert (spec.exclusive, spec.oversubscribe, spec.requeue) == ("node", None, None)
    with pytest.raises(JobSpecInvalid, match="needs a value"):
        merge([], {"time": True})
