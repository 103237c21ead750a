"""Datasets' names on pages: the name the gateway gives a stage-out's results is said in the
page's language; a name someone chose is kept as it is."""

from __future__ import annotations

import re

from myriagate.errors import Text

# The name stage-out gives a dataset (services/staging/transfers.py), stored in English.
_DATASET_NAME = re.compile(r"results of (?P<job>.*) \((?P<id>[^()]*)\)", re.S)


def dataset_title(name: str) -> str:
    """``results of hello (1000)`` as a message the page translates; any other name as it is."""
    found = _DATASET_NAME.fullmatch(name)
    if found is None:
        return name
    return Text("results of %(job)s (%(id)s)", job=found["job"], id=found["id"])
