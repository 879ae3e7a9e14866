"""Wiring: config -> roster, policy, engine, store, InfluxDB, broker, MQTT, tick loop, HTTP.

Threads: paho's network thread runs ingest (checks + engine.ingest); a tick thread calls
engine.tick every ``tick_interval_s``; HTTP handlers run in uvicorn's thread pool. One lock
guards the engine; everything slow (database, InfluxDB) is a non-blocking enqueue outside it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from collector.config import CollectorConfig
from collector.engine import Action, Change, Engine, MeetingView
from collector.mqtt.ingest import Ingestor
from collector.runtime import housekeeping, queries, rows, snapshots, takeover
from collector.runtime.feed import Inbox, Sink
from collector.runtime.leadership import Leadership
from collector.runtime.lifecycle import ReflectorRunner, start_mqtt
from collector.runtime.roster_watch import EARLY_S, RosterIndex, RosterWatch, load_inputs
from collector.store import Store
from collector.store import influx as fx
from likavillkor import wire
from likavillkor.roster import Roster
from likavillkor.topics import Kind, device_topic

log = logging.getLogger(__name__)
Clock = Callable[[], float]
_SWITCH_INTERVAL_S = 0.001
#: [ha]: longest wait for a chair's action to be stored before the answer (issue 17)
ACT_FLUSH_S = 5.0


class Runtime:
    """The running collector: one engine behind one lock, fed by MQTT (or directly by tests and the
    web's self-test ingest), its changes queued for the store and InfluxDB and told to the live views."""

    def __init__(self, config: CollectorConfig, *, clock: Clock = time.time) -> None:
        if config.ingest.mode not in ("inline", "thread"):
            raise ValueError(f"[ingest] mode must be 'inline' or 'thread', got {config.ingest.mode!r}")
        self.config = config
        self.clock = clock
        self.started_at = clock()
        self.bodies, roster, self.policies = load_inputs(config)
        self.index = RosterIndex(roster)
        self.roster_watch = RosterWatch(config.roster_path, self.bodies)
        self.engine = Engine(roster, self.policies, now=clock(), several_brokers=len(config.mqtt.broker_urls) > 1)
        self.lock = threading.RLock()
        s = config.store
        self.store = Store(
            config.store_url,
            queue_max=s.queue_max,
            batch=s.batch,
            flush_interval_s=s.flush_interval_s,
            retry_max_s=s.retry_max_s,
        )
        self.influx = fx.make_writer(config.influx)
        self.sink = Sink(self.store, self.influx, self.index, self._record_changes)
        self.unknown_devices = self.sink.unknown_devices  # devices on no roster (H12), for health
        self.listeners: list[Callable[[list[Change]], None]] = []
        self.ingestor = Ingestor(
            engine_call=self._engine_ingest,
            known_device=self._known,
            sink=self.sink,
            on_unknown=self.sink.unknown,
            rate_per_device=config.ingest.max_rate_per_device,
            burst=config.ingest.burst,
            log_every_s=config.ingest.log_every_s,
            lock=self.lock,
            topic_root=config.mqtt.topic_root,
        )
        self.broker: Any = None  # collector.mqtt.supervisor.PrivateBroker when spawned
        self.mqtt: Any = None  # collector.runtime.lifecycle.BrokerLinks: one MqttClient per broker
        self.mqtt_url = ", ".join(config.mqtt.broker_urls)
        self._reflector = ReflectorRunner()
        self.probe_keys: Any = None  # collector.auth.probekeys.ProbeKeys, when the reflector runs
        self.optional_modules: dict[str, str] = {}  # module -> "loaded" or why not
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: the engine lock's holders note here (monotonic) that the process runs; a longer pause is
        #: the collector's own gap (SIGSTOP, a frozen VM, a swap storm): issue 11
        self._alive_mono = time.monotonic()
        self.own_gaps = 0
        #: signed path probes seen by the reflector's thread: device -> time (issue 11), drained by tick()
        self._probe_seen: dict[str, float] = {}
        self._inbox = Inbox() if config.ingest.mode == "thread" else None
        self.last_purge: dict[str, int] = {}
        #: [ha] (issue 17): the lease decides whether this collector writes (collector/runtime/leadership.py)
        self.ha: Leadership | None = None
        if config.ha.enabled:
            self.ha = Leadership(config.ha, config.store.url)
            self.store.fence = self.ha.fence
            self.sink.writing = self.ha.writing
            self.sink.recent = self.ha.recent

    def writing(self) -> bool:
        """True unless this collector is a standby (``[ha]``, issue 17): then it writes nothing."""
        return self.ha is None or self.ha.writing()

    def leading(self) -> bool:
        """For the web's StandbyGuard: serve pages and chair actions only while writing."""
        return self.writing()

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
        if self.ha is not None:
            self.ha.start()
        if self.influx is not None:
            self.influx.start()
        # monitoring starts interrupted until the broker connection is up; without MQTT (tests and
        # tools feeding messages directly) the feed counts as connected
        with self.lock:
            self._record_changes(self.engine.broker(not mqtt, self.clock()))
            self._alive_mono = time.monotonic()  # starting up is no stall (the restart was its own gap)
        if mqtt:
            self.broker, self.mqtt, self.mqtt_url = start_mqtt(
                self.config, self.on_mqtt_message, self.on_broker, self.store
            )
        if self.config.reflector.enabled:
            status = self._reflector.start(self.config, self.index.roster.devices, self._note_probe)
            self.probe_keys = self._reflector.probe_keys
            self.optional_modules["collector.peers.reflector"] = status
        with self.lock:
            self._alive_mono = time.monotonic()  # starting up is no stall (the restart was its own gap)
        self._start_threads()

    def _start_threads(self) -> None:
        loops: list[tuple[Callable[[], None], str]] = [
            (self._tick_loop, "tick"),
            (self._housekeeping_loop, "housekeeping"),
        ]
        if self._inbox is not None:
            loops.append((self._engine_loop, "engine"))
        if self.ha is not None:
            loops.append((self._ha_loop, "ha"))
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
        self._reflector.stop()
        # the last snapshot goes through the queue, behind any older one still waiting there
        self._save_snapshot()
        if self.influx is not None:
            self.influx.stop()
        self.store.stop()
        if self.ha is not None:  # after the store's last batch: it is written under the lease
            self.ha.stop()

    @property
    def reflector(self) -> tuple[Any, Any] | None:
        """(collector.peers.reflector.Reflector, its event loop) while it runs (collector/metrics.py)."""
        return self._reflector.running

    def _restore(self) -> None:
        snapshots.restore(self)

    def _save_snapshot(self, *, direct: bool = False) -> None:
        snapshots.save(self, direct=direct)

    # -- ingest ------------------------------------------------------------------------------------
    def on_mqtt_message(self, topic: str, payload: bytes) -> None:
        if self._inbox is None:
            self.ingestor.handle(topic, payload, self.clock())
        else:  # "thread" mode: keep the paho callback to an append
            self._inbox.append(topic, payload, self.clock())

    def _engine_loop(self) -> None:
        assert self._inbox is not None
        self._inbox.drain(self._stop, self.lock, self.ingestor.handle_locked)

    def on_broker(self, connected: bool) -> None:
        with self.lock:
            self._record_changes(self.engine.broker(connected, self.clock()))

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
            log.warning(
                "the collector itself stood still for %.1f s: monitoring interrupted until every "
                "member is heard again; their probe loss of that time is not counted",
                paused,
            )
            self._record_changes(self.engine.own_gap(now - paused, now))

    def _engine_ingest(self, msg: wire.Message, received_at: float) -> tuple[str, list[Any]]:
        self.check_stall()
        outcome, changes = self.engine.ingest(msg, received_at)  # the ingestor holds self.lock
        return outcome.value, changes

    # -- changes -----------------------------------------------------------------------------------
    def _record_changes(self, changes: list[Any]) -> None:
        """Queue engine changes for the database and InfluxDB (collector/runtime/rows.py) and tell
        the listeners (live views).

        Called with ``self.lock`` held, so whatever a view shows has already been queued for the
        database; everything here is a non-blocking enqueue, and listeners must be as cheap."""
        writing = self.writing()
        influx = self.influx if writing else None
        if not writing and self.ha is not None:
            self.ha.note_closed(changes)
        for record in rows.records_of(changes, body_of=self.index.meeting_body, now=self.clock()):
            self.sink.put(record.row)
            if influx is not None:
                influx.put(record.point)
        for listener in list(self.listeners):
            try:
                listener(changes)
            except Exception as exc:
                log.warning("change listener failed: %s", exc)

    # -- loops -------------------------------------------------------------------------------------
    def _note_probe(self, device_id: str, at: float) -> None:
        """The reflector's thread: a signed probe of ``device_id`` (one dict store; tick() drains)."""
        self._probe_seen[device_id] = at

    def probe_key(self, device_id: str) -> dict[str, Any] | None:
        """For the agent: its SSID and key for signed probes (issue 11), or None."""
        return queries.probe_key(self, device_id)

    def tick(self) -> None:
        with self.lock:
            self.check_stall()
            if self._probe_seen:
                seen, self._probe_seen = self._probe_seen, {}
                for device_id, at in seen.items():
                    changes = self.engine.probe_alive(device_id, at)
                    if changes:
                        self._record_changes(changes)
            changes = self.engine.tick(self.clock())
            if changes:
                self._record_changes(changes)

    def _tick_loop(self) -> None:
        interval = self.config.ingest.tick_interval_s
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:
                log.exception("engine tick failed")

    def _housekeeping_loop(self) -> None:
        jobs: dict[str, Callable[[], None]] = {
            "snapshot": self._save_snapshot,
            "purge": self.purge,
            "roster": self.watch_roster,
        }
        if self.influx is not None:
            jobs["state"] = self.write_current_state
        housekeeping.run_loop(self._stop, jobs, housekeeping.schedule_for(self.config, time.monotonic()))

    def purge(self) -> None:
        """Retention (collector/runtime/housekeeping.py): samples and incidents past their days."""
        if not self.writing():
            return
        self.last_purge = housekeeping.purge(self.store, self.config.retention, self.clock())

    def write_current_state(self) -> None:
        """Periodic participant_state / meeting_verdict points, so dashboards show current values."""
        if self.influx is None or not self.writing():
            return
        now = self.clock()
        for mid in self.meeting_ids():
            m = self.index.roster.meetings.get(mid)
            if m is None or not (m.start - EARLY_S <= now <= m.end + EARLY_S):
                continue
            view = self.view(mid)
            if view is not None:
                for point in rows.current_state_points(view, now):
                    self.influx.put(point)

    # -- leadership (issue 17): collector/runtime/takeover.py ----------------------------------------
    def _ha_loop(self) -> None:
        takeover.ha_loop(self)

    def ha_step(self, mono: float | None = None) -> None:
        """One round: take over when the lease says so, step down when it ran out, else follow."""
        takeover.ha_step(self, mono)

    # -- queries (collector/runtime/queries.py) and commands (HTTP, CLI) -----------------------------
    def meeting_ids(self) -> list[str]:
        return queries.meeting_ids(self)

    def view(self, meeting_id: str) -> MeetingView | None:
        return queries.view(self, meeting_id)

    def view_json(self, meeting_id: str) -> bytes | None:
        """The meeting view as JSON: the one encoding used by the API and the live (SSE) view."""
        return queries.view_json(self, meeting_id)

    def act(self, action: Action) -> list[Any]:
        """Record a chair's/secretary's action (H5, H18). Raises ValueError for an invalid one."""
        with self.lock:
            changes = list(self.engine.act(action))
            self._record_changes(changes)
        if self.ha is not None and not self.store.flush(ACT_FLUSH_S):
            # issue 17: the chair's action must be in the database before she is told it is recorded,
            # or a leader that dies (or is paused) right after would take it with it
            log.warning(
                "ha: the action %s of %s is not yet stored after %.0f s", action.kind, action.meeting_id, ACT_FLUSH_S
            )
        return changes

    def record_mediapath(self, device_id: str, meeting_id: str | None, result: dict[str, Any]) -> None:
        now = self.clock()
        with self.lock:
            changes = list(self.engine.record_mediapath(device_id, meeting_id, result, now))
            self.sink.put(
                rows.MediapathRow(
                    device_id=device_id,
                    member_id=self.index.member(device_id),
                    meeting_id=meeting_id,
                    at=now,
                    result=result,
                )
            )
            self._record_changes(changes)

    def companion(self, meeting_id: str, member_id: str, open_: bool) -> None:
        """A member's companion page is open and visible, or hidden/closed (issue 11,
        collector/web/companion.py)."""
        with self.lock:
            self._record_changes(list(self.engine.companion(meeting_id, member_id, open_, self.clock())))

    def set_roster(self, roster: Roster) -> None:
        with self.lock:
            changes = list(self.engine.set_roster(roster, self.clock()))
            self.index = self.sink.index = RosterIndex(roster)
            self._record_changes(changes)
        if self.probe_keys is not None:
            self.probe_keys.register(roster.devices)

    def reload_roster(self) -> None:
        self.set_roster(self.roster_watch.load())

    def watch_roster(self) -> None:
        """The secretary edits the roster file: reload it when it changes (a broken one is logged
        with the line at fault; the previous roster stays in force)."""
        roster = self.roster_watch.changed()
        if roster is not None:
            self.set_roster(roster)

    @property
    def roster_error(self) -> str:
        return self.roster_watch.error

    def device_meetings(self, device_id: str) -> list[dict[str, Any]]:
        """For the agent's scheduler: the meetings this device takes part in."""
        return queries.device_meetings(self, device_id)

    def health(self) -> dict[str, Any]:
        return queries.health(self)

    # --- WebRuntime port (collector/web/port.py): what the web layer calls, each taking the lock ---
    def roster(self) -> Roster:
        return self.index.roster

    def knows_device(self, device_id: str) -> bool:
        return self.index.known(device_id)

    def actions(self, meeting_id: str) -> list[Action]:
        return queries.actions(self, meeting_id)

    def ingest(self, kind: Kind, msg: wire.Message) -> str:
        """A message the web received (browser self-test, companion sample) through MQTT's own path:
        validation, rate limit, store, engine."""
        topic = device_topic(msg.device_id, kind, self.config.mqtt.topic_root)
        return str(self.ingestor.handle(topic, wire.encode(msg), self.clock()))

    def on_change(self, listener: Callable[[list[Change]], None]) -> None:
        self.listeners.append(listener)
