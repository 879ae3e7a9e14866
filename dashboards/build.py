"""Generate the Grafana dashboards (JSON, provisioned from files) from plain Python dicts.

    .venv/bin/python dashboards/build.py          # write dashboards/*.json
    .venv/bin/python dashboards/build.py --check  # exit 1 if a committed file differs

The codes and texts come from the collector itself (``collector.store.influx`` for ``verdict_code`` and
``state_code``, ``collector.web.i18n`` for the Swedish names), so a renumbered code or a renamed
state changes the dashboards too. Every query is InfluxQL (InfluxDB 1.x; 2.x through a DBRP
mapping; 3.x): see docs/dashboards.md and docs/influx-schema.md. tests/dashboards/ runs every
query against a real InfluxDB 1.x loaded with what the collector writes for a scripted meeting.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(HERE.parent))

from collector.store.influx import STATE_CODES, VERDICT_CODES  # noqa: E402
from collector.web.i18n import TEXT  # noqa: E402

Json = dict[str, Any]
DATASOURCE: Json = {"type": "influxdb", "uid": "likavillkor-influxdb"}
SCHEMA_VERSION = 39
TAGS = ["likavillkor"]

#: the big verdict text on the chair's panel (short forms of the banner texts); colour per verdict
VERDICT_TEXT: dict[str, tuple[str, str]] = {
    "equal_terms": ("Lika villkor uppfyllt", "green"),
    "at_risk": ("Risk", "yellow"),
    "adjourn": ("Ajournera", "red"),
    "substitute_due": ("Ersättare ska kallas in", "dark-red"),
    "monitoring_interrupted": ("Övervakningen avbruten", "purple"),
    "not_started": ("Ej påbörjat", "text"),
    "ended": ("Avslutat", "text"),
    "not_all_monitored": ("Alla övervakas inte", "blue"),
}
STATE_COLOURS: dict[str, str] = {
    "ok": "green",
    "ready": "light-green",
    "connected": "light-green",
    "expected": "text",
    "degraded": "yellow",
    "failing": "orange",
    "lost": "red",
    "replaced": "dark-red",
    "excused": "blue",
    "left": "blue",
    "not_monitored": "blue",
}
LINKS = ("wifi", "ethernet", "wwan", "hotspot", "none", "unknown")
#: how far back the countdown looks for the latest point: three periodic points at the default
#: ``[influx] state_interval_s = 5`` (docs/influx-schema.md)
COUNTDOWN_WINDOW = "15s"

MEETING = '"meeting_id" =~ /^$meeting$/'
MEMBER = '"member_id" =~ /^$member$/'
BODY = '"body" =~ /^$body$/'
DEVICE = '"device_id" =~ /^$device$/'
TIME = "$timeFilter"


# -- building blocks -----------------------------------------------------------------------------
def target(query: str, ref: str = "A", *, alias: str = "", fmt: str = "time_series") -> Json:
    t: Json = {"datasource": DATASOURCE, "refId": ref, "rawQuery": True, "query": query, "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def panel(
    kind: str,
    title: str,
    grid: tuple[int, int, int, int],
    targets: list[Json],
    *,
    description: str = "",
    unit: str = "",
    mappings: list[Json] | None = None,
    thresholds: list[Json] | None = None,
    options: Json | None = None,
    custom: Json | None = None,
    field_extra: Json | None = None,
    extra: Json | None = None,
) -> Json:
    x, y, w, h = grid
    defaults: Json = {
        "mappings": mappings or [],
        "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]},
    }
    if unit:
        defaults["unit"] = unit
    if custom:
        defaults["custom"] = custom
    defaults.update(field_extra or {})
    p: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }
    if extra:
        p.update(extra)
    return p


def value_mappings(labels: dict[int, tuple[str, str]]) -> list[Json]:
    """Grafana value mappings: code -> (text, colour)."""
    return [
        {"type": "value", "options": {str(code): {"text": text, "color": colour, "index": i}}}
        for i, (code, (text, colour)) in enumerate(sorted(labels.items()))
    ]


def verdict_labels() -> dict[int, tuple[str, str]]:
    return {VERDICT_CODES[v]: VERDICT_TEXT[v] for v in VERDICT_CODES}


def state_labels() -> dict[int, tuple[str, str]]:
    """state_code -> Swedish name; ``ready`` and ``connected`` share a code."""
    out: dict[int, tuple[str, str]] = {}
    for state, code in STATE_CODES.items():
        name = TEXT[f"state.{state}"]["sv"]
        if code in out:
            name = f"{out[code][0]} / {name.lower()}"
        out[code] = (name, STATE_COLOURS[state])
    return out


def link_mappings() -> list[Json]:
    return [
        {"type": "value", "options": {link: {"text": TEXT[f"link.{link}"]["sv"], "index": i}}}
        for i, link in enumerate(LINKS)
    ]


def query_variable(name: str, label: str, query: str, *, multi: bool = False) -> Json:
    v: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 1,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }
    if multi:
        v["allValue"] = ".*"
    return v


def custom_variable(name: str, label: str, values: list[str], default: str) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "hide": 0,
        "current": {"text": default, "value": default},
        "options": [{"text": v, "value": v, "selected": v == default} for v in values],
        "multi": False,
        "includeAll": False,
        "skipUrlSync": False,
    }


def dashboard(
    uid: str, title: str, description: str, variables: list[Json], panels: list[Json], *, time_from: str, refresh: str
) -> Json:
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "timezone": "browser",
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "graphTooltip": 1,
        "liveNow": False,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def series(
    title: str,
    grid: tuple[int, int, int, int],
    queries: list[tuple[str, str]],
    *,
    unit: str,
    description: str = "",
    draw: str = "line",
) -> Json:
    """A time series panel; ``queries`` are (InfluxQL, alias)."""
    refs = "ABCDEFGH"
    return panel(
        "timeseries",
        title,
        grid,
        [target(q, refs[i], alias=a) for i, (q, a) in enumerate(queries)],
        description=description,
        unit=unit,
        custom={
            "drawStyle": draw,
            "lineWidth": 1,
            "fillOpacity": 10 if draw == "line" else 80,
            "spanNulls": False,
            "showPoints": "never",
        },
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    )


# -- variables -----------------------------------------------------------------------------------
def body_variable(*, multi: bool = False) -> Json:
    return query_variable("body", "Nämnd", 'SHOW TAG VALUES FROM "meeting_verdict" WITH KEY = "body"', multi=multi)


def meeting_variable() -> Json:
    return query_variable(
        "meeting", "Sammanträde", f'SHOW TAG VALUES FROM "meeting_verdict" WITH KEY = "meeting_id" WHERE {BODY}'
    )


def member_variable(where: str) -> Json:
    return query_variable(
        "member",
        "Ledamot",
        f'SHOW TAG VALUES FROM "participant_state" WITH KEY = "member_id" WHERE {where}',
        multi=True,
    )


def device_variable(where: str, *, multi: bool) -> Json:
    q = 'SHOW TAG VALUES FROM "sample" WITH KEY = "device_id"' + (f" WHERE {where}" if where else "")
    return query_variable("device", "Enhet", q, multi=multi)


# -- Ordförandepanel -----------------------------------------------------------------------------
def chair() -> Json:
    m = f"{MEETING} AND {MEMBER}"
    panels = [*_chair_now(m), *_chair_participants(m), *_chair_history(m)]
    return dashboard(
        "likavillkor-chair",
        "Ordförandepanel",
        "Sammanträdets läge för ordföranden och sekreteraren: lika villkor, varje "
        "distansdeltagares läge, femminutersregeln (H16), nätverk och batteri.",
        [body_variable(), meeting_variable(), member_variable(MEETING)],
        panels,
        time_from="now-3h",
        refresh="5s",
    )


def last_value(**options: Any) -> Json:
    """A stat or gauge panel's options showing the last value (``options`` added)."""
    return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, **options}


def _chair_now(m: str) -> list[Json]:
    """The top row: the verdict (H15, H16), adjourned or not (H15), the five-minute countdown (H16)."""
    return [
        panel(
            "stat",
            "Lika villkor",
            (0, 0, 12, 6),
            [target(f'SELECT last("verdict_code") FROM "meeting_verdict" WHERE {MEETING} AND {TIME}')],
            description="Sammanträdets läge just nu (H15, H16). Ajournera: en ledamot har tappat "
            "kontakten. Ersättare ska kallas in: fem minuter har gått (H16).",
            mappings=value_mappings(verdict_labels()),
            options=last_value(
                colorMode="background",
                graphMode="none",
                textMode="value",
                justifyMode="center",
                orientation="auto",
                wideLayout=True,
            ),
        ),
        panel(
            "stat",
            "Ajournerat",
            (12, 0, 4, 6),
            [target(f'SELECT last("adjourned") FROM "meeting_verdict" WHERE {MEETING} AND {TIME}')],
            description="Om ordföranden har ajournerat sammanträdet (H15).",
            mappings=value_mappings({0: ("Nej", "text"), 1: ("Ja", "red")}),
            options=last_value(colorMode="value", graphMode="none", textMode="value"),
        ),
        panel(
            "stat",
            "Ersättare om (H16)",
            (16, 0, 8, 6),
            [
                target(
                    f'SELECT last("substitute_in_s") FROM "participant_state" WHERE {m} '
                    f'AND time > ${{__to}}ms - {COUNTDOWN_WINDOW} AND time <= ${{__to}}ms GROUP BY "member_id"',
                    alias="$tag_member_id",
                )
            ],
            description="Femminutersregeln (H16): tid kvar innan en ersättare ska kallas in, för varje "
            "ledamot utan kontakt. Tomt när ingen saknas.",
            unit="s",
            thresholds=[
                {"color": "red", "value": None},
                {"color": "orange", "value": 60},
                {"color": "yellow", "value": 180},
            ],
            field_extra={"decimals": 0, "noValue": "Ingen saknas"},
            options=last_value(colorMode="background", graphMode="none", textMode="value_and_name"),
        ),
    ]


def _chair_participants(m: str) -> list[Json]:
    """Each remote participant's state over time, and her device's latest figures (H9)."""
    units = (
        ("rtt_ms", "ms"),
        ("jitter_ms", "ms"),
        ("loss_percent", "percent"),
        ("battery_percent", "percent"),
        ("device_lag_s", "s"),
    )
    return [
        panel(
            "state-timeline",
            "Deltagarnas läge",
            (0, 6, 24, 8),
            [
                target(
                    f'SELECT last("state_code") FROM "participant_state" WHERE {m} AND {TIME} '
                    f'GROUP BY time($__interval), "member_id" fill(previous)',
                    alias="$tag_member_id",
                )
            ],
            description="Varje distansdeltagares läge över tid.",
            mappings=value_mappings(state_labels()),
            custom={"fillOpacity": 80, "lineWidth": 0},
            options={
                "showValue": "auto",
                "mergeValues": True,
                "rowHeight": 0.8,
                "alignValue": "left",
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
            },
        ),
        panel(
            "table",
            "Nätverk och batteri nu",
            (0, 14, 24, 7),
            [
                target(
                    'SELECT last("device_lag_s") AS "device_lag_s", "link", "rtt_ms", "loss_percent", "jitter_ms", '
                    f'"mos", "battery_percent" FROM "sample" WHERE {m} AND {TIME} GROUP BY "member_id"',
                    fmt="table",
                )
            ],
            description="Senaste mätningen från varje deltagares enhet: nätverkstyp (H9), svarstid, "
            "paketförlust, jitter, beräknad samtalskvalitet (MOS 1–5) och batteri.",
            extra={
                "fieldConfig": {
                    "defaults": {"mappings": link_mappings()},
                    "overrides": [
                        {"matcher": {"id": "byName", "options": n}, "properties": [{"id": "unit", "value": u}]}
                        for n, u in units
                    ],
                },
                "transformations": [
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True},
                            "renameByName": {
                                "member_id": "Ledamot",
                                "link": "Nätverk",
                                "rtt_ms": "Svarstid",
                                "loss_percent": "Paketförlust",
                                "jitter_ms": "Jitter",
                                "mos": "MOS",
                                "battery_percent": "Batteri",
                                "device_lag_s": "Fördröjning",
                            },
                        },
                    }
                ],
            },
        ),
    ]


def _chair_history(m: str) -> list[Json]:
    """Time on mobile data (H9), the countdown (H16) and each quality figure over the meeting."""
    per_member = 'GROUP BY time($__interval), "member_id" fill(null)'
    panels = [
        panel(
            "bargauge",
            "Tid på mobildata eller surfzon (H9)",
            (0, 21, 8, 7),
            [
                target(
                    f'SELECT count("device_lag_s") FROM "sample" WHERE {m} AND ("link" = '
                    "'wwan' OR \"link\" = 'hotspot') "
                    f'AND {TIME} GROUP BY "member_id"',
                    alias="$tag_member_id",
                )
            ],
            description="Antal mätningar (ungefär sekunder) över mobildata eller en telefons surfzon.",
            unit="s",
            thresholds=[{"color": "orange", "value": None}],
            options=last_value(orientation="horizontal", displayMode="basic"),
        ),
        series(
            "Nedräkning till ersättare (H16)",
            (8, 21, 16, 7),
            [
                (
                    f'SELECT last("substitute_in_s") FROM "participant_state" WHERE {m} AND {TIME} {per_member}',
                    "$tag_member_id",
                )
            ],
            unit="s",
        ),
    ]
    quality = [
        ("Svarstid", "rtt_ms", "ms"),
        ("Paketförlust", "loss_percent", "percent"),
        ("Jitter", "jitter_ms", "ms"),
        ("Samtalskvalitet (MOS)", "mos", "none"),
        ("Batteri", "battery_percent", "percent"),
    ]
    for i, (title, field, unit) in enumerate(quality):
        panels.append(
            series(
                title,
                ((i % 2) * 12, 28 + (i // 2) * 7, 12, 7),
                [(f'SELECT mean("{field}") FROM "sample" WHERE {m} AND {TIME} {per_member}', "$tag_member_id")],
                unit=unit,
            )
        )
    return panels


# -- Incidenthistorik ----------------------------------------------------------------------------
#: the filters of the incident history: body, member and device
INCIDENT_FILTER = f"{BODY} AND {MEMBER} AND {DEVICE}"
#: incidents that began in the period
OPENED = f"\"event\" = 'opened' AND {INCIDENT_FILTER} AND {TIME}"


def incidents() -> Json:
    panels = [
        *_incident_totals(),
        _incident_by("body", "Per nämnd", 0, 9),
        _incident_by("member_id", "Per ledamot", 6, 9),
        _incident_by("device_id", "Per enhet", 12, 9),
        _incident_by("kind", "Per slag", 18, 9),
        *_incident_tables(),
    ]
    return dashboard(
        "likavillkor-incidents",
        "Incidenthistorik",
        "För IT och Servicedesk: incidenter per nämnd, ledamot, enhet och slag; "
        "ajourneringar och ersättare över tid; enheter som fallerar upprepade gånger.",
        [
            body_variable(multi=True),
            member_variable(BODY),
            device_variable(MEMBER, multi=True),
            custom_variable("min_incidents", "Minst antal incidenter", ["2", "3", "5", "10"], "3"),
        ],
        panels,
        time_from="now-30d",
        refresh="1m",
    )


def _incident_by(tag: str, title: str, x: int, y: int) -> Json:
    """Incidents that began in the period, counted per ``tag``."""
    return panel(
        "bargauge",
        title,
        (x, y, 6, 9),
        [target(f'SELECT count("duration_s") FROM "incident" WHERE {OPENED} GROUP BY "{tag}"', alias=f"$tag_{tag}")],
        options=last_value(orientation="horizontal", displayMode="basic"),
        thresholds=[{"color": "orange", "value": None}],
    )


def _incident_totals() -> list[Json]:
    """The top row: incidents, adjourned time (H15), adjournments and substitutes over time (H15, H16)."""
    f = INCIDENT_FILTER
    return [
        panel(
            "stat",
            "Incidenter",
            (0, 0, 6, 5),
            [target(f'SELECT count("duration_s") FROM "incident" WHERE {OPENED}')],
            description="Antal incidenter som började under perioden.",
            options=last_value(colorMode="value", graphMode="none", textMode="value"),
        ),
        panel(
            "stat",
            "Ajournerad tid",
            (6, 0, 6, 5),
            [target(f'SELECT sum("adjourned_s") FROM "incident" WHERE "event" = \'closed\' AND {f} AND {TIME}')],
            description="Summa tid som sammanträden var ajournerade under avslutade incidenter (H15).",
            unit="s",
            options=last_value(colorMode="value", graphMode="none", textMode="value"),
        ),
        series(
            "Ajourneringar och ersättare över tid",
            (12, 0, 12, 9),
            [
                (
                    'SELECT count("first") FROM (SELECT first("adjourned") FROM '
                    '"meeting_verdict" WHERE "adjourned" = 1 '
                    f'AND {BODY} AND {TIME} GROUP BY "meeting_id") WHERE {TIME} GROUP BY time($__interval) fill(0)',
                    "Ajournerade sammanträden",
                ),
                (
                    f'SELECT count("adjourned_s") FROM "incident" WHERE "event" = \'closed\' AND "adjourned_s" > 0 '
                    f"AND {f} AND {TIME} GROUP BY time($__interval) fill(0)",
                    "Incidenter som ledde till ajournering",
                ),
                (
                    f'SELECT count("first") FROM (SELECT first("state_code") FROM "participant_state" '
                    f"WHERE \"state\" = 'replaced' AND {BODY} AND {MEMBER} AND {TIME} GROUP BY "
                    '"meeting_id", "member_id") '
                    f"WHERE {TIME} GROUP BY time($__interval) fill(0)",
                    "Ersättare inkallade (H16)",
                ),
            ],
            unit="none",
            draw="bars",
            description="Per tidsintervall: sammanträden som ajournerades, incidenter under vilka "
            "sammanträdet var ajournerat (H15) och ledamöter som ersattes (H16).",
        ),
    ]


def _incident_tables() -> list[Json]:
    """Devices that fail again and again, and the closed incidents."""
    return [
        panel(
            "table",
            "Enheter som fallerar upprepade gånger",
            (0, 18, 12, 8),
            [
                target(
                    'SELECT "incidenter" FROM (SELECT count("duration_s") AS "incidenter" FROM '
                    f'"incident" WHERE {OPENED} '
                    f'GROUP BY "device_id", "member_id") WHERE "incidenter" >= $min_incidents '
                    f'GROUP BY "device_id", "member_id"',
                    fmt="table",
                )
            ],
            description="Enheter med minst $min_incidents incidenter under perioden: byt eller se över dem.",
            extra={
                "transformations": [
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True},
                            "renameByName": {"device_id": "Enhet", "member_id": "Ledamot", "incidenter": "Incidenter"},
                        },
                    }
                ]
            },
        ),
        panel(
            "table",
            "Avslutade incidenter",
            (12, 18, 12, 8),
            [
                target(
                    'SELECT "kind", "body", "member_id", "device_id", "meeting_id", "duration_s", "severity_code", '
                    f'"adjourned_s" FROM "incident" WHERE "event" = \'closed\' AND {INCIDENT_FILTER} AND {TIME}',
                    fmt="table",
                )
            ],
            extra={
                "fieldConfig": {
                    "defaults": {"mappings": value_mappings({1: ("Varning", "yellow"), 2: ("Fel", "red")})},
                    "overrides": [
                        {
                            "matcher": {"id": "byRegexp", "options": "duration_s|adjourned_s"},
                            "properties": [{"id": "unit", "value": "s"}],
                        }
                    ],
                },
                "transformations": [
                    {
                        "id": "organize",
                        "options": {
                            "renameByName": {
                                "Time": "Slut",
                                "kind": "Slag",
                                "body": "Nämnd",
                                "member_id": "Ledamot",
                                "device_id": "Enhet",
                                "meeting_id": "Sammanträde",
                                "duration_s": "Varaktighet",
                                "severity_code": "Allvar",
                                "adjourned_s": "Ajournerat",
                            }
                        },
                    }
                ],
            },
        ),
    ]


# -- Enhetshälsa ---------------------------------------------------------------------------------
def device_health() -> Json:
    d = f"{DEVICE} AND {TIME}"
    group = "GROUP BY time($__interval) fill(null)"

    def q(fn: str, field: str) -> str:
        return f'SELECT {fn}("{field}") FROM "sample" WHERE {d} {group}'

    panels = [
        series(
            "Svarstid och jitter",
            (0, 0, 12, 7),
            [(q("mean", "rtt_ms"), "Svarstid"), (q("mean", "jitter_ms"), "Jitter")],
            unit="ms",
        ),
        series("Paketförlust", (12, 0, 12, 7), [(q("max", "loss_percent"), "Paketförlust")], unit="percent"),
        series("Samtalskvalitet (MOS)", (0, 7, 12, 7), [(q("min", "mos"), "MOS")], unit="none"),
        series("Batteri", (12, 7, 12, 7), [(q("mean", "battery_percent"), "Batteri")], unit="percent"),
        series("Batteritid kvar", (0, 14, 12, 7), [(q("mean", "battery_minutes_left"), "Minuter kvar")], unit="m"),
        series("Wi-Fi-signal", (12, 14, 12, 7), [(q("mean", "wifi_signal_dbm"), "Signal (dBm)")], unit="dBm"),
        series(
            "Wi-Fi-kvalitet och länkhastighet",
            (0, 21, 12, 7),
            [(q("mean", "wifi_signal_percent"), "Signal %"), (q("mean", "link_rate_mbps"), "Länk Mbit/s")],
            unit="none",
        ),
        series(
            "Trafik",
            (12, 21, 12, 7),
            [(q("mean", "tx_kbps"), "Skickat"), (q("mean", "rx_kbps"), "Mottaget")],
            unit="Kbits",
        ),
        series(
            "Dator",
            (0, 28, 12, 7),
            [(q("mean", "cpu_percent"), "Processor %"), (q("min", "mem_available_percent"), "Ledigt minne %")],
            unit="percent",
        ),
        series(
            "Fördröjning till insamlaren",
            (12, 28, 12, 7),
            [(q("max", "device_lag_s"), "Fördröjning")],
            unit="s",
            description="Mottagningstid minus enhetens klocka: stora värden betyder att "
            "enheten skickar upp mätningar den sparat medan den var utan nät.",
        ),
        series(
            "Laddar, reflektorn nåbar, uppmätt anslutning (1 = ja)",
            (0, 35, 12, 7),
            [
                (q("max", "battery_charging"), "Laddar"),
                (q("min", "probe_reachable"), "Reflektorn nåbar"),
                (q("max", "metered"), "Uppmätt anslutning"),
            ],
            unit="none",
        ),
        series(
            "Nätverkstyp (mätningar per intervall)",
            (12, 35, 12, 7),
            [
                (
                    f'SELECT count("device_lag_s") FROM "sample" WHERE {d} GROUP BY '
                    'time($__interval), "link" fill(none)',
                    "$tag_link",
                )
            ],
            unit="none",
            draw="bars",
        ),
        panel(
            "state-timeline",
            "Deltagarläge",
            (0, 42, 24, 6),
            [
                target(
                    f'SELECT last("state_code") FROM "participant_state" WHERE {d} '
                    'GROUP BY time($__interval), "meeting_id" fill(previous)',
                    alias="$tag_meeting_id",
                )
            ],
            mappings=value_mappings(state_labels()),
            custom={"fillOpacity": 80, "lineWidth": 0},
            options={
                "showValue": "auto",
                "mergeValues": True,
                "rowHeight": 0.8,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
            },
        ),
        panel(
            "table",
            "Enhetens incidenter",
            (0, 48, 24, 7),
            [
                target(
                    f'SELECT "kind", "event", "meeting_id", "duration_s", "severity_code" FROM "incident" WHERE {d}',
                    fmt="table",
                )
            ],
        ),
    ]
    return dashboard(
        "likavillkor-device",
        "Enhetshälsa",
        "En enhets mätningar över tid.",
        [device_variable("", multi=False)],
        panels,
        time_from="now-24h",
        refresh="30s",
    )


DASHBOARDS: dict[str, Callable[[], Json]] = {
    "ordforandepanel.json": chair,
    "incidenthistorik.json": incidents,
    "enhetshalsa.json": device_health,
}


def render() -> dict[str, str]:
    """File name -> JSON text (stable: sorted keys, two-space indent, final newline)."""
    return {
        name: json.dumps(build(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    stale = []
    for name, text in render().items():
        path = HERE / name
        if "--check" in args:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date, run dashboards/build.py: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
