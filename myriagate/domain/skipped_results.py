"""Result files a stage-out leaves behind, and why (pure).

The safety rules of staging are per file: a link is never followed, only regular files are
copied, and a name the storage rules refuse (a component starting with '-', a control
character…) never reaches a command line. One such file must not cost the job its other
results (issue #15): it is skipped, and the job's reason names it, in the one English form
written and read here, so the job page, the API's explanation and ``myriagate jobs show`` can
say it in the reader's language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from myriagate.domain.staging import escaped


class SkipKind(StrEnum):
    """Why a matching file was not stored."""

    LINK = "link"  # a symbolic link (to a file or a directory): never followed
    SPECIAL = "special"  # a fifo, a socket, a device: not a regular file
    NAME = "name"  # a name the storage rules refuse (domain.staging.storable_path)


# How each kind is written after the file's name (catalog msgids: pages translate them).
KIND_WORDS: dict[SkipKind, str] = {
    SkipKind.LINK: "a link",
    SkipKind.SPECIAL: "not a regular file",
    SkipKind.NAME: "a refused name",
}
_KIND_OF_WORDS = {words: kind for kind, words in KIND_WORDS.items()}
MAX_NAMED = 20  # names written in the reason; the rest are counted
_NAME_LIMIT = 200  # characters of one name kept in the reason


@dataclass(frozen=True)
class SkippedFile:
    """A file that matched the output patterns and was not stored: its path under the job's
    directory, as the far side found it (not normalised: it may be what the rules refuse)."""

    path: str
    kind: SkipKind


@dataclass(frozen=True)
class SkippedFiles:
    """The skipped files a reason names (``named``, their names escaped) and how many there
    were in all (``count``: more than ``len(named)`` when the list was cut)."""

    count: int
    named: tuple[SkippedFile, ...]


_NOTE = "; {n} skipped, as they cannot be stored safely: {files}"
_NOTE_RE = re.compile(
    r"; (?P<n>\d+) skipped, as they cannot be stored safely: (?P<files>(?:'[^']*' \([^()]*\)(?:, )?)+)"
    r"(?:, and \d+ more)?\Z"
)
_ITEM_RE = re.compile(r"'(?P<path>[^']*)' \((?P<kind>[^()]*)\)")


def note(skipped: Sequence[SkippedFile]) -> str:
    """What follows the stored files in the job's reason, '' when nothing was skipped:
    ``; 2 skipped, as they cannot be stored safely: 'results/-rf' (a refused name), 'l' (a link)``.
    Names are escaped (``escaped``: no quote, no control character survives), so the reason
    reads back unambiguously (``from_reason``)."""
    if not skipped:
        return ""
    ordered = sorted(skipped, key=lambda f: f.path)
    items = [f"'{escaped(f.path, _NAME_LIMIT)}' ({KIND_WORDS[f.kind]})" for f in ordered[:MAX_NAMED]]
    files = ", ".join(items)
    if len(ordered) > MAX_NAMED:
        files += f", and {len(ordered) - MAX_NAMED} more"
    return _NOTE.format(n=len(ordered), files=files)


def from_reason(reason: str | None) -> SkippedFiles | None:
    """The skipped files a stage-out's reason names (``note``), or None when it names none."""
    found = _NOTE_RE.search(reason or "")
    if found is None:
        return None
    named = tuple(
        SkippedFile(item["path"], _KIND_OF_WORDS[item["kind"]])
        for item in _ITEM_RE.finditer(found["files"])
        if item["kind"] in _KIND_OF_WORDS
    )
    return SkippedFiles(int(found["n"]), named)


def say(files: SkippedFiles, kind_words: Iterable[tuple[SkipKind, str]], more: str) -> str:
    """``'a' (a link), 'b' (a refused name)`` with each kind in ``kind_words``' language, and
    ``more`` (a format with ``%(n)s``) for the files not named."""
    words = dict(kind_words)
    text = ", ".join(f"'{f.path}' ({words.get(f.kind, KIND_WORDS[f.kind])})" for f in files.named)
    rest = files.count - len(files.named)
    return text + (", " + more % {"n": rest} if rest > 0 else "")


_MORE_RE = re.compile(r", and (?P<n>\d+) more\Z")


def said_list(text: str, gettext: Callable[[str], str]) -> str:
    """A reason's list of skipped files (``'a' (a link), …, and 3 more``) with its kind words
    and its count of the rest in ``gettext``'s language; any other text comes back unchanged."""

    def kind(item: re.Match[str]) -> str:
        words = item["kind"]
        return f"'{item['path']}' ({gettext(words)})" if words in _KIND_OF_WORDS else item[0]

    said = _ITEM_RE.sub(kind, text)
    return _MORE_RE.sub(lambda m: ", " + gettext("and %(n)s more") % {"n": m["n"]}, said)
