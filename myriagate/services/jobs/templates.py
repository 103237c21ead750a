"""Job-script templates as researchers see them: list, describe, and turn into a script.

A template submission is a script submission with one step before it: the template is
rendered with its checked parameters (every value shell-quoted), and the resulting script
then takes the normal path (directives, profile, accounts, sbatch). Resources never come
from the template: they are the submission's sbatch options.
"""

from __future__ import annotations

from collections.abc import Mapping

from myriagate.errors import FieldError, JobSpecInvalid, NotFound
from myriagate.scripts.render import JinjaScriptRenderer, TemplateMeta, TemplateParameter
from myriagate.settings import Settings

__all__ = ["TemplateCatalog", "TemplateMeta", "TemplateParameter"]


class TemplateCatalog:
    """The templates of the site directory first, then the bundled ones."""

    def __init__(
        self, settings: Settings | None = None, *, renderer: JinjaScriptRenderer | None = None
    ) -> None:
        self._renderer = renderer or JinjaScriptRenderer(settings)

    def names(self) -> list[str]:
        return self._renderer.template_names()

    def all(self) -> list[TemplateMeta]:
        return [self._renderer.metadata(name) for name in self.names()]

    def get(self, name: str) -> TemplateMeta:
        """One template's metadata; an unknown name is NotFound (a resource that is not there)."""
        if name not in self.names():
            raise NotFound(f"no template {name!r}; available: {', '.join(self.names())}")
        return self._renderer.metadata(name)

    def render(self, name: str, params: Mapping[str, str | int]) -> str:
        """The script for ``name`` with ``params``; unknown names and bad values are 422s.

        In a submission the template is a field of the request, so an unknown one is an
        invalid request (listing the valid names), not a missing resource.
        """
        if name not in self.names():
            raise JobSpecInvalid(
                f"unknown template {name!r}; available: {', '.join(self.names())}",
                fields=[FieldError(("template",), "unknown template")],
            )
        return self._renderer.render(name, dict(params))
