"""A refusal is said once on stderr: the headline, then only what it did not already say."""

from __future__ import annotations

import pytest
import typer

from myriagate.cli.output import fail
from myriagate.domain.sbatch_options.merge import merge
from myriagate.errors import FieldError, JobSpecInvalid, MyriagateError


def said(exc: MyriagateError, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert isinstance(fail(exc), typer.Exit)
    return capsys.readouterr().err.splitlines()


def refusal(options: dict[str, str | int | bool | None]) -> MyriagateError:
    with pytest.raises(MyriagateError) as caught:
        merge([], options)
    return caught.value


def test_one_field_problem_is_the_headline_alone(capsys: pytest.CaptureFixture[str]) -> None:
    lines = said(refusal({"time": "soon"}), capsys)
    assert len(lines) == 1
    assert lines[0].startswith("Error: Invalid job request: --time: 'soon' is not a Slurm time")


def test_several_field_problems_are_listed_once_each(capsys: pytest.CaptureFixture[str]) -> None:
    lines = said(refusal({"time": "soon", "nodes": "x"}), capsys)
    assert lines[0] == "Error: Invalid job request:"
    assert [line.split(":")[0] for line in lines[1:]] == ["  - --time", "  - --nodes"]
    assert sum("'soon'" in line for line in lines) == 1


def test_field_problems_the_detail_does_not_say_still_follow_it(capsys: pytest.CaptureFixture[str]) -> None:
    problem = FieldError(("partition",), "no partition 'gpu2'")
    lines = said(JobSpecInvalid("the job cannot run here", fields=[problem]), capsys)
    assert lines[0] == "Error: Invalid job request: the job cannot run here"
    assert lines[1:] == ["  - partition: no partition 'gpu2'"]
