"""Prometheus text exposition (format 0.0.4), hand-written: a handful of counters and gauges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Sample = tuple[str, Mapping[str, str], float]
Family = tuple[str, str, str, list[Sample]]


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     .replace("\n", "\\n") for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def render(families: Iterable[tuple[str, str, str, Iterable[Sample]]]) -> str:
    """families: (name, type, help, samples) -> exposition text."""
    out: list[str] = []
    for name, kind, help_text, samples in families:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for sample_name, labels, value in samples:
            out.append(f"{sample_name}{_labels(labels)} {float(value)!r}")
    return "\n".join(out) + "\n"


def component_families(*, reflector: Mapping[str, int] | None = None, media_peer: Mapping[str, int] | None = None,
                       media_peer_open: int | None = None) -> list[Family]:
    """The STAMP reflector's and the media path peer's own counters (absent component: no family)."""
    fams: list[Family] = []
    if reflector is not None:
        fams.append(("likavillkor_reflector_packets_total", "counter",
                     "UDP datagrams at the STAMP reflector, by result (reflected, send_errors, and each drop reason: "
                     "malformed, looped, rate_limited, unauthenticated, unregistered, bad_hmac, replayed)",
                     [("likavillkor_reflector_packets_total", {"result": k}, v) for k, v in reflector.items()]))
    if media_peer is not None:
        fams.append(("likavillkor_media_peer_events_total", "counter",
                     "media path peer: offers, rejections (by reason), results, failures",
                     [("likavillkor_media_peer_events_total", {"event": k}, v) for k, v in media_peer.items()]))
    if media_peer_open is not None:
        fams.append(("likavillkor_media_peer_open", "gauge", "media path sessions running now",
                     [("likavillkor_media_peer_open", {}, media_peer_open)]))
    return fams


def components(runtime: Any, app_state: Any = None) -> list[Family]:
    """Families for what is reachable: ``runtime.reflector`` (``(Reflector, loop)`` while it runs) and
    ``app.state.media_peer``. The speed-test server keeps no counters it exposes."""
    running = getattr(runtime, "reflector", None)
    reflector = running[0] if isinstance(running, tuple) and running else None
    peer = getattr(app_state, "media_peer", None) if app_state is not None else None
    fams = component_families(
        reflector=dict(reflector.counters) if reflector is not None else None,
        media_peer=dict(peer.counters) if peer is not None else None,
        media_peer_open=len(peer.sessions) if peer is not None else None)
    hub = getattr(app_state, "companion", None) if app_state is not None else None
    if hub is not None:  # the companion page (issue 11, collector/web/companion.py)
        fams.append(("likavillkor_companion_events_total", "counter",
                     "companion pages: sockets opened/closed, refused links (link_<reason>), bounds, samples",
                     [("likavillkor_companion_events_total", {"event": k}, v) for k, v in dict(hub.counters).items()]))
        fams.append(("likavillkor_companion_open", "gauge", "companion page sockets open now",
                     [("likavillkor_companion_open", {}, hub.open)]))
    return fams


def from_health(h: Mapping[str, object], extra: Iterable[Family] = ()) -> str:
    """The collector's /metrics from its health dict (one source for both), plus ``extra`` families
    (e.g. :func:`components`)."""
    ingest: dict = h["ingest"]  # type: ignore[assignment]
    store: dict = h["store"]  # type: ignore[assignment]
    influx: dict = h["influx"]  # type: ignore[assignment]
    meetings: list = h["meetings"]  # type: ignore[assignment]
    fams: list[tuple[str, str, str, list[Sample]]] = [
        ("likavillkor_mqtt_connected", "gauge", "1 when the collector is connected to the broker",
         [("likavillkor_mqtt_connected", {}, 1.0 if h["broker"]["connected"] else 0.0)]),  # type: ignore[index]
        ("likavillkor_ingest_received_total", "counter", "MQTT messages received",
         [("likavillkor_ingest_received_total", {}, ingest["received"])]),
        ("likavillkor_ingest_outcome_total", "counter", "messages handed to the engine, by outcome",
         [("likavillkor_ingest_outcome_total", {"outcome": k}, v) for k, v in ingest["outcomes"].items()]),
        ("likavillkor_ingest_rejected_total", "counter", "messages dropped before the engine, by reason",
         [("likavillkor_ingest_rejected_total", {"reason": k}, v) for k, v in ingest["rejected"].items()]),
        ("likavillkor_unknown_devices", "gauge", "devices seen that are on no roster (H12)",
         [("likavillkor_unknown_devices", {}, len(h["unknown_devices"]))]),  # type: ignore[arg-type]
        ("likavillkor_store_queue", "gauge", "rows waiting for the database",
         [("likavillkor_store_queue", {}, store["queued"])]),
        ("likavillkor_store_written_total", "counter", "rows written to the database",
         [("likavillkor_store_written_total", {}, store["written"])]),
        ("likavillkor_store_dropped_total", "counter", "rows dropped because the database queue was full",
         [("likavillkor_store_dropped_total", {}, store["dropped"])]),
        ("likavillkor_store_failures_total", "counter", "failed database writes (retried)",
         [("likavillkor_store_failures_total", {}, store["failures"])]),
        ("likavillkor_influx_buffered", "gauge", "points waiting for InfluxDB",
         [("likavillkor_influx_buffered", {}, influx.get("buffered", 0))]),
        ("likavillkor_influx_written_total", "counter", "points written to InfluxDB",
         [("likavillkor_influx_written_total", {}, influx.get("written", 0))]),
        ("likavillkor_influx_dropped_total", "counter", "points dropped because the InfluxDB buffer was full",
         [("likavillkor_influx_dropped_total", {}, influx.get("dropped", 0))]),
        ("likavillkor_meeting_verdict", "gauge", "1 for the current verdict of each meeting",
         [("likavillkor_meeting_verdict", {"meeting_id": m["meeting_id"], "verdict": m["verdict"]}, 1.0)
          for m in meetings]),
    ]
    return render([*fams, *extra])
