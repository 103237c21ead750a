"""Short ids (domain.short_ids): what a typed id reads as, the ids a prefix spans, the shortest
unique prefix jobs, datasets and sessions show, and the count an ambiguous reference gives."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from myriagate.domain.short_ids import (
    MAX_CANDIDATES,
    MIN_PREFIX,
    candidate_count,
    hex_reference,
    prefix_bounds,
    shortest_unique_prefix,
)
from tests.fakes.hostile import HOSTILE_STRINGS

ID = "3f2a9c41-7d0e-4b6a-9c5e-0123456789ab"
HEX = ID.replace("-", "")

hex_ids = st.text("0123456789abcdef", min_size=32, max_size=32)


def test_a_full_id_reads_as_its_uuid_in_any_case_with_or_without_dashes() -> None:
    for typed in (ID, HEX, ID.upper(), f"  {ID}\n", "3f2a9c41-7d0e4b6a-9c5e0123-456789ab"):
        assert hex_reference(typed) == uuid.UUID(ID)


def test_a_prefix_of_8_to_31_hex_digits_reads_as_its_lowercase_digits() -> None:
    assert hex_reference("3F2A9C41") == "3f2a9c41"
    assert hex_reference(" 3f2a9c41-7d0e ") == "3f2a9c417d0e"
    assert hex_reference(HEX[:31]) == HEX[:31]
    assert hex_reference(ID[:MIN_PREFIX]) == HEX[:MIN_PREFIX]


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "3f2a9c4", "3f2a-9c4", "3f2a9c41g", HEX + "0", "3f2a9c41 7d0e", "3f2a9c41_7d0e",
     "３f2a9c41", "3f2a9c41\n-", "3f2a\n9c41", HEX + "\n-", "{" + ID + "}", "urn:uuid:" + ID, "0x3f2a9c41"],
)  # fmt: skip
def test_anything_else_reads_as_nothing(typed: str) -> None:
    assert hex_reference(typed) is None


@given(st.text("0123456789abcdefABCDEF-_ \n\t\r\x00g", max_size=40))
def test_what_hex_reference_gives_is_an_id_or_a_prefix_a_lookup_can_use(typed: str) -> None:
    """ "3f2a9c41\\n-" (a newline before a dash) was read as the prefix "3f2a9c41\\n" by ^...$,
    and looking it up failed (ValueError: a 500)."""
    found = hex_reference(typed)
    if isinstance(found, str):
        assert re.fullmatch(r"[0-9a-f]{8,31}", found)
        low, high = prefix_bounds(found)
        assert low.hex.startswith(found) and high.hex.startswith(found)
    elif found is not None:
        assert found.hex == typed.strip().lower().replace("-", "")


def test_hostile_strings_name_no_id_only_blanks_around_one_are_dropped() -> None:
    for hostile in HOSTILE_STRINGS:
        for typed in (hostile, HEX[:8] + hostile, hostile + HEX[:8], HEX + hostile):
            found = hex_reference(typed)
            # str.strip() drops blanks and the \x1c-\x1f separators, as it always did
            assert found is None or typed.strip() in (HEX[:8], HEX), typed
            assert found in (None, HEX[:8], uuid.UUID(HEX))


def test_a_prefix_spans_the_ids_that_start_with_it() -> None:
    low, high = prefix_bounds("3f2a9c41")
    assert low == uuid.UUID("3f2a9c41-0000-0000-0000-000000000000")
    assert high == uuid.UUID("3f2a9c41-ffff-ffff-ffff-ffffffffffff")
    assert prefix_bounds(HEX) == (uuid.UUID(ID), uuid.UUID(ID))
    with pytest.raises(ValueError):
        prefix_bounds("3f2a9c4g")


@given(hex_ids, st.integers(min_value=0, max_value=32))
def test_an_id_lies_in_the_range_of_each_of_its_prefixes_and_no_other(digits: str, cut: int) -> None:
    low, high = prefix_bounds(digits[:cut])
    assert low <= uuid.UUID(digits) <= high
    assert all(u.hex.startswith(digits[:cut]) for u in (low, high))


def test_the_shortest_unique_prefix_is_at_least_8_digits_and_grows_past_a_shared_start() -> None:
    mine = ["abcdef12" + "1" * 24, "abcdef12" + "2" * 24, "12345678" + "9" * 24]
    assert [shortest_unique_prefix(d, mine) for d in mine] == ["abcdef121", "abcdef122", "12345678"]
    alone = "0" * 32
    assert shortest_unique_prefix(alone, []) == "0" * MIN_PREFIX
    assert shortest_unique_prefix(alone, [alone, alone]) == "0" * MIN_PREFIX  # itself is no other
    assert shortest_unique_prefix(alone, ["0" * 31 + "1"]) == alone  # all 32 digits, no more
    assert shortest_unique_prefix(alone, ["0" * 20 + "f" * 12], minimum=4) == "0" * 21
    assert shortest_unique_prefix(alone, ["f" * 32], minimum=4) == "0000"


def _others(digits: str, cuts: list[int], tails: list[str]) -> list[str]:
    """Ids sharing ``cut`` first digits with ``digits`` (so that the prefix has to grow)."""
    return [(digits[:cut] + tail)[:32] for cut, tail in zip(cuts, tails, strict=False)]


@given(
    hex_ids,
    st.lists(st.integers(min_value=0, max_value=32), max_size=8),
    st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), min_size=8, max_size=8),
    st.integers(min_value=1, max_value=32),
)
def test_the_prefix_names_the_id_alone_and_no_shorter_one_would(
    digits: str, cuts: list[int], tails: list[str], minimum: int
) -> None:
    others = _others(digits, cuts, tails)
    prefix = shortest_unique_prefix(digits, others, minimum=minimum)
    assert digits.startswith(prefix) and len(prefix) >= minimum
    assert not any(other.startswith(prefix) for other in others if other != digits)
    if len(prefix) > minimum:  # one digit fewer would name another id too
        assert any(other.startswith(prefix[:-1]) for other in others if other != digits)


@given(hex_ids, st.lists(hex_ids, max_size=8))
def test_the_default_minimum_is_min_prefix(digits: str, others: list[str]) -> None:
    assert shortest_unique_prefix(digits, others) == shortest_unique_prefix(digits, others, MIN_PREFIX)
    assert len(shortest_unique_prefix(digits, others)) >= MIN_PREFIX


def test_an_ambiguous_reference_counts_up_to_max_candidates_then_says_more() -> None:
    assert MAX_CANDIDATES == 20
    assert [candidate_count(range(n)) for n in (0, 2, 20, 21)] == ["0", "2", "20", "20+"]
    assert candidate_count([object()] * 500) == "20+"
