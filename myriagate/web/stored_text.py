"""Messages the worker stored as English text, said again in the reader's language.

A job's reason, its timeline's reasons and its staging plan's last error are kept in the
database as the English sentence the worker or an adapter said (an ``errors.Text`` loses its
msgid once stored). French pages showed them in English (issue #15: "job output: 'out.h5'
arrived with sha256 …"). ``said`` recognises such a sentence again: the worker's own reasons
(``WORKER_REASONS``, which name other msgids), then every message of the catalogs, exact or
with its ``%(name)s`` placeholders filled by anything; the values found are said again the same
way (a reason holds an adapter's message, which holds "job output"). A text nobody recognises
(Slurm's own words, a path, a researcher's job name) is shown as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from myriagate.domain import skipped_results

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# A catalog message is recognised by its fixed words: one with fewer than this many letters
# around its placeholders ("%(m0)s; %(m1)s") would match nearly any sentence.
_MIN_FIXED = 8
_DEPTH = 6  # a dependency's reason holds a clause's, which holds a staging failure's…

# The staging worker's reasons (services/staging/step.py, staging/transfers.py) as patterns:
# the named groups fill the message's placeholders.
WORKER_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"(?P<n>\d+) input file\(s\) in place"),
        "%(n)s input file(s) copied to the cluster and verified",
    ),
    (
        re.compile(r"job directory (?P<dir>.+) ready"),
        "the job's own directory %(dir)s was created on the cluster (private to you)",
    ),
    (  # before the next one, which would read the skipped files' list as a region
        re.compile(
            r"(?P<n>\d+) result file\(s\) stored in (?P<site>[^;]+?) \((?P<region>[^()]+)\); "
            r"(?P<skipped>\d+) skipped, as they cannot be stored safely: (?P<files>.*)",
            re.S,
        ),
        "%(n)s result file(s) stored in %(site)s (%(region)s) and verified; %(skipped)s skipped, as "
        "they cannot be stored safely: %(files)s",
    ),
    (
        re.compile(r"(?P<n>\d+) result file\(s\) stored in (?P<site>.+) \((?P<region>[^()]+)\)"),
        "%(n)s result file(s) stored in %(site)s (%(region)s) and verified",
    ),
    (
        re.compile(
            r"stage-in interrupted \((?P<detail>.*)\); retry (?P<attempt>\d+) in (?P<delay>\d+) s", re.S
        ),
        "copying the input files was interrupted (%(detail)s); attempt %(attempt)s in %(delay)s s",
    ),
    (
        re.compile(
            r"stage-out interrupted \((?P<detail>.*)\); retry (?P<attempt>\d+) in (?P<delay>\d+) s", re.S
        ),
        "copying the results was interrupted (%(detail)s); attempt %(attempt)s in %(delay)s s",
    ),
    (re.compile(r"stage-in failed: (?P<detail>.*)", re.S), "copying the input files failed: %(detail)s"),
    (re.compile(r"stage-out failed: (?P<detail>.*)", re.S), "copying the results failed: %(detail)s"),
    (
        re.compile(r"no file matched the output patterns: (?P<patterns>.*)", re.S),
        "no file matched the output patterns: %(patterns)s",
    ),
    # A dataset transfer's note once it failed or waits (services/dataset_transfers/runner.py):
    # "failed: " has too few fixed words to be recognised as a catalog message, so the note
    # stayed English, or its first words were taken for the path of the message inside.
    (re.compile(r"failed: (?P<error>.*)", re.S), "failed: %(error)s"),
    (
        re.compile(r"interrupted \((?P<error>.*)\); retry (?P<n>\d+) in (?P<delay>\d+) s", re.S),
        "interrupted (%(error)s); retry %(n)s in %(delay)s s",
    ),
)


def said(text: str, lang: str, messages: Mapping[str, str], depth: int = _DEPTH) -> str:
    """``text`` in the language whose catalog is ``messages`` when it is a message the gateway
    says (see the module); as it is otherwise, and always in English, the source language."""
    if lang == "en" or not text or depth <= 0:
        return text
    exact = messages.get(text)
    if exact:
        return exact
    for pattern, msgid in (*WORKER_REASONS, *_catalog_patterns(lang, messages)):
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {name: said(value, lang, messages, depth - 1) for name, value in found.groupdict().items()}
        try:
            return messages.get(msgid, msgid) % values
        except (KeyError, TypeError, ValueError):  # a catalog entry out of step: as it was written
            return text
    # A stage-out's list of skipped files (a value of its reason, which pages say on its own):
    # each file's kind in the reader's words; any other text is left as it was written.
    return skipped_results.said_list(text, lambda words: messages.get(words) or words)


def _catalog_patterns(lang: str, messages: Mapping[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """A pattern per catalog message with placeholders, most fixed words first (the most
    particular message wins); built once per language (the catalogs are read once)."""
    if lang not in _PATTERNS:
        _PATTERNS[lang] = _patterns_of(messages)
    return _PATTERNS[lang]


_PATTERNS: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {}


def _patterns_of(messages: Mapping[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    found: list[tuple[int, re.Pattern[str], str]] = []
    for msgid in messages:
        parts = _PLACEHOLDER.split(msgid)
        fixed, names = parts[::2], parts[1::2]
        if not names or sum(len(p.strip()) for p in fixed) < _MIN_FIXED:
            continue
        regex, seen = re.escape(fixed[0]), set()
        for name, after in zip(names, fixed[1:], strict=True):
            regex += f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
            seen.add(name)
            regex += re.escape(after)
        found.append((sum(map(len, fixed)), re.compile(regex, re.S), msgid))
    found.sort(key=lambda item: -item[0])
    return tuple((pattern, msgid) for _, pattern, msgid in found)
