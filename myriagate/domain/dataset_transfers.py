"""Pure rules of moving data between a researcher's file areas and datasets (issue #17).

"Save as dataset" copies a directory of an area (``scratch:run1``) to a storage endpoint and
records it as a dataset whose provenance says who saved it from where; "copy dataset here"
copies a dataset into a directory of a writable area. Both are records the worker runs, as
job staging is: their kinds and states are here, with the area path rule (the stager's own,
``storable_path``: the path becomes an anchor the far side walks without following links)
and the dataset name rule.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from myriagate.domain.staging import storable_path
from myriagate.errors import FieldError, InvalidRequest, Text

MAX_NAME = 255
# Everything below the saved directory: ``**`` crosses directories (the stager's glob).
SAVE_PATTERNS = ("**",)


class TransferKind(StrEnum):
    SAVE = "save"  # an area's directory to a storage endpoint, recorded as a new dataset
    COPY = "copy"  # a dataset into a directory of a writable area


class TransferState(StrEnum):
    """Ordered: queued -> running -> completed | failed (final)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (TransferState.COMPLETED, TransferState.FAILED)


def area_dir(value: str | None, field: tuple[str | int, ...] = ("body", "path")) -> str:
    """A directory inside an area, relative to its root ('' for the root itself), as the stager
    takes it: the rules of stored names (no '..', '.', '~', leading '-', control characters,
    the reserved ``.myriagate``), trailing slashes dropped. Refused with ``UnsafeValue``."""
    text = (value or "").rstrip("/")
    if not text:
        return ""
    try:
        return storable_path(text, "path")
    except InvalidRequest as exc:
        exc.fields = (FieldError(field, exc.detail),)
        raise


def dataset_name(value: str) -> str:
    """A dataset's name as a researcher gives it: 1 to 255 characters, no control character."""
    name = value.strip()
    bad = any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in name)
    if not name or len(name) > MAX_NAME or bad:
        raise InvalidRequest(
            Text("a dataset name is 1 to %(max)s characters, without control characters", max=MAX_NAME),
            fields=[FieldError(("body", "name"), Text("1 to %(max)s characters", max=MAX_NAME))],
        )
    return name


def place(area: str, path: str) -> str:
    """``scratch:/run1``: an area's directory as provenance and messages name it."""
    return f"{area}:/{path}"
