"""Rendering page templates: one Jinja2 environment per template search path, site templates first.

Page templates are ``templates/pages/*.html``: the site directory
(``settings.templates_dir / "pages"``) is searched first, then the bundled templates, exactly
as for job-script templates, so a centre can override any page. Autoescaping is always on:
everything a user typed is shown escaped.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from myriagate.errors import ConfigError
from myriagate.settings import Settings
from myriagate.web import auth, i18n
from myriagate.web.pages.dataset_titles import dataset_title
from myriagate.web.pages.wording import STATE_LABELS


def bundled_pages_dir() -> Path:
    found = resources.files("myriagate._bundled") / "templates" / "pages"
    if not isinstance(found, Path):
        raise ConfigError("the bundled page templates are not on a file system (zipped install?)")
    return found


def page_search_dirs(settings: Settings) -> list[Path]:
    dirs: list[Path] = []
    if settings.templates_dir is not None:
        dirs.append(settings.templates_dir / "pages")
    dirs.append(bundled_pages_dir())
    return dirs


@jinja2.pass_context
def _in_page_language(context: jinja2.runtime.Context, value: object) -> object:
    """Every ``{{ … }}`` of a page: a message that kept its msgid (``errors.Text``, from an
    error, a refusal, a form check) is said in the page's language, a quantity in its format."""
    translator = context.get("t")
    return translator.text(value) if isinstance(translator, i18n.Translator) else value


def build_environment(settings: Settings) -> jinja2.Environment:
    """The page environment for ``settings``' template directories, shared by every app of the
    process that searches the same ones: compiling the layout and a page costs about 100 ms,
    paid once per process, not once per app (Jinja2 still reloads a template edited on disk)."""
    return _environment(tuple(str(d) for d in page_search_dirs(settings)))


@functools.cache
def _environment(search_dirs: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        finalize=_in_page_language,
        loader=jinja2.FileSystemLoader(list(search_dirs)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["state_labels"] = STATE_LABELS
    env.globals["dataset_title"] = dataset_title
    env.filters["zip_self"] = lambda items: [(str(i), str(i)) for i in items]
    env.globals["urlencode"] = lambda pairs: urlencode([(k, v) for k, v in pairs if v not in (None, "")])
    return env


def translator_for(request: Request) -> i18n.Translator:
    """The request's language: the switch's cookie, else the browser's Accept-Language."""
    cached = getattr(request.state, "translator", None)
    if isinstance(cached, i18n.Translator):
        return cached
    lang = i18n.choose_language(
        request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
    )
    translator = i18n.Translator(lang)
    request.state.translator = translator
    return translator


def render(request: Request, template_name: str, /, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template_name`` with the layout's context (user, roles, CSRF token, language)."""
    env: jinja2.Environment = request.app.state.page_env
    translator = translator_for(request)
    page = getattr(request.state, "page", None)
    base = {
        "request": request,
        "_": translator,
        "t": translator,
        "lang": translator.lang,
        "languages": i18n.LANGUAGE_NAMES,
        "page": page,
        "user": page.user if page is not None else None,
        "csrf_token": page.csrf_token if page is not None else None,
        "roles": page.roles if page is not None else [],
        "request_id": getattr(request.state, "request_id", None),
    }
    html = env.get_template(template_name).render(**base, **context)
    response = HTMLResponse(html, status_code=status)
    # Pages show personal data: never kept by shared caches, nor framed by another site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["Content-Language"] = translator.lang
    opened = getattr(request.state, "opened_web_session", None)
    if opened is not None:  # a single-sign-on user's first page: the session their forms need
        auth.set_session_cookie(response, opened, request.app.state.gateway.settings)
    return response
