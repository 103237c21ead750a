"""Interactive apps: job-script templates with a connection rule (docs/interactive.md).

``<templates_dir>/interactive`` first, then the bundled ``templates/interactive``: a site adds
an app (RStudio Server, code-server) by dropping ``<name>.sh.j2`` and ``<name>.toml`` there.
Rendering is the job templates' (every value shell-quoted); the ``.toml`` adds
``[connection]``: the file the app writes and how its secret is sent.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from myriagate.errors import ConfigError, NotFound
from myriagate.scripts.render import JinjaScriptRenderer, TemplateMeta
from myriagate.settings import Settings

# Parameters the gateway fills in: a request that sets them is refused.
GATEWAY_PARAMS = ("session_id",)


class ConnectionRule(BaseModel):
    """How an app announces where it listens and how the gateway presents its secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = Field(default="connection.json", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    header: str = Field(default="Authorization", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
    # The header's value is "<scheme> <secret>" (the secret alone when empty).
    scheme: str = Field(default="token", pattern=r"^[A-Za-z0-9_-]{0,32}$")
    # The app serves TLS with a certificate of its own and its connection file names the
    # certificate's SHA-256 (``tls_sha256``), which the proxy pins. Without it, whoever
    # listens at the app's port once the app is gone would get the owner's requests and the
    # secret until the gateway sees the job end: ``false`` is for apps that cannot serve TLS,
    # on nodes no other login uses (docs/interactive.md).
    tls: bool = True

    def header_value(self, secret: str) -> str:
        return f"{self.scheme} {secret}" if self.scheme else secret


class InteractiveAppMeta(TemplateMeta):
    """An app's ``.toml``: a job template's metadata plus its connection rule."""

    connection: ConnectionRule = Field(default_factory=ConnectionRule)

    @model_validator(mode="after")
    def _gateway_params(self) -> InteractiveAppMeta:
        names = {p.name for p in self.parameters}
        for name in GATEWAY_PARAMS:
            if name not in names:
                raise ValueError(f"an interactive app declares the {name!r} parameter (the gateway sets it)")
        return self


class _AppRenderer(JinjaScriptRenderer):
    meta_model = InteractiveAppMeta


def bundled_apps_dir() -> Path:
    found = resources.files("myriagate._bundled") / "templates" / "interactive"
    if not isinstance(found, Path):
        raise ConfigError("the bundled interactive apps are not on a file system (zipped install?)")
    return found


class InteractiveApps:
    """The apps of the site directory first, then the bundled ones."""

    def __init__(self, settings: Settings | None = None, *, search_dirs: list[Path] | None = None) -> None:
        if search_dirs is None:
            search_dirs = []
            if settings is not None and settings.templates_dir is not None:
                search_dirs.append(settings.templates_dir / "interactive")
            search_dirs.append(bundled_apps_dir())
        self._renderer = _AppRenderer(search_dirs=search_dirs)

    def names(self) -> list[str]:
        return self._renderer.template_names()

    def get(self, name: str) -> InteractiveAppMeta:
        """One app's metadata; an unknown name is NotFound, listing the apps there are."""
        if name not in self.names():
            raise NotFound(f"no interactive app {name!r}; available: {', '.join(self.names())}")
        return cast("InteractiveAppMeta", self._renderer.metadata(name))

    def render(self, name: str, params: dict[str, object]) -> str:
        """The app's job script with ``params`` checked against its declared parameters."""
        self.get(name)
        return self._renderer.render(name, params)
