"""Accessibility (issue 15): axe-core in Debian's Chromium on every page of the collector — the
chair's, the secretary's, the member's and IT's — in Swedish and English: zero serious or critical
violations. A new page is added to PAGES (who signs in, where)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.waiting import wait_until
from tests.web.conftest import Collector, sign_in

#: (who signs in, path); "member" pages are opened through the member's own link
PAGES: tuple[tuple[str, str], ...] = (
    ("anon", "/login"),
    ("ordf", "/"),
    ("ordf", "/chair/ks-test"),
    ("ordf", "/secretary/ks-test/links"),
    ("it", "/it/incidents"),
    ("it", "/it/devices?min_incidents=1"),
    ("it", "/it/meetings/ks-test/report"),
    ("member", "selftest"),
    ("member", "companion"),
    ("member", "/selftest/not-a-valid-link"),  # the error page a member sees for a bad link
)
BLOCKING = ("serious", "critical")


def _violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_serious_accessibility_violations_on_any_page(collector: Collector, browser: Any, lang: str) -> None:
    if "dev-a" not in collector.devices:
        collector.start_device("dev-a")
    wait_until(lambda: collector.participant("ks-test", "anna")["state"] == "ok", timeout=30, what="anna ok")
    links = {x["member_id"]: x for x in collector.api("/api/meetings/ks-test/selftest-links")}
    found: dict[str, list[str]] = {}
    signed: dict[str, Any] = {}
    for who, path in PAGES:
        if who == "member":
            url = (
                links["anna"]["url"]
                if path == "selftest"
                else links["anna"]["companion_url"]
                if path == "companion"
                else collector.base + path
            )
        else:
            url = collector.base + path
        url += ("&" if "?" in url else "?") + f"lang={lang}"
        if who in ("ordf", "it"):
            if who not in signed:
                signed[who] = sign_in(browser, collector.base, who, path="/")
            page = signed[who]
        else:
            page = browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True).new_page()
        page.goto(url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # the page scripts fill the live parts
        bad = _violations(page)
        if bad:
            found[f"{who} {path}"] = bad
        if who not in ("ordf", "it"):
            page.context.close()
    for page in signed.values():
        page.context.close()
    assert not found, found
