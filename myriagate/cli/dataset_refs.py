"""Dataset ids as people type them: the full id, or the short id `datasets list` shows (a
unique prefix of 8 or more characters), as for jobs (``cli.job_refs``).

The gateway decides which dataset a reference names (``GET /datasets/{ref}``), so the CLI, the
API and the pages agree; an ambiguous one comes back as ``AmbiguousDataset`` with its
candidates, which ``output.fail`` lists before the error line. Here only what could never
be one path segment of an id is refused, before any request; the gateway judges the rest (too
short, not hex) and says so in the caller's language.
"""

from __future__ import annotations

import re
from uuid import UUID

from myriagate.client.client import Client
from myriagate.errors import FieldError, InvalidRequest

DATASET_REF_HELP = "Dataset: the id `myriagate datasets list` shows (8+ characters) or the full id."

# Letters, digits and dashes, as cli.job_refs: one URL path segment, and nothing a shell or an
# option parser would read twice.
_REF = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}\Z")


def dataset_ref(text: str, *, option: str | None = None) -> str:
    """``text`` stripped, if it can be a dataset id at all (the gateway says which dataset)."""
    given = text.strip()
    if not _REF.match(given):
        where = f"{option} " if option else ""
        raise InvalidRequest(
            f"{where}{text!r} is not a dataset id: give the id `myriagate datasets list` shows "
            "(at least 8 characters) or the full id",
            fields=[FieldError(("dataset_id",), "not a dataset id")],
        )
    return given


def resolve_dataset_id(client: Client, text: str, *, option: str | None = None) -> UUID:
    """The full id of the dataset ``text`` names: as typed when it is one, else asked of the
    gateway (NotFound, or AmbiguousDataset with the candidates)."""
    ref = dataset_ref(text, option=option)
    try:
        return UUID(ref)
    except ValueError:
        return client.dataset(ref).id
