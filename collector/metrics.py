"""``/metrics``: the collector's counters in Prometheus text format, through ``prometheus_client``.

The numbers are not kept in ``prometheus_client`` instruments: they already live in the runtime (its
health dict, the reflector's and the media peer's counters), so a custom :class:`RuntimeCollector`
yields metric families from them on each scrape and ``prometheus_client`` does the exposition
(escaping, number format). One source for both ``/api/health`` and ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def _labelled(name: str, help_text: str, values: Mapping[str, float], label: str) -> CounterMetricFamily:
    """A counter family with one sample per key of ``values`` under ``label``."""
    fam = CounterMetricFamily(name, help_text, labels=[label])
    for key, value in values.items():
        fam.add_metric([str(key)], value)
    return fam


def _gauge(name: str, help_text: str, value: int | float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def component_families(
    *,
    reflector: Mapping[str, int] | None = None,
    media_peer: Mapping[str, int] | None = None,
    media_peer_open: int | None = None,
) -> list[Metric]:
    """The STAMP reflector's and the media path peer's own counters (absent component: no family)."""
    fams: list[Metric] = []
    if reflector is not None:
        fams.append(
            _labelled(
                "likavillkor_reflector_packets_total",
                "UDP datagrams at the STAMP reflector, by result (reflected, send_errors, and each drop "
                "reason: malformed, looped, rate_limited, unauthenticated, unregistered, bad_hmac, "
                "replayed)",
                reflector,
                "result",
            )
        )
    if media_peer is not None:
        fams.append(
            _labelled(
                "likavillkor_media_peer_events_total",
                "media path peer: offers, rejections (by reason), results, failures",
                media_peer,
                "event",
            )
        )
    if media_peer_open is not None:
        fams.append(_gauge("likavillkor_media_peer_open", "media path sessions running now", media_peer_open))
    return fams


def components(runtime: Any, app_state: Any = None) -> list[Metric]:
    """Families for what is reachable: ``runtime.reflector`` (``(Reflector, loop)`` while it runs),
    ``app.state.media_peer`` and ``app.state.companion``. The speed-test server keeps no counters it exposes."""
    running = getattr(runtime, "reflector", None)
    reflector = running[0] if isinstance(running, tuple) and running else None
    peer = getattr(app_state, "media_peer", None) if app_state is not None else None
    fams = component_families(
        reflector=dict(reflector.counters) if reflector is not None else None,
        media_peer=dict(peer.counters) if peer is not None else None,
        media_peer_open=len(peer.sessions) if peer is not None else None,
    )
    hub = getattr(app_state, "companion", None) if app_state is not None else None
    if hub is not None:  # the companion page (issue 11, collector/web/companion.py)
        fams.append(
            _labelled(
                "likavillkor_companion_events_total",
                "companion pages: sockets opened/closed, refused links (link_<reason>), bounds, samples",
                dict(hub.counters),
                "event",
            )
        )
        fams.append(_gauge("likavillkor_companion_open", "companion page sockets open now", hub.open))
    return fams


def health_families(h: Mapping[str, Any]) -> list[Metric]:
    """The runtime's health dict (``Runtime.health()``) as metric families."""
    ingest, store, influx = h["ingest"], h["store"], h["influx"]
    verdict = GaugeMetricFamily(
        "likavillkor_meeting_verdict", "1 for the current verdict of each meeting", labels=["meeting_id", "verdict"]
    )
    for m in h["meetings"]:
        verdict.add_metric([str(m["meeting_id"]), str(m["verdict"])], 1.0)
    return [
        _gauge(
            "likavillkor_mqtt_connected",
            "1 when the collector is connected to the broker",
            1.0 if h["broker"]["connected"] else 0.0,
        ),
        _counter("likavillkor_ingest_received_total", "MQTT messages received", ingest["received"]),
        _labelled(
            "likavillkor_ingest_outcome_total",
            "messages handed to the engine, by outcome",
            ingest["outcomes"],
            "outcome",
        ),
        _labelled(
            "likavillkor_ingest_rejected_total",
            "messages dropped before the engine, by reason",
            ingest["rejected"],
            "reason",
        ),
        _gauge("likavillkor_unknown_devices", "devices seen that are on no roster (H12)", len(h["unknown_devices"])),
        _gauge("likavillkor_store_queue", "rows waiting for the database", store["queued"]),
        _counter("likavillkor_store_written_total", "rows written to the database", store["written"]),
        _counter(
            "likavillkor_store_dropped_total", "rows dropped because the database queue was full", store["dropped"]
        ),
        _counter("likavillkor_store_failures_total", "failed database writes (retried)", store["failures"]),
        _gauge("likavillkor_influx_buffered", "points waiting for InfluxDB", influx.get("buffered", 0)),
        _counter("likavillkor_influx_written_total", "points written to InfluxDB", influx.get("written", 0)),
        _counter(
            "likavillkor_influx_dropped_total",
            "points dropped because the InfluxDB buffer was full",
            influx.get("dropped", 0),
        ),
        verdict,
        *ha_families(h.get("ha") or {}),
    ]


def ha_families(ha: Mapping[str, Any]) -> list[Metric]:
    """``[ha]`` (issue 17): this collector's role and what following and taking over did."""
    if not ha.get("enabled"):
        return []
    return [
        _gauge(
            "likavillkor_ha_writing", "1 on the collector that leads and writes, 0 on a standby", int(ha["writing"])
        ),
        _counter("likavillkor_ha_takeovers_total", "times this collector took the lead", ha["takeovers"]),
        _counter("likavillkor_ha_stepdowns_total", "times this collector lost the lead", ha["stepdowns"]),
        _counter(
            "likavillkor_ha_actions_applied_total",
            "chair actions the leader stored, applied here while following",
            ha["actions_applied"],
        ),
        _counter(
            "likavillkor_ha_incidents_adopted_total",
            "open incidents that took the leader's id here",
            ha["incidents_adopted"],
        ),
        _counter("likavillkor_ha_fenced_total", "store batches refused by the lease (not leading)", ha["fenced"]),
        _gauge("likavillkor_ha_recent_buffered", "samples held by the standby for its takeover", ha["recent_buffered"]),
        _counter(
            "likavillkor_ha_recent_dropped_total", "samples the standby's bounded buffer let go", ha["recent_dropped"]
        ),
    ]


class RuntimeCollector(Collector):
    """A ``prometheus_client`` collector reading the runtime on each scrape: ``health`` returns the
    health dict, ``extra`` further families (e.g. :func:`components`)."""

    def __init__(
        self, health: Callable[[], Mapping[str, Any]], extra: Callable[[], Iterable[Metric]] = lambda: ()
    ) -> None:
        self._health = health
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from health_families(self._health())
        yield from self._extra()


class _Fixed(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def expose(collector: Collector) -> str:
    """One scrape of ``collector`` in the text format (0.0.4), through a registry of its own."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode("utf-8")


def render(families: Iterable[Metric]) -> str:
    """Families -> exposition text."""
    return expose(_Fixed(families))


def from_health(h: Mapping[str, Any], extra: Iterable[Metric] = ()) -> str:
    """The collector's /metrics from its health dict (one source for both), plus ``extra`` families
    (e.g. :func:`components`)."""
    fixed = list(extra)
    return expose(RuntimeCollector(lambda: h, lambda: fixed))


def for_runtime(runtime: Any, app_state: Any = None) -> RuntimeCollector:
    """The collector for a running collector: its health and the components beside it."""
    return RuntimeCollector(runtime.health, lambda: components(runtime, app_state))
