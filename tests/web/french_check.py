"""What "a French page says everything in French" means, as a checker the page tests share.

A French page fails when a piece of its text (a text node, or a ``title``, ``placeholder``,
``aria-label`` or ``alt`` attribute) is

- an English msgid of the catalogs whose French is different (a ``_()`` forgotten, or a
  message of the code shown without its msgid), whole or with its placeholders filled in; or
- written with English words no French sentence uses ("the", "must", "your", …): wording that
  never reached the catalogs at all, such as an error's detail built as an f-string.

Code, scripts and preformatted output (``<pre>``, ``<code>``, ``<textarea>``, ``<script>``)
are the researcher's own or Slurm's words and are not read, nor are the strings the caller
lists as data (a cluster profile's partition descriptions).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.pofile import read_po
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route

from myriagate.web import i18n

SOURCE = Path(__file__).resolve().parents[2] / "myriagate"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Words of English sentences that French pages never use (names and codes aside).
ENGLISH_WORDS = frozenset({
    "the", "your", "you", "must", "should", "please", "which", "cannot", "does", "with", "from",
    "this", "that", "been", "will", "would", "only", "needs", "and", "are", "has", "have", "was",
    "were", "there", "when", "what", "where", "isn't", "don't", "can't", "won't", "into", "than",
    "left", "yet", "any", "because", "until",
})  # fmt: skip
_SKIPPED_TAGS = frozenset({"script", "style", "pre", "code", "textarea", "kbd", "samp"})
_READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
_WORD = re.compile(r"[A-Za-z']+")
# Addresses and links are data, whatever words they hold ("you@unicaen.fr" as an example).
_ADDRESS = re.compile(r"\S+@\S+|\w+://\S+")


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping: list[str] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping.append(tag)
        for name, value in attrs:
            if name in _READ_ATTRIBUTES and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.found.append(data)


def texts_of(page: str) -> list[str]:
    """The texts a reader sees on ``page`` (whitespace folded), code and scripts left out."""
    parser = _Texts()
    parser.feed(page)
    return [" ".join(text.split()) for text in parser.found]


def catalog_ids(lang: str) -> dict[str, str]:
    """Every msgid of ``lang``'s catalog files with its msgstr (empty when untranslated)."""
    found: dict[str, str] = {}
    for path in i18n.catalog_files(lang):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and isinstance(message.id, str):
                    found.setdefault(message.id, str(message.string or ""))
    return found


@dataclass(frozen=True)
class _Filled:
    """An English msgid with placeholders, each filled by anything: the text it matches starts
    with its first words and ends with its last (checked first: a regex per msgid and text
    was most of a French page test's time)."""

    starts: str
    ends: str
    pattern: re.Pattern[str]

    def matches(self, text: str) -> bool:
        return (
            text.startswith(self.starts) and text.endswith(self.ends) and bool(self.pattern.fullmatch(text))
        )


@cache
def _english_only() -> tuple[frozenset[str], tuple[_Filled, ...]]:
    """The English msgids whose French differs: exact texts, and patterns for those with
    placeholders (each filled by anything)."""
    french = i18n.catalog("fr")
    exact: set[str] = set()
    patterns: list[_Filled] = []
    for msgid in catalog_ids("en"):
        if french.get(msgid, msgid) == msgid or len(msgid) < 4:
            continue  # the same in both languages ("GPU", "Python"), or too short to tell
        if _PLACEHOLDER.search(msgid):
            parts = _PLACEHOLDER.split(msgid)[::2]
            if sum(len(p.strip()) for p in parts) >= 8:  # enough fixed words to recognise it
                words = [" ".join(p.split()) for p in parts]
                pattern = re.compile(".+?".join(re.escape(w) for w in words))
                patterns.append(_Filled(words[0], words[-1], pattern))
        else:
            exact.add(" ".join(msgid.split()))
    return frozenset(exact), tuple(patterns)


def untranslated(page: str, data: Collection[str] = ()) -> list[str]:
    """The texts of a French ``page`` that are still English (empty when it is all French)."""
    exact, patterns = _english_only()
    wrong: list[str] = []
    for text in texts_of(page):
        if text in data:
            continue
        catalog_english = text in exact or any(p.matches(text) for p in patterns)
        words = {w.lower() for w in _WORD.findall(_ADDRESS.sub(" ", text))}
        if catalog_english or ENGLISH_WORDS & words:
            wrong.append(text)
    return wrong


def code_messages() -> dict[str, str]:
    """msgid -> where, for every ``Text("…")`` of the code (modules importing ``errors.Text``)."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        source = path.read_text()
        if not re.search(r"from myriagate\.errors import [^\n]*\bText\b", source):
            continue
        for where, msgid in _text_calls(ast.parse(source)):
            found.setdefault(msgid, f"{path.relative_to(SOURCE.parent)}:{where}")
    return found


def _text_calls(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Text"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def placeholders(message: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(message))


@dataclass(frozen=True)
class RouteInfo:
    path: str  # with its router's prefixes, parameters as written ("/jobs/{job_id}")
    methods: frozenset[str]
    params: tuple[str, ...]


def app_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[RouteInfo]:
    """Every route of an app, included routers walked (FastAPI keeps them as branches that
    point at the router they include, with the prefix they were included under)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            yield from app_routes(original.routes, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute | Route):
            methods = frozenset(route.methods or ())
            yield RouteInfo(prefix + route.path, methods, tuple(route.param_convertors))
