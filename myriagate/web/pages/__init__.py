"""The web pages: server-rendered Jinja2, progressively enhanced with a little JavaScript.

``install_pages(app)`` (called by ``build_app``) serves the static assets (CSS, JS, SVG: no
external asset) and includes one router per page group; ``bind_gateway`` gives the app its page
template environment (``rendering.build_environment``). Errors of page routes are rendered as
HTML by ``web.error_responses``. See docs/web.md.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from myriagate.web.pages import (
    admin_allocations,
    admin_audit,
    admin_usage,
    dashboard,
    dataset_pages,
    file_change_pages,
    file_dataset_pages,
    file_pages,
    file_remove_pages,
    file_upload_pages,
    interactive_pages,
    job_pages,
    member_pages,
    notification_pages,
    session_pages,
    submit_page,
    suspension_pages,
    token_pages,
)

__all__ = ["install_pages"]


def static_dir() -> Path:
    return Path(str(resources.files("myriagate.web") / "static"))


def install_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    for module in (
        session_pages,
        dashboard,
        job_pages,
        dataset_pages,
        file_pages,
        file_change_pages,  # the file browser's writes (docs/files.md "Pages")
        file_remove_pages,
        file_upload_pages,
        file_dataset_pages,
        submit_page,
        interactive_pages,  # /interactive: launch, Connect, Stop (docs/interactive.md)
        token_pages,
        notification_pages,
        admin_allocations,
        member_pages,  # /projects/{cluster}/{account}/members (docs/web.md)
        suspension_pages,  # /projects/{cluster}/{account}/suspension (docs/web.md)
        admin_usage,
        admin_audit,
    ):
        app.include_router(module.router)
