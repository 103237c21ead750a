"""Slurm commands as data: the argv each call would run, and what never reaches it."""

from __future__ import annotations

import pytest

from myriagate.errors import UnsafeValue
from myriagate.slurm import commands
from tests.fakes.hostile import HOSTILE_STRINGS

SEP = "\x1f"


def test_sbatch_reads_the_script_on_stdin_and_the_tag_comes_last() -> None:
    argv = commands.sbatch(("--partition=court", "--job-name=it's $(x)"), "mg:1234-abcd")

    assert argv == (
        "sbatch",
        "--parsable",
        "--partition=court",
        "--job-name=it's $(x)",
        "--comment=mg:1234-abcd",
    )


@pytest.mark.parametrize(
    "option",
    [
        "script.sh",
        "-p",
        "--",
        "--job-name=a\nb",
        "--job-name=tab\there",
        "--comment=mg:other",
        "x--partition",
    ],
)
def test_sbatch_refuses_options_that_could_change_the_command(option: str) -> None:
    with pytest.raises(UnsafeValue):
        commands.sbatch((option,), "mg:1")


@pytest.mark.parametrize("tag", [*HOSTILE_STRINGS, "", "mg:" + "x" * 200])
def test_a_hostile_tag_is_refused(tag: str) -> None:
    with pytest.raises(UnsafeValue):
        commands.sbatch((), tag)


def test_squeue_status_asks_for_all_states_one_line_per_task() -> None:
    argv = commands.squeue_status(["12", "13_4", "12"])

    assert argv[:5] == ("squeue", "--noheader", "--states=all", "--array", "--jobs=12,13_4")
    assert argv[5] == "--format=" + SEP.join(commands.SQUEUE_STATUS_FIELDS)


def test_sacct_status_reads_allocations_with_the_unit_separator() -> None:
    argv = commands.sacct_status(["12"])

    assert "--allocations" in argv and "--parsable2" in argv
    assert f"--delimiter={SEP}" in argv
    assert "--jobs=12" in argv
    assert argv[-1] == "--format=" + ",".join(commands.SACCT_STATUS_FIELDS)


def test_sacct_tags_looks_back_and_selects_ended_jobs() -> None:
    argv = commands.sacct_tags("now-7days")

    assert "--starttime=now-7days" in argv
    assert "--endtime=now" in argv
    assert any(a.startswith("--state=") and "CA" in a for a in argv)


@pytest.mark.parametrize("since", ["yesterday; rm", "now-7days -a", "--all"])
def test_sacct_tags_refuses_a_strange_window(since: str) -> None:
    with pytest.raises(UnsafeValue):
        commands.sacct_tags(since)


@pytest.mark.parametrize("bad", [*HOSTILE_STRINGS, "12 13", "-1", "12,13", "12_", "_4", "12_[0-4]"])
def test_hostile_job_ids_never_reach_a_command(bad: str) -> None:
    for build in (
        commands.scancel,
        lambda i: commands.squeue_status([i]),
        lambda i: commands.sacct_status([i]),
    ):
        with pytest.raises(UnsafeValue):
            build(bad)


def test_no_ids_is_a_programming_error_not_an_empty_query() -> None:
    with pytest.raises(ValueError, match="at least one"):
        commands.squeue_status([])


def test_tail_ends_options_before_the_path_and_reads_only_a_regular_file() -> None:
    argv = commands.tail("/home/alice/run.out", 4096)
    assert argv[:6] == ("find", "-L", "--", "/home/alice/run.out", "-maxdepth", "0")
    assert argv[6:16] == ("-type", "f", "-exec", "tail", "-c", "4096", "--", "{}", "+", "-o")


@pytest.mark.parametrize("path", ["-n1", "/home/alice/../bob/x", "a\nb", "", "!", "(", "run.out"])
def test_tail_refuses_paths_that_are_options_or_escape(path: str) -> None:
    with pytest.raises(UnsafeValue):
        commands.tail(path, 10)


def test_scancel_and_ping_commands() -> None:
    assert commands.scancel("123_4") == ("scancel", "123_4")
    assert commands.scontrol_ping() == ("scontrol", "ping")
    assert commands.sinfo_partitions() == ("sinfo", "--noheader", f"--format=%R{SEP}%a")
