"""``/docs`` works without internet (the meeting room may have none): the page names no external URL,
every asset it references is served by the collector, and Swagger UI renders in Chromium with every
request to another origin blocked."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.web.conftest import Collector, sign_in

EXTERNAL = re.compile(r"https?://", re.IGNORECASE)


def test_docs_page_has_no_external_url_and_its_assets_are_served(collector: Collector) -> None:
    page = httpx.get(collector.base + "/docs", headers=collector.headers, timeout=5)
    assert page.status_code == 200
    assert not EXTERNAL.search(page.text), EXTERNAL.findall(page.text)
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']|(?:url|spec-url): ?['"]([^'"]+)['"]""", page.text)
    assets = {a or b for a, b in refs}
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= assets, assets
    for asset in assets:
        r = httpx.get(collector.base + asset, headers=collector.headers, timeout=5)
        assert r.status_code == 200 and len(r.content) > 100, asset
    assert httpx.get(collector.base + "/docs/assets/..%2Fapp.css", timeout=5).status_code == 404
    assert httpx.get(collector.base + "/docs/assets/LICENSE", timeout=5).status_code == 404  # a fixed list


def test_swagger_ui_renders_with_the_internet_blocked(collector: Collector, browser: Any) -> None:
    page = sign_in(browser, collector.base, "it", path="/docs")
    blocked: list[str] = []

    def only_the_collector(route: Any) -> None:
        if route.request.url.startswith(collector.base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_collector)
    page.goto(collector.base + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Likavillkor collector" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() > 10  # the operations from /openapi.json
    assert blocked == []
    page.context.close()
