"""InfluxDB output: line protocol points, a bounded buffer and a background batching writer.

The buffer never blocks ingest: when InfluxDB is slow or down, points wait (up to ``max_buffer``)
while the writer retries with back-off; beyond that new points are dropped and counted
(``/api/health``, ``/metrics``). The schema (docs/influx-schema.md) follows InfluxDB 3's advice:
strings are tags, no tag shares a name with a field, one type per field.

Transports: ``v2`` posts through influxdb-client's write API to ``/api/v2/write`` (InfluxDB 2.x,
1.8+ compatibility endpoint, 3.x, VictoriaMetrics); ``v1`` posts the same lines to ``/write?db=``
(InfluxDB 1.x before 1.8).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from collector.store.batchwriter import BatchWriter, FailureLog, OnFailure, Pacing, WriterStats
from collector.store.schema import SAMPLE_NUMERIC_FIELDS

log = logging.getLogger(__name__)

#: participant_state.state_code: larger is worse; planned absences are negative (H18)
STATE_CODES: Mapping[str, int] = {
    "ok": 0,
    "ready": 1,
    "connected": 1,
    "expected": 2,
    "degraded": 3,
    "failing": 4,
    "lost": 5,
    "replaced": 6,
    "excused": -1,
    "left": -2,
    "not_monitored": -3,  # no claim either way: nothing watches her (issue 11, H13)
}
#: meeting_verdict.verdict_code: larger is worse; outside the meeting negative
VERDICT_CODES: Mapping[str, int] = {
    "equal_terms": 0,
    "at_risk": 1,
    "adjourn": 2,
    "substitute_due": 3,
    "monitoring_interrupted": 4,
    "not_started": -1,
    "ended": -2,
    "not_all_monitored": -3,  # nothing wrong seen, but someone is not monitored (issue 11, H13)
}
SEVERITY_CODES: Mapping[str, int] = {"warning": 1, "failure": 2}

#: the sample's numeric fields: the database's columns (one list, collector/store/schema.py) and the
#: microphone watch's figures, which go to InfluxDB only (issue 14)
SAMPLE_FIELDS = (*SAMPLE_NUMERIC_FIELDS, "mic_dbfs", "mic_peak_dbfs", "mic_clipping")
SAMPLE_BOOL_FIELDS = ("battery_charging", "probe_reachable", "metered", "mic_muted", "headphones")


def _esc_key(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _esc_measurement(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _field(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return f"{int(value)}i"
    if isinstance(value, int):
        return f"{value}i"
    return repr(float(value))


def line(
    measurement: str, tags: Mapping[str, str | None], fields: Mapping[str, float | int | bool | None], at: float
) -> str | None:
    """One line-protocol line (ns precision). Empty tags and None fields are left out; no fields: None."""
    f = ",".join(f"{_esc_key(k)}={_field(v)}" for k, v in fields.items() if v is not None)
    if not f:
        return None
    t = "".join(f",{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(tags.items()) if v)
    return f"{_esc_measurement(measurement)}{t} {f} {int(at * 1e9)}"


def sample_line(msg: Any, *, member_id: str | None, body: str | None, at: float) -> str | None:
    """``sample``: one wire.Sample. ``at`` is the collector's receive time."""
    fields: dict[str, float | int | bool | None] = {k: getattr(msg, k, None) for k in SAMPLE_FIELDS}
    fields.update({k: getattr(msg, k, None) for k in SAMPLE_BOOL_FIELDS})
    fields["device_lag_s"] = round(at - msg.ts, 3)
    link = getattr(msg, "link", None)
    return line(
        "sample",
        {
            "device_id": msg.device_id,
            "member_id": member_id,
            "meeting_id": msg.meeting_id,
            "body": body,
            "link": str(link) if link else None,
        },
        fields,
        at,
    )


def participant_state_line(
    *,
    meeting_id: str,
    body: str,
    member_id: str,
    device_id: str,
    state: str,
    lost_for_s: float | None,
    substitute_in_s: float | None,
    at: float,
) -> str | None:
    return line(
        "participant_state",
        {"meeting_id": meeting_id, "body": body, "member_id": member_id, "device_id": device_id, "state": state},
        {"state_code": STATE_CODES.get(state, 9), "lost_for_s": lost_for_s, "substitute_in_s": substitute_in_s},
        at,
    )


def meeting_verdict_line(*, meeting_id: str, body: str, verdict: str, adjourned: bool, at: float) -> str | None:
    return line(
        "meeting_verdict",
        {"meeting_id": meeting_id, "body": body, "verdict": verdict},
        {"verdict_code": VERDICT_CODES.get(verdict, 9), "adjourned": int(adjourned)},
        at,
    )


def incident_line(incident: Any, *, event: str, at: float) -> str | None:
    """``incident``: one event per open/close. ``duration_s`` is 0 when opened."""
    duration = (incident.ended_at - incident.started_at) if incident.ended_at is not None else 0.0
    return line(
        "incident",
        {
            "kind": incident.kind,
            "body": incident.body,
            "member_id": incident.member_id,
            "device_id": incident.device_id,
            "meeting_id": incident.meeting_id,
            "event": event,
        },
        {
            "duration_s": round(duration, 3),
            "severity_code": SEVERITY_CODES.get(incident.peak_severity, 0),
            "adjourned_s": round(incident.adjourned_s, 3),
        },
        at,
    )


class Transport(Protocol):
    def write(self, lines: list[str]) -> None: ...
    def close(self) -> None: ...


class V2Transport:
    """influxdb-client's synchronous write API: ``POST /api/v2/write``."""

    def __init__(self, url: str, *, token: str, org: str, bucket: str, timeout_s: float) -> None:
        from influxdb_client import InfluxDBClient, WritePrecision
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._client = InfluxDBClient(
            url=url, token=token or "none", org=org or "-", timeout=int(timeout_s * 1000), retries=0
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = bucket
        self._org = org or "-"
        self._precision: Any = WritePrecision.NS

    def write(self, lines: list[str]) -> None:
        self._api.write(bucket=self._bucket, org=self._org, record=lines, write_precision=self._precision)

    def close(self) -> None:
        self._client.close()


class V1Transport:
    """InfluxDB 1.x ``POST /write?db=...&precision=ns`` (no /api/v2 before 1.8)."""

    def __init__(
        self, url: str, *, database: str, token: str, timeout_s: float, username: str = "", password: str = ""
    ) -> None:
        headers = {"Authorization": f"Token {token}"} if token and not username else {}
        auth = httpx.BasicAuth(username, password) if username else None
        self._client = httpx.Client(base_url=url, timeout=timeout_s, headers=headers, auth=auth)
        self._params = {"db": database, "precision": "ns"}

    def write(self, lines: list[str]) -> None:
        r = self._client.post("/write", params=self._params, content="\n".join(lines).encode())
        if r.status_code >= 300:
            raise RuntimeError(f"InfluxDB /write answered {r.status_code}: {r.text[:200]}")

    def close(self) -> None:
        self._client.close()


@dataclass
class InfluxStats(WriterStats):
    buffered: int = 0


class InfluxWriter:
    """Points wait in a bounded buffer; a full buffer drops new points. A failed batch goes back to
    the front of the buffer (what no longer fits is dropped) and is retried with back-off."""

    def __init__(
        self,
        transport: Transport,
        *,
        batch: int = 1000,
        max_buffer: int = 100_000,
        flush_interval_s: float = 1.0,
        retry_max_s: float = 30.0,
    ) -> None:
        self._transport = transport
        self.stats = InfluxStats()
        self._writer: BatchWriter[str] = BatchWriter(
            transport.write,
            self.stats,
            FailureLog(log, "InfluxDB write failed, will retry (%d points buffered): %s"),
            name="influx-writer",
            batch=batch,
            max_items=max_buffer,
            flush_interval_s=flush_interval_s,
            retry_initial_s=0.5,
            retry_max_s=retry_max_s,
            on_failure=OnFailure.REQUEUE,
            pacing=Pacing.LINGER,
        )

    def put(self, point: str | None) -> None:
        """Queue one line; never blocks. Over ``max_buffer`` the point is dropped and counted."""
        if point is not None:
            self._writer.put(point)

    def start(self) -> None:
        self._writer.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._writer.stop(timeout)
        self._transport.close()

    def flush(self, timeout: float = 5.0) -> bool:
        return self._writer.flush(timeout)

    def buffered(self) -> int:
        return self._writer.pending()


def make_writer(section: Any) -> InfluxWriter | None:
    """From the ``[influx]`` section; None when no URL is configured."""
    if not section.url:
        return None
    transport: Transport
    if section.api == "v1":
        transport = V1Transport(
            section.url,
            database=section.database,
            token=section.token,
            timeout_s=section.timeout_s,
            username=getattr(section, "username", ""),
            password=getattr(section, "password", ""),
        )
    elif section.api == "v2":
        transport = V2Transport(
            section.url, token=section.token, org=section.org, bucket=section.bucket, timeout_s=section.timeout_s
        )
    else:
        raise ValueError(f"[influx] api must be 'v2' or 'v1', got {section.api!r}")
    return InfluxWriter(
        transport, batch=section.batch, max_buffer=section.max_buffer, flush_interval_s=section.flush_interval_s
    )


# --- deletion (``forget --member``) --------------------------------------------------------------

#: the v2 delete API needs a time range; this covers every point InfluxDB can hold
DELETE_START = "1970-01-01T00:00:00Z"
DELETE_STOP = "2262-04-11T00:00:00Z"


class InfluxDeleteError(RuntimeError):
    """Deleting series failed; the message is one line for the operator."""


def _influxql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _predicate_value(value: str) -> str:
    if '"' in value or "\\" in value:
        raise InfluxDeleteError(f"cannot express {value!r} in an InfluxDB delete predicate")
    return f'"{value}"'


def delete_tag_series(section: Any, tags: list[tuple[str, str]], *, timeout_s: float = 60.0) -> list[str]:
    """Delete every series with one of the given (tag, value) pairs, in every measurement.

    ``api = "v1"`` (InfluxDB 1.x): ``POST /query?db=<database>`` with
    ``DROP SERIES FROM /.*/ WHERE <tag> = '<value>'``. ``api = "v2"`` (2.x, 1.8+): ``POST
    /api/v2/delete?org=&bucket=`` with ``{"start", "stop", "predicate": "<tag>=\\"<value>\\""}``, one
    request per pair (the predicate language has no OR). Each request has ``timeout_s`` as its
    deadline. Returns the statements/predicates sent."""
    username = getattr(section, "username", "") if section.api == "v1" else ""
    headers = {"Authorization": f"Token {section.token}"} if section.token and not username else {}
    auth = httpx.BasicAuth(username, getattr(section, "password", "")) if username else None
    sent: list[str] = []
    try:
        with httpx.Client(base_url=section.url, timeout=timeout_s, headers=headers, auth=auth) as client:
            for tag, value in tags:
                if section.api == "v1":
                    q = f"DROP SERIES FROM /.*/ WHERE {_esc_key(tag)} = {_influxql_string(value)}"
                    r = client.post("/query", params={"db": section.database}, data={"q": q})
                    _check_v1(r)
                    sent.append(q)
                elif section.api == "v2":
                    predicate = f"{tag}={_predicate_value(value)}"
                    r = client.post(
                        "/api/v2/delete",
                        params={"org": section.org or "-", "bucket": section.bucket},
                        json={"start": DELETE_START, "stop": DELETE_STOP, "predicate": predicate},
                    )
                    if r.status_code >= 300:
                        raise InfluxDeleteError(f"InfluxDB /api/v2/delete answered {r.status_code}: {r.text[:200]}")
                    sent.append(predicate)
                else:
                    raise InfluxDeleteError(f"[influx] api must be 'v2' or 'v1', got {section.api!r}")
    except httpx.HTTPError as exc:
        raise InfluxDeleteError(
            f"InfluxDB at {section.url} did not answer within {timeout_s:g} s: {type(exc).__name__}: {exc}"
        ) from None
    return sent


def _check_v1(r: httpx.Response) -> None:
    if r.status_code >= 300:
        raise InfluxDeleteError(f"InfluxDB /query answered {r.status_code}: {r.text[:200]}")
    for result in r.json().get("results", []):
        if "error" in result:
            raise InfluxDeleteError(f"InfluxDB /query: {result['error']}")


def delete_member(
    section: Any, member_id: str, device_ids: set[str] | frozenset[str] = frozenset(), *, timeout_s: float = 60.0
) -> list[str]:
    """Every series tagged with the member, or with one of their devices (samples of a device whose
    member was not yet known carry only ``device_id``)."""
    tags = [("member_id", member_id)] + [("device_id", d) for d in sorted(device_ids)]
    return delete_tag_series(section, tags, timeout_s=timeout_s)
