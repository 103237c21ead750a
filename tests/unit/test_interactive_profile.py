"""Interactive sessions (issue #18): the cluster profile's idle timeouts, the idle timeout a
request gets, what a session that failed, stopped by itself or starts slowly says, short ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from myriagate.domain.interactive import Trouble, idle_minutes, trouble_text
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest, ProfileViolation
from myriagate.profiles import load_profile
from myriagate.profiles.interactive import InteractiveSection
from myriagate.services.interactive.lookup import _length, parse_reference
from myriagate.settings import Settings

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


def test_the_bundled_profiles_name_an_idle_timeout_within_their_maximum() -> None:
    settings = Settings(dev_mode=True)
    for name, expected in (("devcluster", (30, 240)), ("myria", (60, 480)), ("austral", (60, 480))):
        section = load_profile(name, settings).interactive
        assert (section.idle_timeout_minutes, section.max_idle_timeout_minutes) == expected


@pytest.mark.parametrize(
    ("default", "maximum", "valid"),
    [(30, 240, True), (240, 240, True), (0, 0, True), (500, 0, True),
     (241, 240, False), (0, 240, False), (-1, 0, False), (60, 20_000, False)],
)  # fmt: skip
def test_the_default_must_lie_within_the_maximum(default: int, maximum: int, valid: bool) -> None:
    if valid:
        InteractiveSection(idle_timeout_minutes=default, max_idle_timeout_minutes=maximum)
    else:
        with pytest.raises(ValidationError):
            InteractiveSection(idle_timeout_minutes=default, max_idle_timeout_minutes=maximum)
    with pytest.raises(ValidationError):  # a typo in a profile fails at load time
        InteractiveSection.model_validate({"idle_timeout_minute": 5})


def test_a_session_gets_the_idle_timeout_asked_within_the_maximum_else_the_default() -> None:
    assert idle_minutes(None, default=30, maximum=240) == 30
    assert idle_minutes(1, default=30, maximum=240) == 1
    assert idle_minutes(240, default=30, maximum=240) == 240
    for refused in (0, 241, -3):
        with pytest.raises(ProfileViolation) as caught:
            idle_minutes(refused, default=30, maximum=240)
        assert caught.value.fields[0].loc == ("params", "idle_minutes")
        assert "between 1 and 240 minutes" in caught.value.detail
    assert idle_minutes(0, default=0, maximum=0) == 0  # no maximum: none may be asked for
    assert idle_minutes(5000, default=0, maximum=0) == 5000


def _said(state: JobState, *, connected: bool = False, exit_code: int | None = None,
          ran_s: int | None = None, problem: str | None = None) -> str | None:  # fmt: skip
    started = None if ran_s is None else NOW - timedelta(seconds=ran_s)
    found = trouble_text(Trouble(state, connected, exit_code, started, problem), NOW)
    return None if found is None else str(found)


def test_what_a_session_that_does_not_run_as_asked_says() -> None:
    assert _said(JobState.PENDING) is None
    assert _said(JobState.RUNNING, ran_s=30) is None
    assert _said(JobState.RUNNING, connected=True, ran_s=3600) is None
    assert _said(JobState.RUNNING, ran_s=125) == (
        "the job has run for 2 min and the app has not announced itself yet: its output may say why"
    )
    assert _said(JobState.FAILED, exit_code=1, ran_s=5) == (
        "the job ended before the app announced itself (exit code 1): its output says why"
    )
    assert _said(JobState.CANCELLED) == "the job ended before the app announced itself: its output says why"
    assert _said(JobState.COMPLETED, connected=True, ran_s=90) == (
        "the app stopped itself: idle for its idle timeout, or shut down from its menu"
    )
    assert _said(JobState.CANCELLED, connected=True, ran_s=90) is None  # Stop: nothing to explain
    assert _said(JobState.TIMEOUT, connected=True, ran_s=90) is None  # its state says it
    assert _said(JobState.RUNNING, ran_s=5, problem="the app's connection file is not JSON") == (
        "the app's connection file was refused: the app's connection file is not JSON"
    )


def test_short_ids_are_the_shortest_unique_prefix_of_at_least_8_digits() -> None:
    mine = ["abcdef12" + "1" * 24, "abcdef12" + "2" * 24, "12345678" + "9" * 24]
    assert [_length(d, mine) for d in mine] == [9, 9, 8]
    assert parse_reference("ABCDEF12-1") == "abcdef121"
    assert str(parse_reference(mine[2])) == "12345678-9999-9999-9999-999999999999"
    for not_an_id in ("abc", "abcdefg1", "../../etc", "", "x" * 40):
        with pytest.raises(InvalidRequest) as caught:
            parse_reference(not_an_id)
        assert caught.value.fields[0].loc == ("path", "session_id")
