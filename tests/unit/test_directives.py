"""#SBATCH parsing and merging: sbatch's reading rules, refusals, hostile values."""

from __future__ import annotations

import pytest

from myriagate.domain.directives import merge, parse_directives
from myriagate.domain.jobs import GresRequest
from myriagate.domain.sbatch_options import table
from myriagate.errors import InvalidRequest, JobSpecInvalid, UnsafeValue
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS

REFUSED = {o.name: o.reason.en for o in table.OPTIONS if o.policy == "refused" and o.reason}

SCRIPT = """#!/bin/bash
# a comment
#SBATCH --job-name="my run" -p court   # trailing comment
#SBATCH -t 10 -n4
  # an indented comment does not end the header

#SBATCH --mem 4G --export=none
#SLURM --gres=gpu:v100:2
echo start
#SBATCH --uid=0
"""


def test_reads_the_header_like_sbatch() -> None:
    directives = parse_directives(SCRIPT)
    assert [(d.option, d.value, d.line_no) for d in directives] == [
        ("job-name", "my run", 3),
        ("partition", "court", 3),
        ("time", "10", 4),
        ("ntasks", "4", 4),
        ("mem", "4G", 7),
        ("export", "none", 7),
        ("gres", "gpu:v100:2", 8),
    ]


def test_directives_after_the_first_command_are_ignored_as_sbatch_does() -> None:
    options = {d.option for d in parse_directives(SCRIPT)}
    assert "uid" not in options  # the refused --uid=0 comes after `echo start`


def test_merge_builds_a_validated_spec() -> None:
    spec = merge(parse_directives(SCRIPT))
    assert spec.job_name == "my run"
    assert spec.partition == "court"
    assert spec.time_limit_s == 600
    assert spec.ntasks == 4
    assert spec.mem_mb == 4096
    assert spec.export == "NONE"
    assert spec.gres == (GresRequest(name="gpu", type="v100", count=2),)


def test_overrides_win_over_the_script_and_none_keeps_it() -> None:
    spec = merge(
        parse_directives(SCRIPT),
        {"time": "01:00:00", "cpus_per_task": 2, "--partition": "long", "job-name": None},
    )
    assert spec.time_limit_s == 3600
    assert spec.cpus_per_task == 2
    assert spec.partition == "long"
    assert spec.job_name == "my run"


@pytest.mark.parametrize(
    ("line", "option", "value"),
    [
        ("#SBATCH -px", "partition", "x"),
        ("#SBATCH -p x", "partition", "x"),
        ("#SBATCH --partition x", "partition", "x"),
        ("#SBATCH --partition=x", "partition", "x"),
        ("#SBATCH -J 'a b'", "job-name", "a b"),
        ("#SBATCH -J a\\ b", "job-name", "a b"),
        ('#SBATCH -J "a # b"', "job-name", "a # b"),
        ("#SBATCH -J run#3", "job-name", "run"),  # sbatch: an unquoted # starts a comment
        ("#SBATCH --time=1-00:00:00", "time", "1-00:00:00"),
        ("#SBATCH -a 0-9%2", "array", "0-9%2"),
        ("#SBATCH -o out/%x-%j.log", "output", "out/%x-%j.log"),
        ("#SBATCH -A caen-climat", "account", "caen-climat"),
        ("#SBATCH -D results", "chdir", "results"),
    ],
)
def test_option_forms(line: str, option: str, value: str) -> None:
    found = parse_directives(f"#!/bin/bash\n{line}\ntrue\n")
    assert [(d.option, d.value, d.line_no) for d in found] == [(option, value, 2)]


@pytest.mark.parametrize("option", sorted(REFUSED))
def test_refused_options_say_why_and_where(option: str) -> None:
    with pytest.raises(UnsafeValue) as caught:
        parse_directives(f"#!/bin/bash\n\n#SBATCH --{option}=x\n")
    assert "line 3" in caught.value.detail
    assert REFUSED[option] in caught.value.detail
    assert caught.value.fields[0].loc == ("script", 3)


@pytest.mark.parametrize("line", ["#SBATCH -M other", "#SBATCH -H", "#SBATCH -F hosts.txt"])
def test_refused_short_options(line: str) -> None:
    with pytest.raises(UnsafeValue, match="not allowed"):
        parse_directives(f"#!/bin/bash\n{line}\n")


def test_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(UnsafeValue) as caught:
        parse_directives("#!/bin/bash\n#SBATCH --partiton=court\n")
    assert "did you mean --partition?" in caught.value.detail


def test_unknown_short_option_is_refused() -> None:
    with pytest.raises(UnsafeValue, match="-y is not an sbatch option"):
        parse_directives("#!/bin/bash\n#SBATCH -y node1\n")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("#!/bin/bash\n#SBATCH -J 'open\n", "unmatched ' quote"),
        ("#!/bin/bash\n#SBATCH --time\n", "needs a value"),
        ("#!/bin/bash\n#SBATCH court\n", "is not an option"),
        ("#!/bin/bash\n#PBS -l walltime=1:00:00\n", "#PBS"),
        ("#!/bin/bash\r\n#SBATCH -p court\r\n", "Windows line endings"),
    ],
)
def test_malformed_lines_are_refused_with_their_line(script: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_directives(script)


def test_nul_is_refused() -> None:
    with pytest.raises(UnsafeValue):
        parse_directives("#!/bin/bash\n#SBATCH -J a\x00b\n")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"time": "ten minutes"}, "not a Slurm time"),
        ({"nodes": "2-4"}, "whole number"),
        ({"ntasks": 0}, "whole number"),
        ({"mem": "lots"}, "memory size"),
        ({"array": "1-x"}, "index list"),
        ({"gres": "gpu:0"}, "at least 1"),
        ({"mem": "1G", "mem_per_cpu": "1G"}, "cannot be combined"),
    ],
)
def test_bad_values_are_invalid(overrides: dict[str, str | int], message: str) -> None:
    with pytest.raises(JobSpecInvalid, match=message):
        merge([], overrides)


def test_errors_from_the_script_name_the_line() -> None:
    with pytest.raises(JobSpecInvalid) as caught:
        merge(parse_directives("#!/bin/bash\n#SBATCH -N 1\n#SBATCH --time=soon\n"))
    assert "line 3" in caught.value.detail
    assert caught.value.fields[0].loc == ("script", 3)


def test_unknown_override_key_is_refused_with_a_suggestion() -> None:
    with pytest.raises(UnsafeValue, match="did you mean --cpus-per-task"):
        merge([], {"cpus_per_tsk": 2})


@pytest.mark.parametrize("key", ["comment", "uid", "wrap", "hold", "get-user-env"])
def test_gateway_owned_options_cannot_be_overridden(key: str) -> None:
    with pytest.raises(UnsafeValue, match="not allowed"):
        merge([], {key: "x"})


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("ALL", "ALL"),
        ("none", "NONE"),
        ("ALL,OMP_NUM_THREADS=4", "ALL,OMP_NUM_THREADS=4"),
        ("NIL", "NIL"),
        ("NONE,A=1,B", "NONE,A=1,B"),
    ],
)
def test_export_accepts_all_none_and_plain_variables(value: str, kept: str) -> None:
    assert merge([], {"export": value}).export == kept


@pytest.mark.parametrize(
    "value",
    ["ALL,LD_PRELOAD=/tmp/x.so", "PATH", "ALL,BASH_ENV=/tmp/x", "ALL,A=$(id)", "ALL,SLURM_JOB_ID=1", "A B"],
)
def test_export_refuses_names_that_change_how_the_job_starts(value: str) -> None:
    with pytest.raises(UnsafeValue, match="export"):
        merge([], {"export": value})


@pytest.mark.parametrize(
    ("chdir", "expected"),
    [
        ("results", "results"),
        ("~", "/home/alice"),
        ("~/runs/a", "/home/alice/runs/a"),
        ("/home/alice/runs", "/home/alice/runs"),
        ("/home/alice", "/home/alice"),
    ],
)
def test_chdir_inside_home_is_accepted(chdir: str, expected: str) -> None:
    assert merge([], {"chdir": chdir}, home="/home/alice").chdir == expected


@pytest.mark.parametrize("chdir", ["/tmp", "/home/bob", "/home/alicex", "~root", "/", "../x", "a/../../b"])
def test_chdir_outside_home_is_refused(chdir: str) -> None:
    with pytest.raises(UnsafeValue):
        merge([], {"chdir": chdir}, home="/home/alice")


def test_absolute_chdir_without_a_known_home_is_refused() -> None:
    with pytest.raises(UnsafeValue):
        merge([], {"chdir": "/home/alice"})


# --- hostile strings ----------------------------------------------------------------
STRING_OPTIONS = [
    "job-name",
    "partition",
    "time",
    "nodes",
    "mem",
    "gres",
    "array",
    "output",
    "account",
    "export",
]


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
@pytest.mark.parametrize("option", STRING_OPTIONS)
def test_hostile_override_is_refused_or_kept_verbatim(option: str, hostile: str) -> None:
    try:
        spec = merge([], {option: hostile})
    except InvalidRequest as exc:
        assert exc.detail  # a clear, non-empty reason
        return
    kept = {v for v in spec.model_dump().values() if isinstance(v, str)}
    if option == "gres":
        # "a,b,c" is a well-formed GRES list; the profile check refuses non-GPU names later.
        assert all(g.name.isalnum() and g.count == 1 for g in spec.gres)
    else:
        # Otherwise accepted only as free text (names, file patterns), and exactly as given.
        assert option in {"job-name", "output", "export"}
        if option == "export":  # only plain variable names, exported as written
            assert spec.export == hostile and all(part.isidentifier() for part in hostile.split(","))
        else:
            assert hostile in kept


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
@pytest.mark.parametrize("option", ["job-name", "partition", "output", "account", "chdir", "export"])
def test_hostile_directive_is_refused_or_kept_verbatim(option: str, hostile: str) -> None:
    quoted = hostile.replace("\\", "\\\\").replace('"', '\\"')
    script = f'#!/bin/bash\n#SBATCH --{option}="{quoted}"\ntouch {CANARY}\n'
    try:
        spec = merge(parse_directives(script), home="/home/alice")
    except InvalidRequest as exc:
        assert exc.detail
        return
    values = {v for v in spec.model_dump().values() if isinstance(v, str)}
    assert hostile in values
