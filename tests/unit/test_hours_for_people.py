"""Issue #15: a 5-second job's charge read "Facturé 0 h CPU": hours were rounded to two
decimals everywhere people read them. An amount that is not zero never reads 0 now: pages and
refusals say "< 0.01" (French "< 0,01"), a job's own charge is said in minutes and seconds
below an hour, e-mails say "< 0,01", and the API's hours keep two significant digits (its
seconds stay exact)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from myriagate.domain.costs import Cost
from myriagate.domain.notification_text import hours as mail_hours
from myriagate.errors import Hours, Text, hours_figure
from myriagate.web.api.allocations import amount_out
from myriagate.web.i18n import Translator

NBSP, NNBSP = "\u00a0", "\u202f"
# seconds -> (English, French) as pages, refusals and e-mails write hours.
HOURS = {
    0: ("0", "0"),
    1: (f"<{NBSP}0.01", f"<{NBSP}0,01"),
    5: (f"<{NBSP}0.01", f"<{NBSP}0,01"),
    36: ("0.01", "0,01"),
    59: ("0.02", "0,02"),
    3600: ("1", "1"),
    7635 * 3600: ("7,635", f"7{NNBSP}635"),
}


@pytest.mark.parametrize("seconds", sorted(HOURS))
def test_hours_on_pages_never_read_zero_for_an_amount(seconds: int) -> None:
    english, french = HOURS[seconds]
    assert Translator("en").hours(seconds) == english
    assert Translator("fr").hours(seconds) == french


@pytest.mark.parametrize("seconds", sorted(HOURS))
def test_hours_in_e_mails_and_refusals_never_read_zero(seconds: int) -> None:
    english, french = HOURS[seconds]
    assert mail_hours(seconds, "en") == english and mail_hours(seconds, "fr") == french
    assert str(Hours(seconds)) == english  # a refusal's English text (the API's detail)
    refusal = Text(
        "this job needs %(need)s CPU-hours, %(left)s left in %(account)s",
        need=Hours(seconds), left=Hours(seconds), account="caen-bio",
    )  # fmt: skip
    assert (
        Translator("fr").text(refusal) == f"ce job demande {french} h CPU, il reste {french} h dans caen-bio"
    )


def test_a_tiny_negative_adjustment_does_not_read_zero_either() -> None:
    assert Translator("en").hours(-5) == f">{NBSP}-0.01"
    assert Translator("fr").hours(-5) == f">{NBSP}-0,01"


# seconds -> (English, French) for one job's held and charged CPU time (job page).
CORE_TIME = {
    0: ("0 CPU-h", "0 h CPU"),
    1: (f"1{NBSP}s of CPU time", f"1{NBSP}s de temps CPU"),
    5: (f"5{NBSP}s of CPU time", f"5{NBSP}s de temps CPU"),
    36: (f"36{NBSP}s of CPU time", f"36{NBSP}s de temps CPU"),
    59: (f"59{NBSP}s of CPU time", f"59{NBSP}s de temps CPU"),
    60: (f"1{NBSP}min of CPU time", f"1{NBSP}min de temps CPU"),
    1530: (f"25{NBSP}min 30{NBSP}s of CPU time", f"25{NBSP}min 30{NBSP}s de temps CPU"),
    3600: ("1 CPU-h", "1 h CPU"),
    5400: ("1.5 CPU-h", "1,5 h CPU"),
    7635 * 3600: ("7,635 CPU-h", f"7{NNBSP}635 h CPU"),
}


@pytest.mark.parametrize("seconds", sorted(CORE_TIME))
def test_a_jobs_cpu_time_is_said_in_a_readable_unit(seconds: int) -> None:
    english, french = CORE_TIME[seconds]
    assert Translator("en").core_time(seconds) == english
    assert Translator("fr").core_time(seconds) == french


def test_a_jobs_gpu_time_has_its_own_unit() -> None:
    assert Translator("en").core_time(5, "GPU") == f"5{NBSP}s of GPU time"
    assert Translator("fr").core_time(7200, "GPU") == "2 h GPU"


@pytest.mark.parametrize(
    ("seconds", "figure"),
    [(0, "0"), (1, "0.00028"), (5, "0.0014"), (18, "0.005"), (36, "0.01"), (59, "0.02"), (3600, "1"),
     (7635 * 3600, "7635")],
)  # fmt: skip
def test_the_apis_hours_never_read_zero_and_its_seconds_stay_exact(seconds: int, figure: str) -> None:
    assert hours_figure(seconds) == Decimal(figure)
    out = amount_out(Cost(seconds, 0))
    assert out.core_seconds == seconds and out.core_hours == float(figure)


@pytest.mark.parametrize(
    ("hours", "shown"),
    [(0, "0"), (0.0014, "< 0.01"), (0.005, "0.01"), (0.5, "0.50"), (9870, "9,870"), (-0.001, "> -0.01")],
)
def test_the_cli_tables_never_show_a_small_amount_as_0(hours: float, shown: str) -> None:
    from myriagate.cli.quota import fmt_hours

    assert fmt_hours(hours) == shown
