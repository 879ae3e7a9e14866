"""Every dashboard query against a real InfluxDB 1.x (Debian's influxd 1.6) holding what the
collector writes for a scripted meeting (tests/dashboards/meeting.py: the real engine, the
collector's point functions and its v1 transport). Values are compared with what the engine said."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.engine import IncidentClosed, IncidentOpened, StateChanged
from collector.store.influx import STATE_CODES, VERDICT_CODES, InfluxWriter, V1Transport
from tests.dashboards import influxql as iq
from tests.dashboards.meeting import (
    ANNA_SILENT_AT,
    BODY,
    FIRST,
    LAST,
    MEETING_ID,
    MEMBERS,
    START,
    Script,
    device,
    scripted_meeting,
)
from tests.support.databases import InfluxV1, running_influxdb1

DB = "likavillkor"
NAMES = ("ordforandepanel.json", "incidenthistorik.json", "enhetshalsa.json")
ALL = ".*"
VARS = {
    "body": iq.regex_escape(BODY),
    "meeting": iq.regex_escape(MEETING_ID),
    "member": ALL,
    "device": iq.regex_escape(device("anna")),
    "min_incidents": "2",
}
FULL = iq.Window(FIRST, LAST)
LOST = START + 200  # anna has been without contact since ANNA_SILENT_AT


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfluxV1, Script]]:
    script = scripted_meeting()
    root: Path = tmp_path_factory.mktemp("influx1")
    with running_influxdb1(root) as db:
        db.create_database(DB)
        writer = InfluxWriter(V1Transport(db.url, database=DB, token="", timeout_s=10), flush_interval_s=0.05)
        writer.start()
        for ln in script.lines:
            writer.put(ln)
        assert writer.flush(20), f"InfluxDB 1.x did not take the points: {writer.stats}"
        writer.stop()
        assert writer.stats.written == len(script.lines) and writer.stats.dropped == 0
        yield db, script


def run(db: InfluxV1, query: str, window: iq.Window = FULL, **overrides: str) -> list[dict[str, Any]]:
    return db.query(iq.interpolate(query, {**VARS, **overrides}, window), DB)


def history(db: InfluxV1, query: str, window: iq.Window = FULL, **overrides: str) -> list[dict[str, Any]]:
    """Incidenthistorik with every device (the $device filter on "All")."""
    return run(db, query, window, **{"device": ALL, **overrides})


def panel(dashboard: str, title: str, ref: str = "A") -> str:
    found = [q.query for q in iq.panel_queries(dashboard) if q.panel == title and q.ref == ref]
    assert len(found) == 1, f"{dashboard}: no single panel {title!r} {ref}"
    return found[0]


def all_queries() -> list[iq.Query]:
    return [q for name in NAMES for q in iq.panel_queries(name)]


@pytest.mark.parametrize("q", all_queries(), ids=lambda q: f"{q.dashboard}:{q.panel}:{q.ref}")
def test_every_panel_query_answers_with_data(loaded: tuple[InfluxV1, Script], q: iq.Query) -> None:
    db, _ = loaded
    # the countdown looks back from the end of the range: end it while someone is lost
    window = iq.Window(FIRST, LOST) if "${__to}" in q.query else FULL
    rows = run(db, q.query, window)
    assert rows, f"no data for {q.panel} {q.ref}: {iq.interpolate(q.query, VARS, window)}"


def test_every_variable_query_answers(loaded: tuple[InfluxV1, Script]) -> None:
    db, _ = loaded
    got = {}
    for name in NAMES:
        for var, query in iq.variable_queries(name):
            got[(name, var)] = sorted(str(r["value"]) for r in run(db, query))
    assert got[("ordforandepanel.json", "body")] == [BODY]
    assert got[("ordforandepanel.json", "meeting")] == [MEETING_ID]
    assert got[("ordforandepanel.json", "member")] == sorted(MEMBERS)
    assert got[("incidenthistorik.json", "device")] == sorted(device(m) for m in MEMBERS)
    assert got[("enhetshalsa.json", "device")] == sorted(device(m) for m in MEMBERS)
    # a filter that matches nothing gives nothing (the variable really filters)
    assert run(db, iq.load("ordforandepanel.json")["templating"]["list"][1]["query"], body="nobody") == []


def _written(db: InfluxV1) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    names: dict[str, set[str]] = {}
    for m in (r["name"] for r in db.query("SHOW MEASUREMENTS", DB)):
        fields = {str(r["fieldKey"]) for r in db.query(f'SHOW FIELD KEYS FROM "{m}"', DB)}
        tags = {str(r["tagKey"]) for r in db.query(f'SHOW TAG KEYS FROM "{m}"', DB)}
        names[str(m)] = fields | tags
    values = set()
    for m in names:
        for r in db.query(f'SHOW TAG VALUES FROM "{m}" WITH KEY =~ /.*/', DB):
            values.add((str(r["key"]), str(r["value"])))
    return names, values


def unknown_references(query: str, written: dict[str, set[str]], values: set[tuple[str, str]]) -> list[str]:
    ref = iq.references(query)
    problems = [f"measurement {m}" for m in ref.measurements if m not in written]
    known = set().union(*(written.get(m, set()) for m in ref.measurements))
    problems += [f"field or tag {n}" for n in sorted(ref.names) if n not in known]
    problems += [f"tag value {k}={v}" for k, v in sorted(ref.tag_values) if (k, v) not in values]
    return problems


def test_dashboards_refer_only_to_what_the_collector_writes(loaded: tuple[InfluxV1, Script]) -> None:
    db, _ = loaded
    written, values = _written(db)
    assert set(written) == {"sample", "participant_state", "meeting_verdict", "incident"}
    queries = [(q.panel, q.query) for q in all_queries()]
    queries += [(f"${v}", q) for name in NAMES for v, q in iq.variable_queries(name)]
    problems = {title: p for title, q in queries if (p := unknown_references(q, written, values))}
    assert problems == {}
    # the check can fail: a typo in a measurement, a field, a tag value
    assert unknown_references('SELECT last("verdict_code") FROM "meeting_verdicts"', written, values)
    assert unknown_references('SELECT mean("rtt") FROM "sample"', written, values) == ["field or tag rtt"]
    assert unknown_references(
        'SELECT count("duration_s") FROM "incident" WHERE "event" = \'open\'', written, values
    ) == ["tag value event=open"]


@pytest.mark.parametrize("offset_s", [30, 200, 370, 610])
def test_verdict_at_a_given_time(loaded: tuple[InfluxV1, Script], offset_s: int) -> None:
    db, script = loaded
    at = START + offset_s
    expected = script.views[at].verdict
    rows = run(db, panel("ordforandepanel.json", "Lika villkor"), iq.Window(FIRST, at))
    assert [r["last"] for r in rows] == [VERDICT_CODES[expected]]
    # and the panel shows it in Swedish
    mapping = iq.load("ordforandepanel.json")["panels"][0]["fieldConfig"]["defaults"]["mappings"]
    texts = {k: v["text"] for m in mapping for k, v in m["options"].items()}
    assert texts[str(VERDICT_CODES[expected])] == iq.build_module().VERDICT_TEXT[expected][0]


def test_verdict_follows_the_script(loaded: tuple[InfluxV1, Script]) -> None:
    """The scripted events really happened (H15: lost -> adjourn; H16: five minutes -> substitute)."""
    _, script = loaded
    assert str(script.views[START + 200].verdict) == "adjourn"
    assert str(script.views[START + 370].verdict) == "substitute_due"
    assert str(script.views[START + 610].verdict) == "ended"


def test_adjourned_flag(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    q = panel("ordforandepanel.json", "Ajournerat")
    for at in (START + 30, START + 200, START + 395):
        expected = int(script.views[at].adjourned_since is not None)
        assert [r["last"] for r in run(db, q, iq.Window(FIRST, at))] == [expected], at
    assert script.views[START + 200].adjourned_since is not None


def test_countdown_while_lost_and_empty_after(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    q = panel("ordforandepanel.json", "Ersättare om (H16)")
    rows = run(db, q, iq.Window(FIRST, LOST))
    anna = next(p for p in script.views[LOST].participants if p.member_id == "anna")
    assert anna.substitute_in_s is not None and anna.lost_since is not None
    assert [(r["member_id"], r["last"]) for r in rows] == [("anna", pytest.approx(anna.substitute_in_s))]
    assert rows[0]["last"] == pytest.approx(300 - (LOST - anna.lost_since))  # H16: five minutes
    assert anna.lost_since < ANNA_SILENT_AT
    # replaced at five minutes: no countdown any more
    assert run(db, q, iq.Window(FIRST, START + 500)) == []
    # the history panel has the whole countdown, falling
    hist = [
        r["last"]
        for r in run(db, panel("ordforandepanel.json", "Nedräkning till ersättare (H16)"))
        if r["last"] is not None
    ]
    assert hist and hist == sorted(hist, reverse=True) and hist[-1] < 10


def test_participant_states_at_the_end(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    rows = run(db, panel("ordforandepanel.json", "Deltagarnas läge"))
    last = {r["member_id"]: r["last"] for r in rows if r["last"] is not None}  # rows are in time order
    final = script.views[max(script.views)]
    assert last == {p.member_id: STATE_CODES[str(p.state)] for p in final.participants}
    assert last["anna"] == STATE_CODES["replaced"]


def test_network_table_shows_each_members_latest_sample(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    rows = run(db, panel("ordforandepanel.json", "Nätverk och batteri nu"))
    got = {r["member_id"]: (r["link"], r["rtt_ms"], r["loss_percent"], r["battery_percent"]) for r in rows}
    expected = {m: (str(s.link), s.rtt_ms, s.loss_percent, s.battery_percent) for m, s in script.last_sample.items()}
    assert got == expected
    mobile = run(db, panel("ordforandepanel.json", "Tid på mobildata eller surfzon (H9)"))
    assert {r["member_id"]: r["count"] for r in mobile} == {"bo": 30, "cecilia": 15}


def _opened(script: Script) -> list[Any]:
    return [c.incident for c in script.changes if isinstance(c, IncidentOpened)]


def test_incident_counts(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    opened = _opened(script)
    assert len(opened) >= 3
    d = "incidenthistorik.json"
    assert [r["count"] for r in history(db, panel(d, "Incidenter"))] == [len(opened)]
    for title, tag, attr in (
        ("Per slag", "kind", "kind"),
        ("Per ledamot", "member_id", "member_id"),
        ("Per enhet", "device_id", "device_id"),
        ("Per nämnd", "body", "body"),
    ):
        got = {r[tag]: r["count"] for r in history(db, panel(d, title))}
        assert got == dict(Counter(getattr(i, attr) for i in opened)), title
    # filters: one member; two members the way Grafana writes a multi-value selection
    assert [r["count"] for r in history(db, panel(d, "Incidenter"), member="bo")] == [
        sum(i.member_id == "bo" for i in opened)
    ]
    two = {r["member_id"]: r["count"] for r in history(db, panel(d, "Per ledamot"), member="(anna|cecilia)")}
    assert two == dict(Counter(i.member_id for i in opened if i.member_id in ("anna", "cecilia")))


def test_devices_that_keep_failing(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    per_device = Counter(i.device_id for i in _opened(script))
    q = panel("incidenthistorik.json", "Enheter som fallerar upprepade gånger")
    for threshold in (2, 3):
        got = {r["device_id"]: r["incidenter"] for r in history(db, q, min_incidents=str(threshold))}
        assert got == {dev: n for dev, n in per_device.items() if n >= threshold}
    assert per_device[device("anna")] >= 2


def test_adjournments_and_substitutions_over_time(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    q = "Ajourneringar och ersättare över tid"
    window = iq.Window(FIRST, LAST, "1h")
    total = {ref: sum(r["count"] for r in history(db, panel("incidenthistorik.json", q, ref), window)) for ref in "ABC"}
    closed = [c.incident for c in script.changes if isinstance(c, IncidentClosed)]
    replaced = {
        (c.meeting_id, c.member_id) for c in script.changes if isinstance(c, StateChanged) and str(c.new) == "replaced"
    }
    assert total == {"A": 1, "B": sum(i.adjourned_s > 0 for i in closed), "C": len(replaced)}
    assert total["B"] >= 1 and total["C"] == 1
    adjourned = history(db, panel("incidenthistorik.json", "Ajournerad tid"))
    assert adjourned[0]["sum"] == pytest.approx(sum(i.adjourned_s for i in closed), abs=0.01)


def test_device_health_follows_one_device(loaded: tuple[InfluxV1, Script]) -> None:
    db, script = loaded
    rows = run(db, panel("enhetshalsa.json", "Nätverkstyp (mätningar per intervall)"), device=device("bo"))
    by_link = Counter[str]()
    for r in rows:
        by_link[r["link"]] += r["count"] or 0
    samples = sum(1 for ln in script.lines if ln.startswith("sample,") and f"device_id={device('bo')}" in ln)
    assert by_link["wwan"] == 30 and by_link["wifi"] + by_link["wwan"] == samples
    inc = run(db, panel("enhetshalsa.json", "Enhetens incidenter"))
    assert {r["kind"] for r in inc} == {i.kind for i in _opened(script) if i.device_id == device("anna")}
    assert len(inc) == 2 * len([i for i in _opened(script) if i.device_id == device("anna")])
