"""Languages of the pages: gettext catalogs (``myriagate/locale/<lang>/LC_MESSAGES/messages.po``),
the choice of language per request, and number and date formatting for people.

The ``.po`` files are read with Babel at first use (no compile step, so a clean checkout
works). English is the source language: its catalog may leave messages untranslated, and a
missing translation falls back to the English text. The language comes from the
``myriagate_lang`` cookie (set by the language switch), else from ``Accept-Language``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

from babel.dates import format_datetime as babel_format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from myriagate.domain.sbatch_options import table as sbatch_table
from myriagate.errors import Hours, Number, Text, hours_said
from myriagate.web import stored_text

LANGUAGES: tuple[str, ...] = ("en", "fr")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "myriagate_lang"
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "fr": "Français"}
# French writes octets: ko, Mo, Go.
_SIZE_UNITS: dict[str, tuple[str, ...]] = {
    "en": ("B", "kB", "MB", "GB", "TB"),
    "fr": ("o", "ko", "Mo", "Go", "To"),
}

# Translator.core_time's units: (hours, under an hour), msgids of the pages' catalog.
_CORE_TIME_UNITS: dict[str, tuple[str, str]] = {
    "CPU": ("CPU-h", "%(time)s of CPU time"),
    "GPU": ("GPU-h", "%(time)s of GPU time"),
}


def locale_dir() -> Path:
    found = resources.files("myriagate") / "locale"
    return Path(str(found))


def catalog_files(lang: str) -> list[Path]:
    """The catalogs of one language: ``messages.po`` (pages) first, then the others
    (``errors.po``: errors, refusals and form checks said by the code)."""
    folder = locale_dir() / lang / "LC_MESSAGES"
    return sorted(folder.glob("*.po"), key=lambda path: (path.name != "messages.po", path.name))


@lru_cache(maxsize=len(LANGUAGES))
def catalog(lang: str) -> dict[str, str]:
    """msgid -> msgstr of one language (only translated, non-fuzzy messages)."""
    found: dict[str, str] = {}
    for path in catalog_files(lang):
        with path.open("rb") as handle:
            po = read_po(handle, locale=lang)
        for message in po:
            if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                found.setdefault(str(message.id), str(message.string))
    if lang == "fr":
        # The sbatch option table writes why it refuses an option in both languages itself.
        for option in sbatch_table.OPTIONS:
            if option.reason is not None:
                found.setdefault(option.reason.en, option.reason.fr)
    return found


def _accepted(header: str) -> list[tuple[float, str]]:
    """``fr-FR,fr;q=0.9,en;q=0.8`` -> [(1.0, 'fr'), (0.9, 'fr'), (0.8, 'en')] (primary tags)."""
    ranked: list[tuple[float, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary:
            # Earlier entries win ties, as the header's order is the browser's preference.
            ranked.append((quality - position * 1e-6, primary))
    return sorted(ranked, reverse=True)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    for quality, primary in _accepted(accept_language or ""):
        if quality > 0 and primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


class Translator:
    """Messages and formats of one language; ``_`` in the page templates."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._messages = catalog(self.lang)

    def gettext(self, message: str, **values: object) -> str:
        """The translation of ``message`` with ``%(name)s`` placeholders filled in; a ``Text``
        (a message that kept its msgid and values) is said whole in this language."""
        if isinstance(message, Text) and not values:
            return str(self.text(message))
        text = self._messages.get(message, message)
        return text % values if values else text

    def text(self, message: object) -> object:
        """``message`` in this language when it is a ``Text``, formatted when it is a quantity;
        anything else as it is (a user's own words, a name, a number for the template)."""
        if isinstance(message, Text):
            filled = {name: self._value(value) for name, value in message.values.items()}
            translated = self._messages.get(message.msgid, message.msgid)
            if not filled:
                return translated
            try:
                return translated % filled
            except (KeyError, TypeError, ValueError):  # a catalog entry out of step: say it in English
                return message.msgid % filled
        if isinstance(message, Hours | Number):
            return self._value(message)
        return message

    def _value(self, value: object) -> str:
        if isinstance(value, Hours):
            return self.hours(value.seconds)
        if isinstance(value, Number):
            return self.number(value.value, digits=2)
        return str(self.text(value))

    __call__ = gettext

    def number(self, value: float | int | Decimal, digits: int = 0) -> str:
        """``9870`` -> ``9,870`` (en) or ``9 870`` (fr), at most ``digits`` decimals."""
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def hours(self, seconds: int) -> str:
        """Core- or GPU-seconds as hours for people: ``460800`` -> ``128``; small ones keep 2
        decimals, and one that is not zero never reads 0 (``5`` -> ``< 0.01``, ``< 0,01``)."""
        return hours_said(seconds, lambda hours: self.number(hours, digits=2))

    def core_time(self, seconds: int, unit: str = "CPU") -> str:
        """One job's CPU (or GPU) time with its unit: hours from one hour up (``1.5 CPU-h``,
        ``1,5 h CPU``), minutes and seconds below (``5 s of CPU time``, ``5 s de temps CPU``):
        a 5-second job was "charged 0 h CPU" (issue #15)."""
        hours_unit, under_an_hour = _CORE_TIME_UNITS[unit]
        if seconds == 0 or abs(seconds) >= 3600:
            return f"{self.hours(seconds)} {self.gettext(hours_unit)}"
        minutes, rest = divmod(abs(seconds), 60)
        time = " ".join(
            [f"{minutes}\u00a0min"] * bool(minutes) + [f"{rest}\u00a0s"] * bool(rest or not minutes)
        )
        return self.gettext(under_an_hour, time=time)

    def stored(self, text: str | None) -> str:
        """A message the worker stored as English text (a job's reason, a staging error) in
        this language when the gateway said it (``web.stored_text``); as it is otherwise."""
        return stored_text.said(text or "", self.lang, self._messages)

    def size(self, size_bytes: int | None) -> str:
        """Bytes for people, in decimal units: ``1234567`` -> ``1.2 MB`` (en), ``1,2 Mo`` (fr)."""
        if size_bytes is None:
            return "—"
        units = _SIZE_UNITS[self.lang]
        value = Decimal(size_bytes)
        for unit in units[:-1]:
            if value < 1000:
                return f"{self.number(value, digits=0 if unit == units[0] else 1)} {unit}"
            value /= 1000
        return f"{self.number(value, digits=1)} {units[-1]}"

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        # Times are stored in UTC and shown so, named: no guessing of the reader's zone.
        return babel_format_datetime(value, format="medium", tzinfo=UTC, locale=self.lang) + " UTC"
