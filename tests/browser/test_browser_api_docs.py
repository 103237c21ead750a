"""Issue #15, "API docs work off-line": /api/v1/docs renders in real Chromium with every host
but the gateway's own origin cut off (Playwright aborts any other request).

No cluster is needed: the API description is read from the app, and no job is submitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from myriagate.db.migrate import upgrade
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'gateway.db'}"
    upgrade(database_url)
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log", worker=False) as gateway:
        yield gateway


def test_api_docs_render_with_only_the_gateway_reachable(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    origin = urlsplit(live.url).netloc
    asked: list[str] = []
    blocked: list[str] = []

    def only_the_gateway(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        if urlsplit(url).netloc == origin:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context = browser.new_context(base_url=live.url)
    try:
        page = context.new_page()
        page.route("**/*", only_the_gateway)
        page.goto("/api/v1/docs")
        # Swagger UI built from the served description: the title, tag sections, operations.
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("myriagate", timeout=20_000)
        operations = page.locator(".swagger-ui .opblock")
        expect(operations.first).to_be_visible()
        assert operations.count() >= 20
        expect(page.locator(".opblock-summary-path", has_text="/api/v1/jobs").first).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "api-docs-offline.png"), full_page=False)
    finally:
        context.close()
    assert not blocked, f"the docs page asked other hosts: {blocked}"
    assert any(url.endswith("/static/swagger/swagger-ui-bundle.js") for url in asked)
    assert any(url.endswith("/api/v1/openapi.json") for url in asked)
