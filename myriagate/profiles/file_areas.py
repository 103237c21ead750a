"""``[[files.areas]]`` of a cluster profile: the directory trees the file browser shows.

Each area's ``root`` is a template checked here, at load time, so a typo never reaches a
command: an absolute path of plain names, where ``{login}`` is the researcher's cluster login,
or ``{home}`` followed by such a path (their home, from the cluster's password database).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from myriagate.domain import values
from myriagate.errors import MyriagateError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


_AREA_ROOT = re.compile(r"^(?:\{home\}|/)[A-Za-z0-9._/{}+-]*\Z")


class FileArea(_Frozen):
    """A directory tree researchers see in the file browser (docs/files.md): ``root`` is a
    template of an absolute path where ``{login}`` is the researcher's cluster login and a
    leading ``{home}`` their home directory, as the cluster's password database says."""

    name: str
    root: str
    writable: bool = False
    label: str
    label_fr: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return values.partition(value, "area name")
        except MyriagateError as exc:
            raise ValueError(exc.detail) from exc

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        rest = value.removeprefix("{home}")
        parts = rest.split("/")
        if (
            not _AREA_ROOT.fullmatch(value)
            or (rest and not rest.startswith("/"))
            or any(c in rest.replace("{login}", "") for c in "{}")
            or {".", ".."} & set(parts)
        ):
            raise ValueError(
                f"{value!r} must be an absolute path (or start with {{home}}/) of plain names, "
                "with no '..' and no placeholder but {login}"
            )
        return value.rstrip("/") or "/"

    def root_for(self, login: str) -> str:
        """The root for ``login`` (a checked login name: it holds no '/', '{' or '..')."""
        return self.root.replace("{login}", values.login(login))


class FilesSection(_Frozen):
    areas: tuple[FileArea, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> FilesSection:
        names = [a.name for a in self.areas]
        if len(set(names)) != len(names):
            raise ValueError("file area names must be unique")
        return self

    def area(self, name: str) -> FileArea | None:
        return next((a for a in self.areas if a.name == name), None)
