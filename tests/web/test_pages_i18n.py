"""The catalogs: every message of the page templates and of the page code has a French
translation, placeholders survive translation, and languages are chosen as browsers ask."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from myriagate.web import i18n
from myriagate.web.pages.wording import REASONS, RUNTIME_MESSAGES, STAGING_MESSAGES, STATE_LABELS

PAGES = Path(__file__).resolve().parents[2] / "templates" / "pages"
# _("…") and t("…") calls in the templates (the translator is both ``_`` and ``t``).
_CALL = re.compile(r"""(?<![A-Za-z0-9_.])(?:_|t)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def template_messages() -> set[str]:
    found: set[str] = set()
    for path in PAGES.glob("*.html"):
        for match in _CALL.finditer(path.read_text()):
            found.add(match.group(1) if match.group(1) is not None else match.group(2))
    return found


def all_messages() -> set[str]:
    return (
        template_messages()
        | set(STATE_LABELS.values())
        | set(REASONS.values())
        | set(RUNTIME_MESSAGES)
        | set(STAGING_MESSAGES)
    )


def test_the_templates_have_messages_to_translate() -> None:
    assert len(template_messages()) > 150


@pytest.mark.parametrize("message", sorted(all_messages()))
def test_every_message_has_a_french_translation_with_the_same_placeholders(message: str) -> None:
    french = i18n.catalog("fr").get(message)
    assert french, f"no French translation for {message!r} in myriagate/locale/fr/LC_MESSAGES/messages.po"
    assert sorted(_PLACEHOLDER.findall(french)) == sorted(_PLACEHOLDER.findall(message))


def test_the_english_catalog_lists_every_message_too() -> None:
    from babel.messages.pofile import read_po

    with (i18n.locale_dir() / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        listed = {m.id for m in read_po(handle) if m.id}
    assert all_messages() <= listed


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        (None, "de-DE,de;q=0.9,fr;q=0.5", "fr"),
        (None, "en-GB,fr;q=0.9", "en"),
        (None, "de", "en"),
        (None, "fr;q=0, en;q=0.1", "en"),
        (None, None, "en"),
        ("fr", "en", "fr"),
        ("xx", "fr", "fr"),
    ],
)
def test_language_choice(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.choose_language(cookie, header) == expected


def test_numbers_and_hours_follow_the_language() -> None:
    assert i18n.Translator("en").hours(9870 * 3600) == "9,870"
    assert i18n.Translator("fr").hours(9870 * 3600).replace("\u202f", " ") == "9 870"
    assert i18n.Translator("en").hours(180) == "0.05"
    assert i18n.Translator("fr").gettext("Job %(name)s failed.", name="x") == "Le job x a échoué."
