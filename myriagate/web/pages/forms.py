"""Small helpers every page form uses: reading fields, safe redirects, field errors by name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from myriagate.domain.field_messages import field_message
from myriagate.errors import FieldError


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form as text fields (files are not read here); empty values kept as ''."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default``: no open redirect via ``next``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target


def see_other(path: str) -> RedirectResponse:
    """After a successful post: the browser follows with a GET (no resubmit on reload)."""
    return RedirectResponse(path, status_code=303)


_STAGING_FIELDS = {"upload_id": "inputs", "input_datasets": "inputs"}


def field_name(loc: Iterable[str | int]) -> str:
    """A problem's location as the form field it concerns (``options.time`` -> ``time``,
    ``staging.output_patterns.1`` -> ``output_patterns``)."""
    parts = [str(p) for p in loc if p not in ("body", "query")]
    if len(parts) >= 2 and parts[0] == "options":
        return parts[1]
    if len(parts) >= 2 and parts[0] == "params":
        return f"param_{parts[1]}"
    if len(parts) >= 2 and parts[0] == "staging":
        # The upload id is a hidden field: its problems concern the file pickers.
        return _STAGING_FIELDS.get(parts[1], parts[1])
    return parts[0] if parts else ""


def errors_by_field(fields: Iterable[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for field in fields:
        found.setdefault(field_name(field.loc), []).append(field.message)
    return found


def pydantic_fields(exc: ValidationError) -> list[FieldError]:
    return [FieldError(tuple(e["loc"]), field_message(e)) for e in exc.errors()]


def blank_to_none(values: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The named fields that were filled in (stripped); blank ones are left out."""
    return {name: values[name].strip() for name in names if values.get(name, "").strip()}
