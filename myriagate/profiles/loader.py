"""Find and load cluster profiles: the site directory first, then the bundled ones.

Every failure becomes a ``ConfigError`` that names the file, the key path
(``partitions[1].max_walltime``) and, for a misspelt key, the valid names.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
import types
import typing
from importlib import resources
from importlib.resources.abc import Traversable

from pydantic import BaseModel, ValidationError

from myriagate.errors import ConfigError, FieldError
from myriagate.profiles.models import ClusterProfile
from myriagate.settings import Settings

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")


def bundled_profiles_dir() -> Traversable:
    """The profiles shipped with the package (``myriagate/_bundled/cluster_profiles``)."""
    return resources.files("myriagate._bundled") / "cluster_profiles"


def _search_dirs(settings: Settings) -> list[Traversable]:
    dirs: list[Traversable] = []
    if settings.profiles_dir is not None:
        dirs.append(settings.profiles_dir)
    dirs.append(bundled_profiles_dir())
    return dirs


def load_profile(name: str, settings: Settings) -> ClusterProfile:
    """The profile called ``name``; a site copy in ``settings.profiles_dir`` wins."""
    if not _PROFILE_NAME.match(name):
        raise ConfigError(f"{name!r} is not a valid cluster profile name")
    for directory in _search_dirs(settings):
        candidate = directory / f"{name}.toml"
        if candidate.is_file():
            profile = parse_profile(candidate.read_text(encoding="utf-8"), source=str(candidate))
            if profile.name != name:
                raise ConfigError(f"{candidate}: name = {profile.name!r} but the file is called {name}.toml")
            return profile
    known = sorted(all_profile_names(settings))
    raise ConfigError(f"no cluster profile {name!r}; known profiles: {', '.join(known) or 'none'}")


def all_profile_names(settings: Settings) -> set[str]:
    names: set[str] = set()
    for directory in _search_dirs(settings):
        if directory.is_dir():
            names.update(
                p.name.removesuffix(".toml") for p in directory.iterdir() if p.name.endswith(".toml")
            )
    return names


def load_all_profiles(settings: Settings) -> dict[str, ClusterProfile]:
    """The profiles this gateway serves, by name: those ``settings.clusters`` names (each must
    exist), else every profile found; the first failing file stops the load."""
    names = [n.strip() for n in settings.clusters.split(",") if n.strip()] or all_profile_names(settings)
    return {name: load_profile(name, settings) for name in sorted(set(names))}


def parse_profile(text: str, *, source: str) -> ClusterProfile:
    """Parse the TOML text of a profile; ``source`` names it in error messages.

    The same text parses to the same frozen profile, kept: a test run builds a gateway for
    each of its thousands of tests, and each loads every profile again (~3 ms a file)."""
    return _parse(text, source)


@functools.lru_cache(maxsize=64)
def _parse(text: str, source: str) -> ClusterProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return ClusterProfile.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        detail = f"{source}: " + "; ".join(message for _, message in problems)
        fields = [FieldError(loc, message) for loc, message in problems]
        raise ConfigError(detail, fields=fields) from exc


def _describe(err: typing.Any) -> tuple[tuple[str | int, ...], str]:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    path = _format_loc(loc)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        key = str(loc[-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return loc, f"{path}: unknown key{hint}; valid keys here: {', '.join(allowed)}"
    if err["type"] == "missing":
        return loc, f"{path}: required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    return loc, f"{path}: {message}" if path else message


def _format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys a TOML table at ``loc`` may hold, found by walking the models."""
    model: type[BaseModel] | None = ClusterProfile
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = nested_model(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def nested_model(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None`` or ``tuple[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = nested_model(arg)
            if found is not None:
                return found
    return None


def profile_search_path(settings: Settings) -> list[str]:
    """Where profiles are looked for, in order (for error pages and ``admin`` commands)."""
    return [str(d) for d in _search_dirs(settings)]


__all__ = [
    "all_profile_names",
    "bundled_profiles_dir",
    "load_all_profiles",
    "load_profile",
    "parse_profile",
    "profile_search_path",
]
