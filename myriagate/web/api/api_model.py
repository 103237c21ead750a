"""The base of the REST API's pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """A model of the API's requests and answers, validated the first time it is used, not when
    its module is imported (``defer_build``): the CLI imports every model of the API through the
    client and reads a few per command, so it pays only for those (bench/cli_start.py). The
    server builds them all when it builds its routes, as before."""

    model_config = ConfigDict(defer_build=True)


class ApiIn(ApiModel):
    """A request body: a misspelt field is an error listing the valid names, never ignored."""

    model_config = ConfigDict(extra="forbid")


class ApiOut(ApiModel):
    """An answer read from the service's rows or read models (``from_attributes``)."""

    model_config = ConfigDict(from_attributes=True)
