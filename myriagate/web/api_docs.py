"""``/api/v1/docs``: Swagger UI from the package's own static files, never from a CDN.

FastAPI's built-in docs page loads Swagger UI's script and stylesheet from a public CDN and its
favicon from FastAPI's site: on a cluster's network with no way out, or behind a strict proxy,
the page stays blank. The same page is built here with ``get_swagger_ui_html`` pointing at the
copy of npm's ``swagger-ui-dist`` under ``web/static/swagger/`` (version, licence and how to
update it: its README.md). Swagger UI's online validator is switched off too: it would send the
address of our API description to validator.swagger.io from every reader's browser.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse

# Served by the /static mount of web.pages (StaticFiles serves subfolders as they are).
SWAGGER_JS = "/static/swagger/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/swagger/swagger-ui.css"
FAVICON = "/static/logo.svg"


def install_api_docs(app: FastAPI, docs_url: str) -> None:
    """Serve Swagger UI at ``docs_url`` for ``app.openapi_url`` (create the app with
    ``docs_url=None`` so FastAPI's CDN page is not registered as well)."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        return

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that mounts the gateway under a prefix, every URL keeps the prefix.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            swagger_ui_parameters={**swagger_ui_default_parameters, "validatorUrl": None},
        )

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
