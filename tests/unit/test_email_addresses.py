"""Issue #15 (notification settings): an e-mail address is read strictly, and the confirmation
link is signed, bound to its user and address, and expires."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from myriagate.domain.email_addresses import MAX_LENGTH, checked_address, same_address
from myriagate.domain.email_verification import (
    VerificationClaim,
    read_claim,
    sign_claim,
    token_of,
    verification_key,
    verification_mail,
)
from myriagate.domain.sbatch_options import kinds
from myriagate.errors import InvalidRequest
from tests.fakes.hostile import HOSTILE_STRINGS

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
KEY = verification_key("x" * 40)


@pytest.mark.parametrize(
    "address", ["alice@unicaen.fr", "Alice.Martin+hpc@univ-rouen.fr", "a_b-c@sub.example-lab.org"]
)
def test_ordinary_addresses_pass_and_sbatch_would_take_them(address: str) -> None:
    assert checked_address(f"  {address} ") == address
    assert kinds.email(address, kinds.ReadContext()) == address  # --mail-user takes it as is


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Give an e-mail address"),
        ("alice@unicaen.fr\r\nBcc: everyone@unicaen.fr", "one line"),
        ("alice@unicaen.fr\nSubject: hi", "one line"),
        ("alice@unicaen.fr\x00", "one line"),
        ("alice@unicaen.fr\u2028x", "one line"),
        ("a" * 250 + "@unicaen.fr", "at most 254 characters"),
        ("éloïse@unicaen.fr", "plain ASCII"),
        ("alice@ünicaen.fr", "plain ASCII"),
        ("alice@unicaen.fr" + "\u200b", "plain ASCII"),
        ("-alice@unicaen.fr", "is not an e-mail address"),
        ("alice", "is not an e-mail address"),
        ("alice@localhost", "is not an e-mail address"),
        ("alice..x@unicaen.fr", "is not an e-mail address"),
        ('"alice"@unicaen.fr', "is not an e-mail address"),
        ("alice@unicaen.fr, bob@unicaen.fr", "is not an e-mail address"),
        ("alice@-unicaen.fr", "is not an e-mail address"),
        ("$(touch /tmp/x)@unicaen.fr", "is not an e-mail address"),
    ],
)
def test_hostile_addresses_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        checked_address(text)
    assert says in refused.value.detail
    assert [f.loc for f in refused.value.fields] == [("address",)]


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_every_hostile_string_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        checked_address(text)
    with pytest.raises(InvalidRequest):
        checked_address(f"{text}@unicaen.fr")


def test_the_longest_address_passes_and_one_more_character_does_not() -> None:
    domain = "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".fr"
    longest = "a" * 64 + "@" + domain
    assert len(longest) == MAX_LENGTH and checked_address(longest) == longest
    with pytest.raises(InvalidRequest, match="at most"):
        checked_address(longest.replace("@", "@e"))


def test_domains_compare_without_case_and_local_parts_as_written() -> None:
    assert same_address("alice@UNICAEN.fr", "alice@unicaen.fr")
    assert not same_address("Alice@unicaen.fr", "alice@unicaen.fr")
    assert not same_address(None, "alice@unicaen.fr") and same_address(None, None)


def claim(**changes: object) -> VerificationClaim:
    values: dict[str, object] = {
        "user_id": uuid.UUID(int=7),
        "address": "alice@unicaen.fr",
        "requested_at": int(NOW.timestamp()),
        "expires_at": int((NOW + timedelta(hours=24)).timestamp()),
    }
    values.update(changes)
    return VerificationClaim(**values)  # type: ignore[arg-type]


def test_a_signed_claim_reads_back_until_it_expires() -> None:
    token = sign_claim(KEY, claim())
    assert read_claim(KEY, token, now=NOW + timedelta(hours=23, minutes=59)) == claim()
    with pytest.raises(InvalidRequest, match="expired"):
        read_claim(KEY, token, now=NOW + timedelta(hours=24))


def test_a_forged_or_damaged_link_is_refused_before_anything_in_it_is_believed() -> None:
    token = sign_claim(KEY, claim())
    version, payload, signature = token.split(".")
    other = sign_claim(KEY, claim(address="mallory@evil.example"))
    for bad in (
        sign_claim(verification_key("another gateway's key!!"), claim()),  # another key
        f"{version}.{other.split('.')[1]}.{signature}",  # payload swapped, old signature
        token[:-2],  # cut short (a mail client wrapped the line)
        f"v2.{payload}.{signature}",
        "",
        "v1..",
        "x" * 5000,
        "v1.é.é",
    ):
        with pytest.raises(InvalidRequest, match="incomplete or was not made by this gateway"):
            read_claim(KEY, bad, now=NOW)
    # An expired claim with a forged signature says "forged", not "expired".
    stale = sign_claim(b"k" * 32, claim(expires_at=0))
    with pytest.raises(InvalidRequest, match="not made by this gateway"):
        read_claim(KEY, stale, now=NOW)


def test_the_token_is_found_in_a_pasted_link() -> None:
    token = sign_claim(KEY, claim())
    link = f"https://myriagate.criann.fr/settings/notifications/verify?token={token}"
    assert token_of(link) == token
    assert token_of(f" {link}&utm=1#top ") == token
    assert token_of(token) == token


def test_the_mail_holds_the_link_and_the_cli_line_in_both_languages() -> None:
    mail = verification_mail(link="https://gw/verify?token=T", token="T", username="alice", expires_at=0)
    assert mail.subject == "[myriagate] Confirmez votre adresse / Confirm your address"
    assert mail.body.count("https://gw/verify?token=T") == 2
    assert mail.body.count("myriagate notifications verify T") == 2
    assert "1970-01-01 00:00 UTC" in mail.body
