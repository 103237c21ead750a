"""Slurm account names the gateway accepts: CRIANN's project accounts are numbers."""

from __future__ import annotations

import pytest

from myriagate.domain import values
from myriagate.errors import InvalidRequest, UnsafeValue


@pytest.mark.parametrize("name", ["2017018", "caen-climat", "myriagate-ops", "p_1.2"])
def test_numeric_and_named_accounts_pass(name: str) -> None:
    assert values.account(name) == name


@pytest.mark.parametrize("name", ["-2017018", "2017018;id", "Caen", "", "a" * 65, "2017018\n"])
def test_option_like_or_unsafe_accounts_are_refused(name: str) -> None:
    with pytest.raises(UnsafeValue):
        values.account(name)


def test_logins_still_cannot_start_with_a_digit() -> None:
    with pytest.raises(UnsafeValue):
        values.login("2017018")


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (values.login, "alice\n"),
        (values.account, "caen-climat\n"),
        (values.partition, "court\n"),
        (values.slurm_job_id, "12\n"),
        (values.array, "1-3\n"),
        (values.program_path, "/bin/sh\n"),
        (values.search_path, "/usr/bin:/bin\n"),
    ],
)
def test_a_trailing_newline_is_refused(check: object, value: str) -> None:
    # `$` in a Python pattern also matches before a final newline: the validators must match
    # the whole value, or "court\n" would pass as a partition and reach a command line.
    with pytest.raises(InvalidRequest):
        check(value)  # type: ignore[operator]
