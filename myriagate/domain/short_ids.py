"""Short ids: the first hex digits of a gateway id that name it alone, like git's abbreviated
commits.

Jobs, datasets and interactive sessions show and accept them alike (``services.jobs.lookup``,
``services.staging.dataset_lookup``, ``services.interactive.lookup``). Each service keeps its own
queries (which ids the caller may see), errors and messages; what they share is here: reading a
typed id, the range of ids a prefix spans, the shortest unique prefix, and how many candidates
an ambiguous reference is said to name.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sized

MIN_PREFIX = 8  # hex digits: 4 billion ids per prefix, as git's default abbreviation
MAX_CANDIDATES = 20  # an ambiguous reference lists at most this many
MAX_REF_LENGTH = 64  # characters of a typed reference accepted (a full id with dashes is 36)
FULL_LENGTH = 32  # hex digits of a UUID

_FULL = re.compile(rf"[0-9a-f]{{{FULL_LENGTH}}}")
_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_PREFIX},{FULL_LENGTH - 1}}}")


def hex_reference(text: str) -> uuid.UUID | str | None:
    """The full id ``text`` spells (any case, with or without dashes, blanks around it ignored),
    else its prefix of ``MIN_PREFIX`` to 31 hex digits (lowercase, no dashes), else None."""
    digits = text.strip().lower().replace("-", "")
    # fullmatch, not ^...$: "$" also matches before a final newline, which would let
    # "abcdef12\n-" through as a prefix that no UUID can be made of.
    if _FULL.fullmatch(digits):
        return uuid.UUID(hex=digits)
    if _PREFIX.fullmatch(digits):
        return digits
    return None


def prefix_bounds(digits: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The lowest and highest ids starting with the hex ``digits`` (at most 32): a primary-key
    range, one index lookup on every database, where a text prefix would depend on how each
    stores a UUID. ValueError when ``digits`` are not hex."""
    return uuid.UUID(digits.ljust(FULL_LENGTH, "0")), uuid.UUID(digits.ljust(FULL_LENGTH, "f"))


def shortest_unique_prefix(digits: str, others: Iterable[str], minimum: int = MIN_PREFIX) -> str:
    """The shortest prefix of ``digits``, at least ``minimum`` long, that none of ``others``
    starts with (``digits`` itself among them is ignored); all of ``digits`` when none is
    shorter. ``digits`` and ``others`` are ids as hex digits, all of one length."""
    shared = [_common_length(digits, other) for other in others if other != digits]
    return digits[: min(len(digits), max([minimum - 1, *shared]) + 1)]


def candidate_count(found: Sized) -> str:
    """How many things an ambiguous reference names, as its message says it: ``found`` is what
    a query limited to ``MAX_CANDIDATES + 1`` rows gave, so more than ``MAX_CANDIDATES`` reads
    ``20+``."""
    return f"{MAX_CANDIDATES}+" if len(found) > MAX_CANDIDATES else str(len(found))


def _common_length(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length
