"""Finding a dataset from what a person typed, and the short ids lists show.

As for jobs (``services.jobs.lookup``), a dataset can be named by its full id (with or without
dashes) or by the first 8 or more hex digits of it, unique among the datasets the caller may
see, like git's abbreviated commits. Only the datasets the caller may see
(``staging_repo.visible_datasets_filter``) are ever considered, so another user's dataset and
one that does not exist get the same 404, and an ambiguous prefix lists only candidates the
caller may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.staging import Dataset
from myriagate.db.models.users import User
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.short_ids import (
    MAX_CANDIDATES,
    MIN_PREFIX,
    candidate_count,
    hex_reference,
    prefix_bounds,
    shortest_unique_prefix,
)
from myriagate.domain.short_ids import MAX_REF_LENGTH as MAX_REF_LENGTH
from myriagate.errors import AmbiguousDataset, FieldError, InvalidRequest, NotFound, Text

_CHUNK = 200  # prefix ranges per query


def parse_reference(text: str) -> uuid.UUID | str:
    """The full id ``text`` spells, else its hex prefix (8 to 31 digits, no dashes);
    InvalidRequest when it can be neither."""
    reference = hex_reference(text)
    if reference is not None:
        return reference
    given = text.strip()
    raise InvalidRequest(
        Text(
            "%(ref)s is not a dataset id: give the id shown by the dataset list (at least %(min)s "
            "characters) or the full id",
            ref=repr(given[:MAX_REF_LENGTH]),
            min=MIN_PREFIX,
        ),
        fields=[FieldError(("path", "dataset_id"), "not a dataset id")],
    )


def find_dataset_id(session: Session, *, user: User, text: str) -> uuid.UUID:
    """The id of the one dataset ``text`` names among those ``user`` may see: NotFound when
    none, AmbiguousDataset (with the candidates) when several.

    A full id is returned as it is, unread: the caller reads the dataset anyway, and answers
    NotFound for one ``user`` may not see exactly as here.
    """
    reference = parse_reference(text)
    if isinstance(reference, uuid.UUID):
        return reference
    stmt = (
        sa.select(Dataset, User.username)
        .join(User, User.id == Dataset.owner_id)
        .where(Dataset.id.between(*prefix_bounds(reference)), staging_repo.visible_datasets_filter(user))
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(MAX_CANDIDATES + 1)
    )
    found = session.execute(stmt).all()
    if len(found) == 1:
        return found[0][0].id
    given = text.strip()
    if not found:
        raise NotFound(Text("no dataset %(ref)s", ref=given))
    count = candidate_count(found)
    raise AmbiguousDataset(
        Text("%(ref)s names %(count)s datasets: give more characters of the id", ref=given, count=count),
        candidates=[_candidate(d, owner) for d, owner in found[:MAX_CANDIDATES]],
    )


def _candidate(dataset: Dataset, owner: str) -> dict[str, object]:
    """One dataset of an ambiguous reference, as the problem's ``candidates`` list shows it."""
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "owner": owner,
        "account": dataset.slurm_account,
        "created_at": dataset.created_at.isoformat(),
    }


def short_ids(session: Session, *, user: User, dataset_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """For each id, its shortest prefix (at least ``MIN_PREFIX`` hex digits) that names that
    dataset alone among those ``user`` may see, so that ``find_dataset_id`` finds it again:
    one query per 200 ids for the visible datasets sharing their first ``MIN_PREFIX`` digits."""
    groups: dict[str, set[str]] = {}
    for start in range(0, len(dataset_ids), _CHUNK):
        chunk = dataset_ids[start : start + _CHUNK]
        ranges = [Dataset.id.between(*prefix_bounds(p)) for p in {d.hex[:MIN_PREFIX] for d in chunk}]
        near = sa.select(Dataset.id).where(sa.or_(*ranges), staging_repo.visible_datasets_filter(user))
        for found in [*session.scalars(near), *chunk]:
            groups.setdefault(found.hex[:MIN_PREFIX], set()).add(found.hex)
    return {d: shortest_unique_prefix(d.hex, groups.get(d.hex[:MIN_PREFIX], set())) for d in dataset_ids}
