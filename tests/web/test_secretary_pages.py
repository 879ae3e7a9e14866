"""The secretary's planning pages (issue 15) in Debian's Chromium, against a real collector process
whose roster is a real TOML file, a real SQLite store and a real SMTP server on loopback (aiosmtpd,
STARTTLS, AUTH; what arrived is read back).

Each flow from the page: create a meeting and its remote participants, a save the roster's rules
refuse (the Swedish message beside the form, what she typed kept, the file unchanged), a stale save
(the other person's edit kept), a calendar invitation (.ics) imported, invitations sent (H7) with the
self-test link built from ``[http] public_url``, again and not twice, a refusing and a stalling SMTP
server, the chair's decision on a late request (H6), and axe-core on every page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
import sqlalchemy as sa

from collector import auth
from tests.planning.test_icsimport import OUTLOOK
from tests.support.roster import iso
from tests.support.services import running_mosquitto, stop_pid
from tests.support.smtp import PASSWORD as SMTP_PASSWORD
from tests.support.smtp import USER as SMTP_USER
from tests.support.smtp import Mailbox, smtp_server
from tests.support.waiting import wait_until
from tests.web.conftest import PASSWORD, SHOTS, Collector, make_collector, sign_in

PUBLIC = "https://likavillkor.kommun.example"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
IT_COMMENT = "# IT: the roster is kept in version control (this comment must survive the page's saves)"
TIMEOUT_S = 2.0


def _next_week_at(hour: int) -> dt.datetime:
    day = dt.date.today() + dt.timedelta(days=8)
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=STOCKHOLM)


MAIL_START = _next_week_at(9)


def _plan_meeting() -> str:
    """A meeting next week with two remote members who have e-mail; Dan asked one day ahead (late, H6)."""
    late = MAIL_START - dt.timedelta(days=1)
    return f"""
[[meeting]]
id = "ks-plan-mail"
body = "kommunstyrelsen"
start = {iso(MAIL_START.timestamp())}
end = {iso(MAIL_START.timestamp() + 3 * 3600)}
room = "Sessionssalen"
program_url = "https://teams.microsoft.com/l/meetup-join/ks-plan"

[[meeting.participant]]
name = "Cecilia Ceder"
member_id = "cecilia"
device_id = "dev-c"
email = "cecilia@example.org"

[[meeting.participant]]
name = "Dan Dahl"
member_id = "dan"
device_id = "dev-d"
email = "dan@example.org"
requested_at = {late.isoformat()}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Mailbox]]:
    workdir = tmp_path_factory.mktemp("secretary")
    password_file = workdir / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    with smtp_server(workdir / "pki") as (smtp_port, box, ca), running_mosquitto(workdir / "mosquitto") as broker:
        smtp = (
            f'public_url = "{PUBLIC}"\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nusername = "{SMTP_USER}"\n'
            f'password_file = "{password_file}"\nsender = "Sara Sekreterare <sara@kommun.example>"\n'
            f'ca_file = "{ca}"\ntimeout_s = {TIMEOUT_S}\nservicedesk = "08-606 78 00"\n'
        )
        c = make_collector(workdir, broker, http_extra=smtp)
        roster = workdir / "roster.toml"
        roster.write_text(IT_COMMENT + "\n" + roster.read_text(encoding="utf-8") + _plan_meeting(), encoding="utf-8")
        users = c.data / "users.toml"
        auth.add_user(users, "sekr-ks", PASSWORD, "secretary", bodies=["kommunstyrelsen"], name="Sara Sekreterare")
        c.start()
        try:
            yield c, box
        finally:
            for proc in c.devices.values():
                stop_pid(proc)
            c.stop()


@pytest.fixture(scope="module")
def collector(env: tuple[Collector, Mailbox]) -> Collector:
    return env[0]


@pytest.fixture(scope="module")
def box(env: tuple[Collector, Mailbox]) -> Mailbox:
    return env[1]


def roster_text(c: Collector) -> str:
    return (c.workdir / "roster.toml").read_text(encoding="utf-8")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def axe_serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page (rule id: first target)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['nodes'][0]['target'] if v['nodes'] else ''}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def fill_participant(page: Any, i: int, **fields: str) -> None:
    for key, value in fields.items():
        selector = f"[name='p{i}.{key}']"
        if key in ("role", "serving", "monitoring"):
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def in_force(c: Collector, meeting_id: str) -> dict[str, Any] | None:
    return c.get(f"/api/meetings/{meeting_id}")


def test_the_secretary_creates_a_meeting_from_the_page(collector: Collector, browser: Any) -> None:
    c = collector
    page = sign_in(browser, c.base, "sekr-ks")
    page.click("#new-meeting")
    page.wait_for_selector("form#meeting")
    assert axe_serious(page) == []
    start = _next_week_at(13)
    page.fill("[name=id]", "ks-plan-1")
    page.select_option("[name=body]", "kommunstyrelsen")
    page.fill("[name=start]", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("[name=end]", (start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("[name=room]", "KS-salen")
    page.fill("[name=program_url]", "https://teams.microsoft.com/l/meetup-join/ks-plan-1")
    fill_participant(page, 0, name="Erik Ek", device_id="dev-e", email="erik@example.org", member_id="erik")
    fill_participant(
        page,
        1,
        name="Fatima Said",
        device_id="dev-f",
        role="ersättare",
        serving="yes",
        monitoring="browser",
        requested_at=(start - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
    )
    page.click("#save")
    page.wait_for_selector("#note")
    assert "Mötet är sparat och gäller nu." in page.inner_text("#note")
    assert page.url.startswith(f"{c.base}/secretary/ks-plan-1")
    rows = page.locator("tr[data-member]")
    assert rows.count() == 2
    assert "I tid" in page.inner_text("tr[data-member='fatima.said'] [data-notice]")
    # the file: the meeting in TOML, IT's comment kept; the collector has it in force
    text = roster_text(c)
    assert text.startswith(IT_COMMENT) and 'id = "ks-plan-1"' in text and 'monitoring = "browser"' in text
    view = in_force(c, "ks-plan-1")
    assert view is not None and {p["member_id"] for p in view["participants"]} == {"erik", "fatima.said"}
    assert axe_serious(page) == []
    shot(page, "secretary-meeting")
    page.context.close()


def test_a_refused_save_shows_the_rule_in_swedish_and_keeps_what_she_typed(collector: Collector, browser: Any) -> None:
    c = collector
    page = sign_in(browser, c.base, "sekr-ks", path="/secretary/ks-plan-mail/edit")
    page.goto(f"{c.base}/secretary/ks-plan-mail/edit")
    before = roster_text(c)
    page.fill("[name=program_url]", "http://teams.example/plain")
    page.fill("[name=room]", "Lilla salen")
    page.click("#save")
    page.wait_for_selector("#errors")
    assert "Länken till sammanträdet måste börja med https:// (H7)." in page.inner_text("#errors")
    assert page.input_value("[name=program_url]") == "http://teams.example/plain"
    assert page.input_value("[name=room]") == "Lilla salen"
    assert roster_text(c) == before  # nothing half-saved
    assert axe_serious(page) == []
    shot(page, "secretary-refused")
    # a row the page cannot read (no device): said per participant, nothing written
    page.fill("[name=program_url]", "https://teams.microsoft.com/l/meetup-join/ks-plan")
    fill_participant(page, 2, name="Gustav Gran")
    page.click("#save")
    page.wait_for_selector("#errors")
    assert "Skriv enhetens id för Gustav Gran." in page.inner_text("#errors")
    assert roster_text(c) == before
    # two participants on one device: the roster's rule, in Swedish
    fill_participant(page, 2, device_id="dev-c")
    page.click("#save")
    page.wait_for_selector("#errors")
    assert "Enheten dev-c är angiven för två deltagare." in page.inner_text("#errors")
    assert roster_text(c) == before
    page.context.close()


def test_a_stale_save_is_refused_and_the_other_edit_kept(collector: Collector, browser: Any) -> None:
    c = collector
    sara = sign_in(browser, c.base, "sekr-ks", path="/secretary/ks-later/edit")
    it = sign_in(browser, c.base, "it", path="/secretary/ks-later/edit")
    for page in (sara, it):
        page.goto(f"{c.base}/secretary/ks-later/edit")
        page.wait_for_selector("form#meeting")
    it.fill("[name=room]", "IT:s rum")
    it.click("#save")
    it.wait_for_selector("#note")
    sara.fill("[name=room]", "Saras rum")
    sara.click("#save")
    sara.wait_for_selector("#errors")
    assert "Någon annan har sparat listan sedan du öppnade formuläret" in sara.inner_text("#errors")
    assert sara.input_value("[name=room]") == "Saras rum"
    text = roster_text(c)
    assert 'room = "IT:s rum"' in text and "Saras rum" not in text
    # she opens the saved version and saves her change on top of it
    sara.click("text=Öppna den sparade versionen")
    assert sara.input_value("[name=room]") == "IT:s rum"
    sara.fill("[name=room]", "Saras rum")
    sara.click("#save")
    sara.wait_for_selector("#note")
    assert 'room = "Saras rum"' in roster_text(c)
    for page in (sara, it):
        page.context.close()


def test_a_calendar_invitation_is_imported_into_the_form(collector: Collector, browser: Any, tmp_path: Path) -> None:
    c = collector
    page = sign_in(browser, c.base, "sekr-ks", path="/secretary/meetings/new")
    page.goto(f"{c.base}/secretary/meetings/new")
    bad = tmp_path / "trasig.ics"
    bad.write_text("detta är ingen kalender", encoding="utf-8")
    page.set_input_files("#ics", str(bad))
    page.click("#import button[type=submit]")
    page.wait_for_selector("#errors")
    assert "Filen är ingen kalenderinbjudan (.ics)." in page.inner_text("#errors")
    big = tmp_path / "stor.ics"
    big.write_bytes(b"BEGIN:VCALENDAR\r\n" + b"X" * (1100 * 1024))
    page.set_input_files("#ics", str(big))
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.click("#import button[type=submit]")
    page.wait_for_selector("#import-error:not([hidden])")
    assert "Kalenderfilen är för stor (högst 1 MB)" in page.inner_text("#import-error")
    assert posts == []  # refused before it was sent (the server would answer 413 before reading it)
    day = _next_week_at(9) + dt.timedelta(days=1)
    ics = tmp_path / "inbjudan.ics"
    ics.write_text(OUTLOOK.replace("20261201", day.strftime("%Y%m%d")).replace("\n", "\r\n"), encoding="utf-8")
    page.set_input_files("#ics", str(ics))
    page.click("#import button[type=submit]")
    page.wait_for_selector("#notes")
    assert page.input_value("[name=id]") == f"kommunstyrelsen-{day:%Y-%m-%d}"
    assert page.input_value("[name=body]") == "kommunstyrelsen"
    assert page.input_value("[name=start]") == f"{day:%Y-%m-%d}T09:00"
    assert page.input_value("[name=room]") == "Sessionssalen, Kommunalhuset"
    assert page.input_value("[name=program_url]").startswith("https://teams.microsoft.com/l/meetup-join/")
    assert page.input_value("[name='p0.email']") == "anna.andersson@politik.kommun.example"
    assert page.input_value("[name='p1.name']") == "Fatima Said"
    assert page.input_value("[name='p1.role']") == "ersättare"  # an optional attendee
    assert page.input_value("[name='p2.name']") == ""  # the organizer is no participant
    assert axe_serious(page) == []
    shot(page, "secretary-import")
    # she completes devices and saves
    fill_participant(page, 0, device_id="dev-anna-ipad", monitoring="browser")
    fill_participant(page, 1, device_id="dev-fatima")
    page.click("#save")
    page.wait_for_selector("#note")
    assert in_force(c, f"kommunstyrelsen-{day:%Y-%m-%d}") is not None
    page.context.close()


def test_an_oversized_calendar_file_is_refused_before_it_is_read(collector: Collector) -> None:
    r = httpx.post(
        f"{collector.base}/secretary/import",
        headers=collector.headers,
        timeout=30,
        files={"ics": ("stor.ics", b"BEGIN:VCALENDAR\r\n" + b"X" * (1100 * 1024), "text/calendar")},
    )
    assert r.status_code == 413


def _sent_to(box: Mailbox, address: str) -> list[Any]:
    return [m for m, (_, rcpts) in zip(box.messages, box.envelopes, strict=True) if address in rcpts]


def test_invitations_are_sent_again_but_never_twice(collector: Collector, box: Mailbox, browser: Any) -> None:
    c = collector
    page = sign_in(browser, c.base, "sekr-ks", path="/secretary/ks-plan-mail")
    page.goto(f"{c.base}/secretary/ks-plan-mail")
    row = "tr[data-member=cecilia]"
    assert page.get_attribute(f"{row} [data-invitation]", "data-invitation") == "never"
    first_form = page.evaluate(
        "() => [...new FormData(document.querySelector('tr[data-member=cecilia] form[data-send]'))]"
    )
    page.click(f"{row} button")
    page.wait_for_selector("#message")
    assert "Inbjudan är skickad till Cecilia Ceder" in page.inner_text("#message")
    assert page.get_attribute(f"{row} [data-invitation]", "data-invitation") == "sent"
    [mail] = _sent_to(box, "cecilia@example.org")
    text = mail.get_body(("plain",)).get_content()
    link = re.search(r"https://\S+/selftest/\S+", text)
    assert link and link.group(0).startswith(PUBLIC + "/selftest/") and "127.0.0.1" not in text
    assert "08-606 78 00" in text and "https://teams.microsoft.com/l/meetup-join/ks-plan" in text
    [ics] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    event: Any = icalendar.Calendar.from_ical(ics.get_content()).walk("VEVENT")[0]
    assert int(event["SEQUENCE"]) == 0 and link.group(0) in str(event["DESCRIPTION"])
    assert event["DTSTART"].dt == MAIL_START
    # the same form posted again (a reload of the answer, the back button): nothing is sent
    again = page.evaluate(
        """async ([url, fields]) => {
            const body = new FormData();
            for (const [k, v] of fields) body.append(k, v);
            const r = await fetch(url, {method: "POST", body});
            return [r.status, await r.text()];
        }""",
        [f"{c.base}/secretary/ks-plan-mail/invitations/cecilia", first_form],
    )
    assert again[0] == 409 and "redan skickad" in again[1]
    assert len(_sent_to(box, "cecilia@example.org")) == 1
    # "Skicka igen" repeats: the calendar entry's next SEQUENCE
    page.goto(f"{c.base}/secretary/ks-plan-mail")
    assert page.inner_text(f"{row} button") == "Skicka igen"
    page.click(f"{row} button")
    page.wait_for_selector("#message")
    _first, second = _sent_to(box, "cecilia@example.org")
    [ics2] = [p for p in second.iter_attachments() if p.get_content_type() == "text/calendar"]
    event2: Any = icalendar.Calendar.from_ical(ics2.get_content()).walk("VEVENT")[0]
    assert int(event2["SEQUENCE"]) == 1 and str(event2["UID"]) == str(event["UID"])
    # a double click: two posts of one form at once, one message
    page.goto(f"{c.base}/secretary/ks-plan-mail")
    statuses = page.evaluate(
        """async () => {
            const form = document.querySelector("tr[data-member=dan] form[data-send]");
            const post = () => fetch(form.action, {method: "POST", body: new FormData(form)}).then(r => r.status);
            return await Promise.all([post(), post()]);
        }"""
    )
    assert sorted(statuses) == [200, 409], statuses
    assert len(_sent_to(box, "dan@example.org")) == 1
    assert axe_serious(page) == []
    page.goto(f"{c.base}/secretary/ks-plan-mail")
    shot(page, "secretary-invitations")
    page.context.close()


def test_a_refusing_or_silent_mail_server_is_said_in_swedish(collector: Collector, box: Mailbox, browser: Any) -> None:
    c = collector
    page = sign_in(browser, c.base, "it", path="/secretary/ks-test")
    page.goto(f"{c.base}/secretary/ks-test")
    row = "tr[data-member=anna]"
    assert "Ingen e-postadress" in page.inner_text("tr[data-member=bo]")
    before = len(box.messages)
    box.refuse = True
    try:
        page.click(f"{row} button")
        page.wait_for_selector("#message")
        assert "E-postservern tog inte emot mottagarens adress." in page.inner_text("#message")
        assert page.get_attribute(f"{row} [data-invitation]", "data-invitation") == "failed"
        assert "tog inte emot" in page.inner_text(f"{row} [data-error]")
    finally:
        box.refuse = False
    assert len(box.messages) == before
    box.stall_s = 120.0  # far past the deadline: the stalled session never delivers during the test
    try:
        page.goto(f"{c.base}/secretary/ks-test")
        page.click(f"{row} button")
        page.wait_for_selector("#message", timeout=60_000)
        assert f"E-postservern svarade inte inom {TIMEOUT_S:g} s. Inbjudan skickades inte." in page.inner_text(
            "#message"
        )
        assert box.stalled.is_set()
    finally:
        box.stall_s = 0.0
    assert len(box.messages) == before
    shot(page, "secretary-smtp-failed")
    # the explicit repeat goes through, once
    page.goto(f"{c.base}/secretary/ks-test")
    page.click(f"{row} button")
    page.wait_for_selector("#message")
    assert "Inbjudan är skickad till Anna Andersson" in page.inner_text("#message")
    assert len(_sent_to(box, "anna@example.org")) == 1
    page.context.close()


def _actions(c: Collector) -> list[dict[str, Any]]:
    engine = sa.create_engine(f"sqlite:///{c.data / 'likavillkor.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT kind, member_id, note, by FROM actions WHERE kind = 'notice_decision'"))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def test_the_chair_decides_on_a_late_request(collector: Collector, browser: Any) -> None:
    c = collector
    sara = sign_in(browser, c.base, "sekr-ks", path="/secretary/ks-plan-mail")
    sara.goto(f"{c.base}/secretary/ks-plan-mail")
    dan = "tr[data-member=dan]"
    assert "Sen anmälan" in sara.inner_text(f"{dan} [data-notice]")
    assert sara.locator(f"{dan} [data-notice] button").count() == 0  # the chair decides (H6)
    sara.context.close()
    chair = sign_in(browser, c.base, "ordf", path="/secretary/ks-plan-mail")
    chair.goto(f"{c.base}/secretary/ks-plan-mail")
    assert chair.locator("form[data-send]").count() == 0  # she sends no invitations
    assert "Väntar på ordförandens beslut" in chair.inner_text(f"{dan} [data-notice]")
    # IT edits the file by hand meanwhile: her decision does not overwrite it, and she is told so
    path = c.workdir / "roster.toml"
    path.write_text(roster_text(c) + "\n# IT: checked the devices\n", encoding="utf-8")
    chair.click(f"{dan} button:has-text('Tillåt distansdeltagande')")
    chair.wait_for_selector("#message")
    assert "Någon annan har sparat listan" in chair.inner_text("#message")
    assert "notice_decision" not in roster_text(c) and roster_text(c).endswith("# IT: checked the devices\n")
    chair.goto(f"{c.base}/secretary/ks-plan-mail")
    chair.click(f"{dan} button:has-text('Tillåt distansdeltagande')")
    chair.wait_for_selector("#message")
    assert "distansdeltagande tillåtet" in chair.inner_text("#message")
    assert chair.get_attribute(f"{dan} [data-decision]", "data-decision") == "allowed"
    assert 'notice_decision = "allowed"' in roster_text(c) and "# IT: checked the devices" in roster_text(c)
    wait_until(
        lambda: _actions(c) == [{"kind": "notice_decision", "member_id": "dan", "note": "allowed", "by": "ordf"}],
        timeout=30,
        what="the decision recorded as an action",
    )
    assert axe_serious(chair) == []
    shot(chair, "secretary-notice-chair")
    # the chair may read the form, not save it
    chair.goto(f"{c.base}/secretary/ks-plan-mail/edit")
    assert chair.locator("#save").count() == 0
    csrf = chair.input_value("[name=csrf_token]")
    status = chair.evaluate(
        "async ([url, csrf]) => (await fetch(url, {method: 'POST', body: new URLSearchParams({csrf_token: csrf})}))"
        ".status",
        [f"{c.base}/secretary/ks-plan-mail/edit", csrf],
    )
    assert status == 403
    chair.context.close()


def test_english_on_request_and_another_bodys_secretary_sees_nothing(collector: Collector, browser: Any) -> None:
    c = collector
    page = sign_in(browser, c.base, "sekr-ks", path="/secretary/ks-plan-mail?lang=en")
    page.goto(f"{c.base}/secretary/ks-plan-mail?lang=en")
    assert "Remote participants" in page.inner_text("main") and "Late request" in page.inner_text("main")
    page.goto(f"{c.base}/secretary/meetings/new?lang=en")
    assert "New meeting" in page.inner_text("h1")
    page.click("#save")
    page.wait_for_selector("#errors")
    assert "Enter the meeting's id" in page.inner_text("#errors") and "Choose the body." in page.inner_text("#errors")
    page.context.close()
    other = sign_in(browser, c.base, "sekr-sn", path="/secretary/ks-plan-mail")
    r = other.goto(f"{c.base}/secretary/ks-plan-mail")
    assert r is not None and r.status == 404  # another body's meeting: as if it did not exist
    other.goto(f"{c.base}/secretary/meetings/new")
    assert [o for o in other.locator("[name=body] option").all_inner_texts() if o != "Välj …"] == ["Socialnämnden"]
    other.context.close()


@pytest.mark.parametrize("size", [(1024, 768), (768, 1024)])
def test_the_pages_fit_a_tablet_without_sideways_scrolling(
    collector: Collector, browser: Any, size: tuple[int, int]
) -> None:
    c = collector
    page = sign_in(browser, c.base, "sekr-ks", path="/secretary/ks-plan-mail", viewport=size)
    for path in ("/secretary/ks-plan-mail", "/secretary/ks-plan-mail/edit", "/secretary/meetings/new"):
        page.goto(c.base + path)
        wide = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wide[0] <= wide[1], (path, size, wide)
    page.context.close()
