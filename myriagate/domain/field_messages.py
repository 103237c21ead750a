"""pydantic's validation errors as messages for people, in English and, on pages, in French.

pydantic writes ``Input should be greater than or equal to 1`` or ``Value error, …``: wording
meant for programmers, in English only. ``field_message()`` says the same from the error's
``type`` and ``ctx`` as a ``Text`` the catalogs translate. A validator's own ``ValueError``
(our wording) is kept; a ``Text`` it raised keeps its msgid. An error type not listed here
says "invalid value" rather than pydantic's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myriagate.errors import Text

# pydantic error type -> (msgid, the ctx keys it names). Several types share one msgid.
_BY_TYPE: dict[str, tuple[str, tuple[str, ...]]] = {
    "missing": ("this field is required", ()),
    "extra_forbidden": ("unknown field", ()),
    "string_type": ("must be text", ()),
    "string_too_short": ("must have at least %(min_length)s character(s)", ("min_length",)),
    "string_too_long": ("must have at most %(max_length)s characters", ("max_length",)),
    "string_pattern_mismatch": ("contains characters or a form that is not allowed here", ()),
    "string_unicode": ("must be text", ()),
    "int_type": ("must be a whole number", ()),
    "int_parsing": ("must be a whole number", ()),
    "int_from_float": ("must be a whole number", ()),
    "int_parsing_size": ("is too large", ()),
    "float_type": ("must be a number", ()),
    "float_parsing": ("must be a number", ()),
    "decimal_type": ("must be a number", ()),
    "decimal_parsing": ("must be a number", ()),
    "finite_number": ("must be a finite number", ()),
    "bool_type": ("must be true or false", ()),
    "bool_parsing": ("must be true or false", ()),
    "greater_than": ("must be greater than %(gt)s", ("gt",)),
    "greater_than_equal": ("must be at least %(ge)s", ("ge",)),
    "less_than": ("must be less than %(lt)s", ("lt",)),
    "less_than_equal": ("must be at most %(le)s", ("le",)),
    "multiple_of": ("must be a multiple of %(multiple_of)s", ("multiple_of",)),
    "enum": ("must be one of: %(expected)s", ("expected",)),
    "literal_error": ("must be one of: %(expected)s", ("expected",)),
    "uuid_type": ("must be an id (UUID)", ()),
    "uuid_parsing": ("must be an id (UUID)", ()),
    "uuid_version": ("must be an id (UUID)", ()),
    "list_type": ("must be a list", ()),
    "tuple_type": ("must be a list", ()),
    "set_type": ("must be a list", ()),
    "dict_type": ("must be an object (names and values)", ()),
    "model_type": ("must be an object (names and values)", ()),
    "model_attributes_type": ("must be an object (names and values)", ()),
    "too_short": ("needs at least %(min_length)s item(s)", ("min_length",)),
    "too_long": ("has more than %(max_length)s items", ("max_length",)),
    "datetime_type": ("must be a date and time (2026-01-31T14:00:00Z)", ()),
    "datetime_parsing": ("must be a date and time (2026-01-31T14:00:00Z)", ()),
    "datetime_from_date_parsing": ("must be a date and time (2026-01-31T14:00:00Z)", ()),
    "timezone_aware": ("must be a date and time with its time zone (2026-01-31T14:00:00Z)", ()),
    "date_type": ("must be a date (2026-01-31)", ()),
    "date_parsing": ("must be a date (2026-01-31)", ()),
    "date_from_datetime_parsing": ("must be a date (2026-01-31)", ()),
    "json_invalid": ("is not valid JSON", ()),
    "json_type": ("is not valid JSON", ()),
    "url_parsing": ("must be a web address", ()),
    "url_type": ("must be a web address", ()),
    "url_scheme": ("must be a web address starting with %(expected_schemes)s", ("expected_schemes",)),
    "bytes_too_long": ("is too long", ()),
    "none_required": ("must be empty", ()),
    "union_tag_invalid": ("is not one of the accepted kinds", ()),
    "union_tag_not_found": ("does not say which kind it is", ()),
}
INVALID_VALUE = "invalid value"

# Every msgid above, for the catalogs' completeness test.
MESSAGES: tuple[str, ...] = tuple(sorted({msgid for msgid, _ in _BY_TYPE.values()} | {INVALID_VALUE}))


def field_message(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a message for people."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        raised = ctx.get("error")
        if isinstance(raised, BaseException) and raised.args and isinstance(raised.args[0], str):
            return raised.args[0]  # our validator's own words (a Text keeps its msgid)
        return _strip_prefix(str(error.get("msg", INVALID_VALUE)))
    known = _BY_TYPE.get(kind)
    if known is not None:
        msgid, names = known
        if all(name in ctx for name in names):
            return Text(msgid, **{name: str(ctx[name]) for name in names})
        return Text(INVALID_VALUE)
    if kind and kind not in _PYDANTIC_TYPES:
        # A PydanticCustomError of ours (``unknown_option``): its message is our own wording.
        return str(error.get("msg", INVALID_VALUE))
    return Text(INVALID_VALUE)


def _strip_prefix(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _pydantic_types() -> frozenset[str]:
    """Every error type pydantic itself raises (its wording is never shown as it is)."""
    try:
        from pydantic_core.core_schema import ErrorType
    except ImportError:  # pragma: no cover - pydantic_core always ships it
        return frozenset()
    from typing import get_args

    return frozenset(get_args(ErrorType))


_PYDANTIC_TYPES = _pydantic_types()
