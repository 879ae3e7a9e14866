"""Wiring: config -> roster, policy, engine, store, InfluxDB, broker, MQTT, tick loop, HTTP.

Threads: paho's network thread runs ingest (checks + engine.ingest); a tick thread calls
engine.tick every ``tick_interval_s``; HTTP handlers run in uvicorn's thread pool. One lock
guards the engine; everything slow (database, InfluxDB) is a non-blocking enqueue outside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import operator
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from collector import influx as fx
from collector import retention
from collector.config import CollectorConfig
from collector.engine import (
    Action,
    ActionRecorded,
    Change,
    Engine,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    MeetingView,
    StateChanged,
    VerdictChanged,
)
from collector.ingest import Ingestor
from collector.store import Store
from collector.store.schema import SAMPLE_NUMERIC_FIELDS
from likavillkor import wire
from likavillkor.config import ConfigError
from likavillkor.policy import PolicySet, load_policy
from likavillkor.roster import BodyTable, Meeting, Roster, load_body_table, load_roster
from likavillkor.topics import Kind, device_topic

log = logging.getLogger(__name__)
Clock = Callable[[], float]
_SWITCH_INTERVAL_S = 0.001


def _incident_row(inc: Any) -> dict[str, Any]:
    return {"id": inc.id, "meeting_id": inc.meeting_id, "body": inc.body, "member_id": inc.member_id,
            "device_id": inc.device_id, "kind": inc.kind, "started_at": inc.started_at,
            "ended_at": inc.ended_at, "peak_severity": inc.peak_severity, "adjourned": inc.adjourned,
            "adjourned_s": inc.adjourned_s, "substitute_called": inc.substitute_called,
            "metrics": dict(inc.metrics)}


_sample_values = operator.attrgetter("battery_charging", "probe_reachable", "camera", "microphone",
                                     *SAMPLE_NUMERIC_FIELDS)


def sample_row(msg: wire.Sample, *, member_id: str | None, outcome: str, received_at: float) -> tuple[Any, ...]:
    """One ``samples`` row as a tuple in ``schema.SAMPLE_COLUMNS`` order (the store's fast path)."""
    link = msg.link
    return (msg.device_id, member_id, msg.meeting_id, f"{msg.boot_id}:{msg.seq}", received_at, msg.ts, outcome,
            outcome == "late", None if link is None else str(link), *_sample_values(msg))


@dataclass
class UnknownDevice:
    first_seen: float
    last_seen: float
    count: int = 0


@dataclass
class RosterIndex:
    """Fast per-message lookups: device -> member and meetings."""

    roster: Roster
    device_meetings: dict[str, list[Meeting]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.roster.meetings.values():
            for p in m.participants:
                self.device_meetings.setdefault(p.device_id, []).append(m)

    def known(self, device_id: str) -> bool:
        return device_id in self.roster.devices

    def member(self, device_id: str) -> str | None:
        return self.roster.devices.get(device_id)

    def body(self, device_id: str, meeting_id: str | None, now: float) -> str | None:
        if meeting_id and meeting_id in self.roster.meetings:
            return self.roster.meetings[meeting_id].body
        for m in self.device_meetings.get(device_id, ()):
            if m.start - 3600 <= now <= m.end:
                return m.body
        return None


def load_inputs(config: CollectorConfig) -> tuple[BodyTable, Roster, PolicySet]:
    bodies = load_body_table(config.bodies or None)
    roster_path = config.roster_path
    roster = load_roster(roster_path, bodies=bodies) if roster_path.exists() else Roster()
    if not roster_path.exists():
        log.warning("no roster at %s: every device counts as unknown (H12)", roster_path)
    return bodies, roster, load_policy(config.policy or None)


class Runtime:
    def __init__(self, config: CollectorConfig, *, clock: Clock = time.time) -> None:
        self.config = config
        self.clock = clock
        self.started_at = clock()
        self.bodies, roster, self.policies = load_inputs(config)
        self.index = RosterIndex(roster)
        self.engine = Engine(roster, self.policies, now=clock())
        self.lock = threading.RLock()
        self.store = Store(config.store_url, queue_max=config.store.queue_max, batch=config.store.batch,
                           flush_interval_s=config.store.flush_interval_s, retry_max_s=config.store.retry_max_s)
        self.influx = fx.make_writer(config.influx)
        self.unknown_devices: dict[str, UnknownDevice] = {}
        self._device_written: dict[str, float] = {}
        self.listeners: list[Callable[[list[Change]], None]] = []
        self.ingestor = Ingestor(engine_call=self._engine_ingest, known_device=self._known,
                                 sink=self._sink, on_unknown=self._unknown,
                                 rate_per_device=config.ingest.max_rate_per_device,
                                 burst=config.ingest.burst, log_every_s=config.ingest.log_every_s,
                                 lock=self.lock)
        self.broker: Any = None  # collector.broker.PrivateBroker when spawned
        self.mqtt: Any = None  # collector.mqtt.MqttClient
        self.mqtt_url = config.mqtt.url
        self.reflector: Any = None
        self.optional_modules: dict[str, str] = {}  # module -> "loaded" or why not
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: the engine lock's holders note here (monotonic) that the process runs; a longer pause is
        #: the collector's own gap (SIGSTOP, a frozen VM, a swap storm): issue 11
        self._alive_mono = time.monotonic()
        self.own_gaps = 0
        #: signed path probes seen by the reflector's thread: device -> time (issue 11), drained by tick()
        self._probe_seen: dict[str, float] = {}
        self.probe_keys: Any = None  # collector.probekeys.ProbeKeys, when the reflector runs
        if config.ingest.mode not in ("inline", "thread"):
            raise ValueError(f"[ingest] mode must be 'inline' or 'thread', got {config.ingest.mode!r}")
        self._inbox: deque[tuple[str, bytes, float]] | None = deque() if config.ingest.mode == "thread" else None
        self._inbox_wake = threading.Event()
        self.last_purge: dict[str, int] = {}
        self._roster_seen = self._roster_stamp()
        self.roster_error = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, *, mqtt: bool = True) -> None:
        # latency under load (issue 5): a thread waiting for the GIL gets it after 1 ms, not 5 ms;
        # the MQTT thread gives the GIL up at every system call, so with the store writer or an
        # HTTP handler busy the default 5 ms made it wait 5 ms per call
        if sys.getswitchinterval() > _SWITCH_INTERVAL_S:
            sys.setswitchinterval(_SWITCH_INTERVAL_S)
        self.config.data_path.mkdir(parents=True, exist_ok=True)
        self.store.start()
        self._restore()
        if self.influx is not None:
            self.influx.start()
        # monitoring starts interrupted until the broker connection is up; without MQTT (tests and
        # tools feeding messages directly) the feed counts as connected
        with self.lock:
            self._apply(self.engine.broker(not mqtt, self.clock()))
            self._alive_mono = time.monotonic()  # starting up is no stall (the restart was its own gap)
        if mqtt:
            self._start_mqtt()
        self._start_reflector()
        loops: list[tuple[Callable[[], None], str]] = [(self._tick_loop, "tick"),
                                                       (self._housekeeping_loop, "housekeeping")]
        if self._inbox is not None:
            loops.append((self._engine_loop, "engine"))
        with self.lock:
            self._alive_mono = time.monotonic()  # starting up is no stall (the restart was its own gap)
        for target, name in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.broker is not None:
            self.broker.stop()
        self._stop_reflector()
        # the last snapshot goes through the queue, behind any older one still waiting there
        self._save_snapshot()
        if self.influx is not None:
            self.influx.stop()
        self.store.stop()

    def _start_mqtt(self) -> None:
        from collector.mqtt import MqttClient

        if not self.mqtt_url:
            from collector.broker import PrivateBroker

            self.broker = PrivateBroker(self.config.data_path)
            self.broker.start()
            self.mqtt_url = self.broker.url
        m = self.config.mqtt
        self.mqtt = MqttClient(self.mqtt_url, client_id=m.client_id, on_message=self.on_mqtt_message,
                               on_connection=self.on_broker, username=m.username, password=m.password,
                               ca_file=m.ca_file, session_expiry_s=m.session_expiry_s,
                               keepalive_s=m.keepalive_s, reconnect_min_s=m.reconnect_min_s,
                               reconnect_max_s=m.reconnect_max_s)
        self.mqtt.start()

    def _start_reflector(self) -> None:
        """The UDP reflector (STAMP, RFC 8762) runs on its own asyncio loop in a thread."""
        if not self.config.reflector.enabled:
            return
        try:
            mod = importlib.import_module("collector.reflector")
            from collector.probekeys import ProbeKeys, load_or_create_secret

            # registered senders only (issue 11, issue 12): the roster's devices, signed probes
            self.probe_keys = ProbeKeys(load_or_create_secret(self.config.data_path), self.index.roster.devices)
            loop = asyncio.new_event_loop()
            reflector = mod.Reflector(keys=self.probe_keys, on_alive=self._note_probe)
            loop.run_until_complete(asyncio.wait_for(
                reflector.start(self.config.reflector.host, self.config.reflector.port), 5))
        except Exception as exc:  # a missing or failing reflector must not stop monitoring
            self.optional_modules["collector.reflector"] = f"not started: {exc}"
            log.warning("reflector not started: %s", exc)
            return
        self.reflector = (reflector, loop)
        t = threading.Thread(target=loop.run_forever, name="reflector", daemon=True)
        t.start()
        self.optional_modules["collector.reflector"] = "loaded"

    def _stop_reflector(self) -> None:
        if self.reflector is None:
            return
        reflector, loop = self.reflector
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(reflector.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self.reflector = None

    def _restore(self) -> None:
        try:
            blob = self.store.load_snapshot()
        except Exception as exc:
            log.warning("cannot read the engine snapshot: %s", exc)
            return
        if blob:
            with self.lock:
                now = self.clock()
                self.engine.restore(blob, now)
                # the restart was the collector's own gap: its reflector and ingest were away (issue 11)
                self._apply(self.engine.own_gap(None, now))
            log.info("engine state restored from the snapshot (%d bytes)", len(blob))

    def _save_snapshot(self, *, direct: bool = False) -> None:
        with self.lock:
            blob = self.engine.snapshot()
        now = self.clock()
        if direct:
            try:
                self.store.save_snapshot_now(blob, now)
            except Exception as exc:
                log.warning("cannot save the engine snapshot: %s", exc)
        else:
            self.store.put("snapshot", {"id": 1, "at": now, "blob": blob})

    # -- ingest ------------------------------------------------------------------------------------
    def on_mqtt_message(self, topic: str, payload: bytes) -> None:
        if self._inbox is None:
            self.ingestor.handle(topic, payload, self.clock())
        else:  # "thread" mode: keep the paho callback to an append
            self._inbox.append((topic, payload, self.clock()))
            if not self._inbox_wake.is_set():
                self._inbox_wake.set()

    def _engine_loop(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        handle = self.ingestor.handle_locked
        while not self._stop.is_set():
            if not inbox:
                self._inbox_wake.wait(0.1)
                self._inbox_wake.clear()
                continue
            with self.lock:  # one acquisition per batch
                for _ in range(min(len(inbox), 1000)):
                    topic, payload, at = inbox.popleft()
                    handle(topic, payload, at)

    def on_broker(self, connected: bool) -> None:
        with self.lock:
            self._apply(self.engine.broker(connected, self.clock()))

    def _known(self, device_id: str) -> bool:
        return self.index.known(device_id)

    def check_stall(self) -> None:
        """Call with ``self.lock`` held, before the engine judges anything: a pause of the process
        longer than ``[ingest] stall_after_s`` since the last call is the collector's own gap."""
        mono = time.monotonic()
        paused = mono - self._alive_mono
        self._alive_mono = mono
        if paused > self.config.ingest.stall_after_s:
            now = self.clock()
            self.own_gaps += 1
            log.warning("the collector itself stood still for %.1f s: monitoring interrupted until every "
                        "member is heard again; their probe loss of that time is not counted", paused)
            self._apply(self.engine.own_gap(now - paused, now))

    def _engine_ingest(self, msg: wire.Message, received_at: float) -> tuple[str, list[Any]]:
        self.check_stall()
        outcome, changes = self.engine.ingest(msg, received_at)  # the ingestor holds self.lock
        return outcome.value, changes

    def _unknown(self, device_id: str, now: float) -> None:
        entry = self.unknown_devices.get(device_id)
        if entry is None:
            if len(self.unknown_devices) >= 10_000:
                return
            entry = self.unknown_devices[device_id] = UnknownDevice(now, now)
        entry.last_seen = now
        entry.count += 1
        self._note_device(device_id, None, now, known=False)

    def _note_device(self, device_id: str, status: str | None, now: float, *, known: bool) -> None:
        last = self._device_written.get(device_id)
        if status is None and last is not None and now - last < 30:
            return
        self._device_written[device_id] = now
        self.store.put("device", {"device_id": device_id, "member_id": self.index.member(device_id),
                                  "known": known, "last_seen": now, "last_status": status})

    def _sink(self, msg: wire.Message, outcome: str, changes: list[Any], received_at: float) -> None:
        member = self.index.member(msg.device_id)
        if outcome != "duplicate":
            if isinstance(msg, wire.Sample):
                self.store.put("sample", sample_row(msg, member_id=member, outcome=outcome,
                                                    received_at=received_at))
                if self.influx is not None:
                    body = self.index.body(msg.device_id, msg.meeting_id, received_at)
                    self.influx.put(fx.sample_line(msg, member_id=member, body=body, at=received_at))
            elif isinstance(msg, wire.SelftestResult):
                self.store.put("selftest", {
                    "device_id": msg.device_id, "member_id": member, "meeting_id": msg.meeting_id,
                    "msg_id": msg.msg_id, "received_at": received_at, "source": msg.source,
                    "overall": str(msg.overall), "checks": msgspec.to_builtins(msg.checks)})
            self._note_device(msg.device_id, str(msg.state) if isinstance(msg, wire.Status) else None,
                              received_at, known=True)
        if changes:
            self._apply(changes)

    # -- changes -----------------------------------------------------------------------------------
    def _apply(self, changes: list[Any]) -> None:
        """Persist engine changes, write them to InfluxDB and tell the listeners (live views).

        Called with ``self.lock`` held, so whatever a view shows has already been queued for the
        database; everything here is a non-blocking enqueue, and listeners must be as cheap."""
        for ch in changes:
            if isinstance(ch, StateChanged):
                self.store.put("state_change", {
                    "at": ch.at, "meeting_id": ch.meeting_id, "member_id": ch.member_id,
                    "device_id": ch.device_id, "old": str(ch.old), "new": str(ch.new),
                    "reason": msgspec.to_builtins(ch.reason)})
                self._influx_state(ch.meeting_id, ch.member_id, ch.device_id, str(ch.new), ch.at)
            elif isinstance(ch, VerdictChanged):
                self.store.put("verdict", {"at": ch.at, "meeting_id": ch.meeting_id, "old": str(ch.old),
                                           "new": str(ch.new), "reasons": msgspec.to_builtins(ch.reasons)})
                if self.influx is not None:
                    m = self.index.roster.meetings.get(ch.meeting_id)
                    self.influx.put(fx.meeting_verdict_line(
                        meeting_id=ch.meeting_id, body=m.body if m else "", verdict=str(ch.new),
                        adjourned=str(ch.new) == "adjourn", at=ch.at))
            elif isinstance(ch, IncidentOpened | IncidentUpdated | IncidentClosed):
                self.store.put("incident", _incident_row(ch.incident))
                if self.influx is not None and not isinstance(ch, IncidentUpdated):
                    event = "opened" if isinstance(ch, IncidentOpened) else "closed"
                    at = ch.incident.started_at if event == "opened" else (ch.incident.ended_at or self.clock())
                    self.influx.put(fx.incident_line(ch.incident, event=event, at=at))
            elif isinstance(ch, ActionRecorded):
                a = ch.action
                self.store.put("action", {"meeting_id": a.meeting_id, "kind": str(a.kind), "at": a.at,
                                          "by": a.by, "member_id": a.member_id, "item": a.item,
                                          "note": a.note})
        for listener in list(self.listeners):
            try:
                listener(changes)
            except Exception as exc:
                log.warning("change listener failed: %s", exc)

    def _influx_state(self, meeting_id: str, member_id: str, device_id: str, state: str, at: float,
                      lost_for_s: float | None = None, substitute_in_s: float | None = None) -> None:
        if self.influx is None:
            return
        m = self.index.roster.meetings.get(meeting_id)
        self.influx.put(fx.participant_state_line(
            meeting_id=meeting_id, body=m.body if m else "", member_id=member_id, device_id=device_id,
            state=state, lost_for_s=lost_for_s, substitute_in_s=substitute_in_s, at=at))

    # -- loops -------------------------------------------------------------------------------------
    def _note_probe(self, device_id: str, at: float) -> None:
        """The reflector's thread: a signed probe of ``device_id`` (one dict store; tick() drains)."""
        self._probe_seen[device_id] = at

    def probe_key(self, device_id: str) -> dict[str, Any] | None:
        """For the agent: its SSID and key for signed probes (issue 11); None when the reflector does
        not run or the device is on no roster."""
        if self.probe_keys is None or not self.index.known(device_id):
            return None
        from collector.probekeys import ssid_for

        port = self.reflector[0].port if self.reflector is not None else None
        return {"ssid": ssid_for(device_id), "key": self.probe_keys.key_for(device_id).hex(), "port": port}

    def tick(self) -> None:
        with self.lock:
            self.check_stall()
            if self._probe_seen:
                seen, self._probe_seen = self._probe_seen, {}
                for device_id, at in seen.items():
                    changes = self.engine.probe_alive(device_id, at)
                    if changes:
                        self._apply(changes)
            changes = self.engine.tick(self.clock())
            if changes:
                self._apply(changes)

    def _tick_loop(self) -> None:
        interval = self.config.ingest.tick_interval_s
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:
                log.exception("engine tick failed")

    def _housekeeping_loop(self) -> None:
        mono = time.monotonic()
        due = {"snapshot": mono, "state": mono, "purge": mono + 5.0, "roster": mono + 1.0}
        every = {"snapshot": self.config.store.snapshot_interval_s, "state": self.config.influx.state_interval_s,
                 "purge": self.config.retention.purge_interval_s, "roster": 1.0}
        jobs: dict[str, Callable[[], None]] = {"snapshot": self._save_snapshot, "purge": self._purge,
                                               "roster": self._watch_roster}
        if self.influx is not None:
            jobs["state"] = self.write_current_state
        failing: dict[str, str] = {}
        while not self._stop.wait(0.5):
            for name, job in jobs.items():
                if time.monotonic() < due[name]:
                    continue
                due[name] = time.monotonic() + every[name]
                try:
                    job()
                    failing.pop(name, None)
                except Exception as exc:
                    if failing.get(name) != repr(exc):  # log each distinct failure once
                        log.exception("housekeeping %s failed", name)
                    failing[name] = repr(exc)

    def _purge(self) -> None:
        r = self.config.retention
        self.last_purge = retention.purge(self.store, self.clock(), samples_days=r.samples_days,
                                          incidents_days=r.incidents_days)
        if any(self.last_purge.values()):  # personal data deleted: say what, once per purge that did something
            log.info("retention purge (samples %g d, incidents %g d): %s", r.samples_days, r.incidents_days,
                     ", ".join(f"{t} {n}" for t, n in sorted(self.last_purge.items()) if n))

    def write_current_state(self) -> None:
        """Periodic participant_state / meeting_verdict points, so dashboards show current values."""
        now = self.clock()
        for mid in self.meeting_ids():
            m = self.index.roster.meetings.get(mid)
            if m is None or not (m.start - 3600 <= now <= m.end + 3600):
                continue
            view = self.view(mid)
            if view is None or self.influx is None:
                continue
            self.influx.put(fx.meeting_verdict_line(meeting_id=mid, body=view.body, verdict=str(view.verdict),
                                                    adjourned=view.adjourned_since is not None, at=now))
            for p in view.participants:
                lost_for = now - p.lost_since if p.lost_since is not None else None
                self._influx_state(mid, p.member_id, p.device_id, str(p.state), now, lost_for, p.substitute_in_s)

    # -- queries and commands (HTTP, CLI) ----------------------------------------------------------
    def meeting_ids(self) -> list[str]:
        with self.lock:
            return list(self.engine.meeting_ids())

    def view(self, meeting_id: str) -> MeetingView | None:
        with self.lock:
            return self.engine.view(meeting_id, self.clock())

    def view_json(self, meeting_id: str) -> bytes | None:
        """The meeting view as JSON: the one encoding used by the API and the live (SSE) view."""
        v = self.view(meeting_id)
        return None if v is None else msgspec.json.encode(v)

    def act(self, action: Action) -> list[Any]:
        """Record a chair's/secretary's action (H5, H18). Raises ValueError for an invalid one."""
        with self.lock:
            changes = list(self.engine.act(action))
            self._apply(changes)
        return changes

    def record_mediapath(self, device_id: str, meeting_id: str | None, result: dict[str, Any]) -> None:
        now = self.clock()
        with self.lock:
            changes = list(self.engine.record_mediapath(device_id, meeting_id, result, now))
            self.store.put("mediapath", {"device_id": device_id, "member_id": self.index.member(device_id),
                                         "meeting_id": meeting_id, "at": now, "result": result})
            self._apply(changes)

    def companion(self, meeting_id: str, member_id: str, open_: bool) -> None:
        """A member's companion page is open and visible, or hidden/closed (issue 11,
        collector/web/companion.py)."""
        with self.lock:
            self._apply(list(self.engine.companion(meeting_id, member_id, open_, self.clock())))

    def set_roster(self, roster: Roster) -> None:
        with self.lock:
            changes = list(self.engine.set_roster(roster, self.clock()))
            self.index = RosterIndex(roster)
            self._apply(changes)
        if self.probe_keys is not None:
            self.probe_keys.register(roster.devices)

    def reload_roster(self) -> None:
        self.set_roster(load_roster(self.config.roster_path, bodies=self.bodies))

    def _roster_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.config.roster_path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _watch_roster(self) -> None:
        """The secretary edits the roster file: reload it when it changes. A broken file is logged
        (with the line at fault) and the previous roster stays in force."""
        stamp = self._roster_stamp()
        if stamp is None or stamp == self._roster_seen:
            return
        self._roster_seen = stamp
        try:
            roster = load_roster(self.config.roster_path, bodies=self.bodies)
        except ConfigError as exc:
            self.roster_error = str(exc)
            log.error("roster not reloaded, the previous one stays in force: %s", exc)
            return
        self.roster_error = ""
        self.set_roster(roster)
        log.info("roster reloaded: %d meetings, %d devices", len(roster.meetings), len(roster.devices))

    def device_meetings(self, device_id: str) -> list[dict[str, Any]]:
        """For the agent's scheduler: the meetings this device takes part in."""
        out = []
        for m in self.index.device_meetings.get(device_id, []):
            out.append({"id": m.id, "body": m.body, "start": m.start, "end": m.end, "system": str(m.system),
                        "room": m.room})
        return sorted(out, key=lambda d: d["start"])

    def health(self) -> dict[str, Any]:
        with self.lock:
            engine_unknown = dict(self.engine.unknown_devices)
            meetings = [(mid, self.engine.view(mid, self.clock())) for mid in self.engine.meeting_ids()]
        unknown = {d: {"first_seen": u.first_seen, "last_seen": u.last_seen, "count": u.count}
                   for d, u in self.unknown_devices.items()}
        for d, seen in engine_unknown.items():
            unknown.setdefault(d, {"first_seen": seen, "last_seen": seen, "count": 0})
        s = self.store.stats
        connected = bool(self.mqtt is not None and self.mqtt.connected)
        influx: dict[str, Any] = {"enabled": self.influx is not None}
        if self.influx is not None:
            i = self.influx.stats
            influx.update(buffered=self.influx.buffered(), written=i.written, dropped=i.dropped,
                          failures=i.failures, connected=i.connected, last_error=i.last_error)
        return {
            "status": "ok" if connected and s.connected else "degraded",
            "at": self.clock(),
            "uptime_s": round(self.clock() - self.started_at, 1),
            "broker": {"connected": connected, "url": self.mqtt_url,
                       "private": self.broker is not None,
                       "restarts": self.broker.restarts if self.broker is not None else 0,
                       "connects": self.mqtt.connects if self.mqtt is not None else 0,
                       "malformed": self.mqtt.malformed if self.mqtt is not None else 0,
                       "monitoring": "active" if connected else "interrupted"},
            # the collector's own gaps (restart, stall; issue 11): monitoring interrupted, never a member's
            "monitoring": {"own_gaps": self.own_gaps, "stall_after_s": self.config.ingest.stall_after_s},
            "ingest": self.ingestor.counters.as_dict(),
            "store": {"queued": self.store.queue_size(), "written": s.written, "dropped": s.dropped,
                      "failures": s.failures, "connected": s.connected, "last_error": s.last_error,
                      "dialect": self.store.engine.dialect.name},
            "influx": influx,
            "unknown_devices": unknown,
            "meetings": [{"meeting_id": mid, "verdict": str(v.verdict), "monitoring": v.monitoring}
                         for mid, v in meetings if v is not None],
            "modules": dict(self.optional_modules),
            "roster": {"path": str(self.config.roster_path), "meetings": len(self.index.roster.meetings),
                       "error": self.roster_error},
        }

    # --- WebRuntime port (collector/web/port.py): what the web layer calls, each taking the lock ---
    def roster(self) -> Roster:
        return self.index.roster

    def knows_device(self, device_id: str) -> bool:
        return self.index.known(device_id)

    def actions(self, meeting_id: str) -> list[Action]:
        with self.lock:
            return list(self.engine.actions(meeting_id))

    def ingest(self, kind: Kind, msg: wire.Message) -> str:
        """A message the web received (browser self-test, companion sample) through MQTT's own path:
        validation, rate limit, store, engine."""
        return str(self.ingestor.handle(device_topic(msg.device_id, kind), wire.encode(msg), self.clock()))

    def on_change(self, listener: Callable[[list[Change]], None]) -> None:
        self.listeners.append(listener)


def data_dir_of(config: CollectorConfig) -> Path:
    return config.data_path
