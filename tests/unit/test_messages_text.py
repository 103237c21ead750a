"""Messages said in the reader's language (issue #15): ``errors.Text`` is its English text for
the API and the CLI, and a page says it in French with French numbers; pydantic's own wording
never reaches people (``domain.field_messages``)."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from myriagate.domain.field_messages import MESSAGES, field_message
from myriagate.domain.notification_text import hours as notification_hours
from myriagate.errors import Hours, InsufficientAllocation, Number, Text, hours_of, joined
from myriagate.services.staging.context import StagingContext
from myriagate.web.i18n import Translator

NEEDS = "this job needs %(need)s CPU-hours, %(left)s left in %(account)s"


def test_a_text_is_its_english_and_keeps_its_msgid_and_values() -> None:
    text = Text(NEEDS, need=Hours(7635 * 3600), left=Hours(5000 * 3600), account="caen-bio")
    assert text == "this job needs 7,635 CPU-hours, 5,000 left in caen-bio"
    assert isinstance(text, str) and text.msgid == NEEDS
    assert str(InsufficientAllocation(text)) == "Insufficient allocation: " + text
    copied = pickle.loads(pickle.dumps(text))  # noqa: S301 - our own bytes, made one line above
    assert copied == text and copied.msgid == NEEDS


def test_a_french_reader_gets_french_words_and_french_numbers() -> None:
    text = Text(NEEDS, need=Hours(7635 * 3600), left=Hours(5000 * 3600), account="caen-bio")
    french = Translator("fr").text(text)
    assert french == "ce job demande 7\u202f635 h CPU, il reste 5\u202f000 h dans caen-bio"
    assert Translator("en").text(text) == "this job needs 7,635 CPU-hours, 5,000 left in caen-bio"
    assert Translator("fr").gettext(text) == french  # _(…) of a Text says it whole
    # Nested messages and quantities are said in the language too; other values stay as given.
    outer = Text("%(where)s: %(problem)s", where="--time", problem=Text("must be at least %(ge)s", ge=1))
    assert Translator("fr").text(outer) == "--time : doit valoir au moins 1"
    assert Translator("fr").text(Number(12345)) == "12\u202f345"
    assert Translator("fr").text(42) == 42


def test_joined_messages_are_each_translated_and_a_broken_catalog_falls_back_to_english() -> None:
    both = joined([Text("unknown field"), "the user's own 100% words", Text("this field is required")])
    assert both == "unknown field; the user's own 100% words; this field is required"
    assert Translator("fr").text(both) == "champ inconnu; the user's own 100% words; ce champ est obligatoire"
    odd = Text("a message no catalog has: %(n)s", n=3)
    assert Translator("fr").text(odd) == "a message no catalog has: 3"


@pytest.mark.parametrize(
    ("seconds", "english"),
    [(27_486_000, "7,635"), (360_000, "100"), (5400, "1.5"), (180, "0.05"), (3600, "1"), (0, "0")],
)
def test_hours_are_whole_from_100_h_and_keep_two_decimals_below(seconds: int, english: str) -> None:
    assert str(Hours(seconds)) == english
    assert Translator("en").hours(seconds) == english  # the pages' rule, the same figures
    assert hours_of(seconds) >= 0


def test_notification_mails_say_hours_in_each_languages_format() -> None:
    assert notification_hours(7635 * 3600) == "7,635"
    assert notification_hours(7635 * 3600, "fr") == "7\u202f635"
    assert notification_hours(1800, "fr") == "0,5"


class _Form(BaseModel):
    ntasks: int = Field(ge=1)
    name: str = Field(max_length=3)
    kind: int = 0

    @field_validator("kind")
    @classmethod
    def _ours(cls, value: int) -> int:
        raise ValueError(Text("must be at most %(le)s", le=0) if value > 0 else "our own words")


def _messages(data: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate(data)
    return [field_message(e) for e in caught.value.errors()]


def test_pydantics_errors_are_said_in_our_words_never_pydantics() -> None:
    said = _messages({"ntasks": 0, "name": "toolong", "kind": 1})
    assert said == ["must be at least 1", "must have at most 3 characters", "must be at most 0"]
    assert all(isinstance(m, Text) for m in said)  # pages translate them
    assert _messages({"name": "x", "kind": -1}) == ["this field is required", "our own words"]
    assert _messages({"ntasks": "many", "name": "x"}) == ["must be a whole number"]
    for message in said:
        assert "Input should" not in message and "Value error" not in message


def test_every_field_message_has_a_french_translation() -> None:
    french = Translator("fr")
    assert all(french.gettext(m) != m for m in MESSAGES), [m for m in MESSAGES if french.gettext(m) == m]


def test_a_dry_run_that_would_be_refused_says_what_to_do_next() -> None:
    from uuid import uuid4

    from myriagate.cli.quota import describe_estimate
    from myriagate.web.api.allocation_schemas import EstimateOut

    short = EstimateOut(
        account="caen-bio", partition="long", allocation_id=uuid4(), fits=False,
        hold_core_seconds=7635 * 3600, hold_gpu_seconds=0, hold_core_hours=7635.0, hold_gpu_hours=0.0,
        remaining_before_core_seconds=5000 * 3600, remaining_before_core_hours=5000.0,
    )  # fmt: skip
    line = describe_estimate(short)
    assert line.startswith("this job would need 7,635 CPU-h of the 5,000 remaining on caen-bio")
    assert "shorten its time limit with -t, or ask your project lead for more hours" in line
    none = describe_estimate(short.model_copy(update={"allocation_id": None}))
    assert "has no allocation now: it would be refused (ask your project lead to request a grant)" in none


def test_a_staging_failure_names_neither_the_gateways_spool_nor_its_set_up(tmp_path: Path) -> None:
    """The job's reason is shown to its owner (page, API, CLI): the spool directory of the gateway
    host and a set-up problem's detail stay in the audit entry and the log."""
    from myriagate.errors import ConfigError, StagingError
    from myriagate.services.staging import step

    spool = tmp_path / "var" / "spool"
    ctx = cast(StagingContext, SimpleNamespace(spool_dir=spool))
    failed = StagingError(f"'data.csv' does not exist under {spool}/uploads/1234/files")
    shown = step._for_researchers(failed, ctx)
    assert shown == "'data.csv' does not exist under (the gateway's copy)/uploads/1234/files"
    unset = ConfigError("data staging goes over SSH: set MYRIAGATE_SSH_CA_KEY_PATH")
    assert "MYRIAGATE_" not in step._for_researchers(unset, ctx)


@pytest.mark.parametrize(
    ("line", "english", "french"),
    [
        ("#SBATCH --uid=0", "line 2: --uid is not allowed: a job always runs as your own login",
         "ligne 2 : --uid n'est pas permis : un job s'exécute toujours sous votre propre compte"),
        ("#SBATCH --partiton=court", "line 2: --partiton is not an sbatch option; did you mean --partition?",
         "ligne 2 : --partiton n'est pas une option de sbatch ; vouliez-vous dire --partition ?"),
        ("#SBATCH --time=banana", "line 2: --time: 'banana' is not a time",
         "ligne 2 : --time :"),
    ],
)  # fmt: skip
def test_a_scripts_refused_option_is_said_in_french_with_the_tables_own_reason(
    line: str, english: str, french: str
) -> None:
    """The sbatch option table writes its refusals' reasons in both languages: a French page
    says them in French, the API and the CLI in English as before."""
    from myriagate.domain.directives import parse_directives
    from myriagate.domain.sbatch_options.merge import merge
    from myriagate.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        merge(parse_directives(f"#!/bin/bash\n{line}\n"))
    assert caught.value.detail.startswith(english.split(" is not a time")[0])
    assert str(Translator("fr").text(caught.value.detail)).startswith(french)


def test_a_time_limit_over_the_partitions_says_what_would_fit() -> None:
    """Every refusal says what to do next: a shorter -t, or the partitions that take it."""
    from myriagate.domain.jobs import JobSpec
    from myriagate.errors import ProfileViolation
    from myriagate.profiles import check_job, load_profile
    from myriagate.settings import Settings

    dev = load_profile("devcluster", Settings(dev_mode=True))
    with pytest.raises(ProfileViolation) as caught:
        check_job(dev, JobSpec(time_limit_s=5 * 3600), allowed_accounts={"caen-climat"})
    assert caught.value.detail == (
        "time limit 05:00:00 exceeds the maximum of partition 'court' (04:00:00): shorten it "
        "(-t 04:00:00) or choose a partition that allows it (long, gpu, parallel)"
    )
    french = Translator("fr").text(caught.value.detail)
    assert french == (
        "la durée maximale 05:00:00 dépasse le maximum de la partition 'court' (04:00:00) : "
        "raccourcissez-la (-t 04:00:00) ou choisissez une partition qui la permet (long, gpu, parallel)"
    )


def test_an_answer_the_cli_cannot_read_is_said_without_pydantics_dump() -> None:
    import httpx

    from myriagate.cli.quota import read_models
    from myriagate.errors import BackendError
    from myriagate.web.api.allocation_schemas import AllocationOut

    request = httpx.Request("GET", "https://gateway.example/api/v1/allocations")
    answer = httpx.Response(200, json=[{"cluster": 3}], request=request)
    with pytest.raises(BackendError) as caught:
        read_models(AllocationOut, answer)
    said = str(caught.value)
    assert "unexpected answer from /api/v1/allocations" in said
    for dump in ("validation error", "Input should", "Field required", "type="):
        assert dump not in said, said
