"""The log redaction's cheap screens and linear patterns hide exactly what the full redaction
hid (threat S26): for generated text with secrets, look-alike letters and hostile strings in
it, ``redact_text`` and ``redact_secrets`` give what the version that ran every regex on every
value gave (tests/unit/log_redaction_reference.py); letters that IGNORECASE takes for ASCII
ones are not screened out; and a long value costs linear time, not minutes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from myriagate import logs
from tests.fakes.hostile import HOSTILE_STRINGS, XSS_STRINGS
from tests.unit import log_redaction_reference as reference

MARK = "[redacted]"
TOKEN = "mgt_" + "Zk3" * 14 + "x"
CERT, BLOB = "ssh-ed25519-cert-v01@openssh.com", "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAx"
HIDDEN = ("k3y-with-no-shape-at-all", "smtp pass phrase")
# What the screens and the patterns look for, their near misses, and what IGNORECASE sees as
# ASCII letters: 'ſ' (s), 'K' (Kelvin sign, k), 'ı' and 'İ' (i).
PIECES = [
    "password", "PassWord", "passwd", "passphrase", "secret", "token", "csrf", "session", "Set-Cookie",
    "Authorization", "api_key", "api-key", "APIKEY", "private_key", "credential", "signature", "token_id",
    "session_ttl_s", "_path", "_name", "pa\u017f\u017fword", "to\u212aen", "s\u0131gnature", "s\u0130gnature",
    "\u017fecret", "coo",
    "=", ":", " = ", "': '", '": "', "'", '"', "b'", ",", ";", "&", ")", "}", "]", " ", "\n", "\t", ".", "-",
    "_", "x", "7", "a.", "ab-", "None", "[redacted]", "Bearer ", "basic ", "BASIC\t", "ba\u017fic ", "Bearer",
    "YWxpY2U6aHVudGVyMg==", "abcdefghijk", TOKEN, "mgt_", "https://", "http://u:pw@h:80/p?q=1",
    "postgresql+psycopg://gw:dbpa55@db/mg", "sftp://alice@host/p", "://", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAA", "ssh-ed25519-cert-v01@openssh.com ",
    "-cert-v01@openssh.com ", "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAx", "0b7e2a3c-5d1f-4e8a-9b6c-2f4d8e1a7c30",
    "2025-03-14T09:26:53.589793Z", *HIDDEN, "k3y-with", *HOSTILE_STRINGS, *XSS_STRINGS,
    # whole secrets, each screened by one substring only
    "Basic YWxpY2U6aHVudGVyMg==", "bearer abcdefghijk", "api_key=opaque", "x-API-KEY: 'a b'", "private-key=z",
    "passwd:hunter2", "signature=deadbeef", "credentials: x", "csrf=c5rf", "b3BlbnNzaC1rZXktdjEAAAAB", TOKEN,
    f"{CERT} {BLOB}", "ftp://u:pw@h/p", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", "{'password': 'a b'}",
    '"token" :"t0k"', "b'cookie', b'c00kie'", "session =\tb'xyz'",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=14).map("".join)
NAMES = st.sampled_from(
    ["event", "password", "token_id", "job_id", "headers", "detail", "Cookie", "x-api-key", "s\u0131gnature"]
) | st.text(max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(autouse=True, scope="module")
def same_hidden_values() -> Iterator[None]:
    """Both versions hide the same values (``hide_values`` as a gateway calls it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logs, "_hidden", ())
        logs.hide_values(*HIDDEN)
        patch.setattr(reference, "_hidden", logs._hidden)
        yield


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
@example(text="x. .token=abc --password=hunter2 -.-secret: 'quoted value'")
@example(text=f"{CERT} {BLOB}-cert-v01@openssh.com {BLOB}")  # glued: the second begins in the first
@example(text=f"{CERT} {BLOB}a-ssh-rsa-cert-v01@openssh.com {BLOB}")
@example(text="password='x'token=abc password=abc.token=xyz")
@example(text="Authorization: Basic YWxpY2U6aHVudGVyMg== api_key=opaque")
def test_the_screened_redaction_writes_what_the_full_one_wrote(text: str) -> None:
    assert logs.redact_text(text) == reference.redact_text(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_dict=st.dictionaries(NAMES, VALUES, max_size=6))
def test_a_whole_line_is_redacted_as_before(event_dict: dict[str, Any]) -> None:
    assert logs.redact_secrets(None, "info", event_dict) == reference.redact_secrets(event_dict)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("pa\u017f\u017fword=hunter2hunter2", "hunter2hunter2"),
        ("x-api-\u212aey: opaque-value-42", "opaque-value-42"),  # the Kelvin sign
        ("s\u0131gnature=deadbeefcafe", "deadbeefcafe"),
        ("SESS\u0131ON: c00kieValue", "c00kieValue"),
        ("Authorization: ba\u017fic YWxpY2U6aHVudGVyMg==", "YWxpY2U6aHVudGVyMg"),
    ],
)
def test_letters_ignorecase_takes_for_ascii_ones_are_not_screened_out(text: str, secret: str) -> None:
    for shown in (text, f"été {text} à"):
        redacted = logs.redact_text(shown)
        assert secret not in redacted and MARK in redacted, redacted
        assert redacted == reference.redact_text(shown)


@given(word=st.from_regex(logs._SENSITIVE_WORDS, fullmatch=True))
def test_every_sensitive_word_holds_a_screened_stem(word: str) -> None:
    assert any(stem in word.lower() for stem in logs._SENSITIVE_STEMS), word


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("a." * 30_000 + " password=hunter2hunter2", "hunter2hunter2"),  # the full one: minutes
        ("token " + "a-" * 30_000 + " x: 1 token=s3cr3tvalue", "s3cr3tvalue"),
        (
            "ab-" * 20_000 + " ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAx",
            "AAAAIHNzaC1lZDI1",
        ),
    ],
)
def test_a_long_value_costs_linear_time(text: str, secret: str) -> None:
    started = time.perf_counter()
    redacted = logs.redact_text(text)
    elapsed = time.perf_counter() - started
    assert secret not in redacted and MARK in redacted
    assert elapsed < 2.0, f"{elapsed:.1f} s for {len(text)} characters"
