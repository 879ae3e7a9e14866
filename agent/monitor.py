"""Monitor mode: one :class:`likavillkor.wire.Sample` every ``sample_period_s`` (default 1 s).

Filled from the platform facade (link, H9; battery, H9), byte rates of the interface (the cheap
sign that video flows, ``agent.probes.byterate``), the battery forecast
(``agent.probes.battery_forecast``) to the meeting's end, host CPU/memory, and the path
prober's snapshot (STAMP to the collector's reflector, H1/H2). No speed tests and no camera here
("speed tests are heavy; never run one during a session").

Budget: ≤1 % of a core and ≤60 MB RSS, so this module and everything it imports on this path
must never import cv2, aiortc or numpy (tests/agent/test_light.py checks it). Every source is
imported lazily: a module that is missing or fails gives ``None`` fields and one log line, never a
crash, because a sample that says "unknown" is still a data point (an outage must not vanish).
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from agent.config import AgentConfig, Unavailable
from agent.identity import Identity
from agent.tasks import cancel_and_wait
from likavillkor import wire

log = logging.getLogger(__name__)


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # a missing or broken optional module: log once and go on without it
        log.warning("monitor: %s unavailable (%s); its fields stay empty", module, exc)
        return None


def clamp(value: float | None, low: float, high: float) -> float | None:
    """Keep a reading inside the wire's bounds (a driver reporting 101 % must not void a sample)."""
    if value is None:
        return None
    return max(low, min(high, float(value)))


class SampleSources:
    """Reads the device once per sample. Pure of scheduling; ``now`` is passed in."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.platform = _optional("agent.platform")
        self.forecaster = _optional("agent.probes.battery_forecast")
        self.psutil = _optional("psutil")
        self.problems: collections.Counter[str] = collections.Counter()
        linkwatch = _optional("agent.probes.linkwatch")
        self.linkwatch: Any = linkwatch.LinkWatcher() if linkwatch is not None else None
        self.link_changes = 0
        byterate = _optional("agent.probes.byterate")
        self.byterate: Any = byterate.ByteRate() if byterate is not None else None
        self.history: Any = self.forecaster.BatteryHistory() if self.forecaster is not None else None
        # camera state (issue 4): looked up every camera_state_every_s, never opening the device
        self.camera_module = _optional("agent.media.camera") if cfg.monitor.camera_state_every_s else None
        self._camera: tuple[float, str] | None = None
        # the microphone beside the meeting program (issue 14): read only while a meeting is on;
        # sounddevice/PortAudio are imported when it starts, never on the idle path
        self.micwatch: Any = None
        self.camwatch: Any = None
        if self.psutil is not None:
            self.psutil.cpu_percent(interval=None)  # prime: the first call has no interval

    def _safe(self, name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # one bad reading must not lose the whole sample
            self.problems[name] += 1
            if self.problems[name] == 1:
                log.warning("monitor: reading %s failed: %s", name, exc)
            return None

    def read(self, now: float, meeting_end: float | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.platform is not None:
            fields.update(self._safe("link", lambda: self._link(now)) or {})
            fields.update(self._safe("rates", lambda: self._rates(now, fields.get("iface"))) or {})
            fields.update(self._safe("battery", lambda: self._battery_fields(now, meeting_end)) or {})
        if self.psutil is not None:
            fields.update(self._safe("host", self._host) or {})
        mic = self._safe("micwatch", lambda: self._mic(meeting_end is not None))
        if mic:
            fields.update(mic)
        camera = None
        if self.camera_module is not None:
            camera = self._safe("camera", lambda: self._camera_state(now))
            # Only what the cheap look-up can be sure of: "in_use" (the meeting program holds it) or
            # "ok" (present, idle). "absent"/"unknown" from a /dev scan may be a sandbox or missing
            # permission, not a missing camera: the self-test, which opens the device, judges that.
            if camera in ("in_use", "ok"):
                fields["camera"] = camera
        seen = self._safe("camwatch", lambda: self._cam(meeting_end is not None, camera == "in_use"))
        if seen:
            fields.update(seen)
        return fields

    def _cam(self, in_meeting: bool, in_use: bool) -> dict[str, Any] | None:
        """A frame every few seconds beside the meeting program, where the OS shares the camera
        (macOS, or a configured source; issue 14). Elsewhere the camera stays ``in_use`` only."""
        cfg = getattr(self.cfg, "camwatch", None)
        module = self._camwatch_module(cfg)
        if not in_meeting or module is None or not (in_use or getattr(cfg, "source", None) is not None):
            self._stop_camwatch()
            return None
        if self.camwatch is None:
            self.camwatch = module.CamWatch(cfg)
            self.camwatch.start()
        return self.camwatch.read()

    def _camwatch_module(self, cfg: Any) -> Any:
        if cfg is None or not getattr(cfg, "enabled", False):
            return None
        module = _optional("agent.media.camwatch")  # light: OpenCV is imported when a frame is grabbed
        # Linux V4L2 and Windows without the frame server's shared mode: in_use only
        return module if module is not None and module.shared_access(sys.platform, cfg) else None

    def _stop_camwatch(self) -> None:
        if self.camwatch is not None:
            watch, self.camwatch = self.camwatch, None
            watch.stop()

    def _mic(self, in_meeting: bool) -> dict[str, Any] | None:
        """The microphone watch's numbers, only while a meeting is on (started and stopped here)."""
        cfg = getattr(self.cfg, "micwatch", None)
        if not in_meeting or cfg is None or not getattr(cfg, "enabled", False):
            if self.micwatch is not None:
                watch, self.micwatch = self.micwatch, None
                watch.stop()
            return None
        if self.micwatch is None:
            module = _optional("agent.media.micwatch")
            if module is None:
                return None
            self.micwatch = module.MicWatch(cfg)
            self.micwatch.start()
        return self.micwatch.read()

    def close(self) -> None:
        """Stop the microphone watch (the meeting ended, or the monitor stops)."""
        if self.micwatch is not None:
            watch, self.micwatch = self.micwatch, None
            watch.stop()
        self._stop_camwatch()

    def _camera_state(self, now: float) -> str:
        """``in_use`` while the meeting program holds the camera: good news, video is on (issue 4).
        Cached for ``camera_state_every_s``; the camera is never opened here."""
        if self._camera is None or now - self._camera[0] >= self.cfg.monitor.camera_state_every_s:
            self._camera = (now, str(self.camera_module.camera_state()))  # type: ignore[union-attr]
        return self._camera[1]

    def _link(self, now: float) -> dict[str, Any]:
        info = self.platform.link_info()  # type: ignore[union-attr]
        if self.linkwatch is not None:
            for change in self.linkwatch.update(now, info):
                self.link_changes += 1
                level = logging.WARNING if change.to_mobile_data or change.lost else logging.INFO
                log.log(
                    level,
                    "monitor: link %s changed: %s -> %s%s",
                    change.kind,
                    change.old,
                    change.new,
                    " (mobile data is not sufficient, H9)" if change.to_mobile_data else "",
                )
        return {
            "link": info.link,
            "iface": info.iface,
            "metered": info.metered,
            "hotspot_reason": info.hotspot_reason,
            "wifi_signal_dbm": clamp(info.wifi_signal_dbm, -150, 30),
            "wifi_signal_percent": clamp(info.wifi_signal_percent, 0, 100),
            "link_rate_mbps": clamp(info.link_rate_mbps, 0, 100_000_000),
        }

    def _rates(self, now: float, iface: str | None) -> dict[str, Any]:
        if self.byterate is None:
            return {}
        rates = self.byterate.feed(now, self.platform.net_counters(iface), iface)  # type: ignore[union-attr]
        if rates is None:
            return {}
        return {"tx_kbps": clamp(rates.tx_kbps, 0, 100_000_000), "rx_kbps": clamp(rates.rx_kbps, 0, 100_000_000)}

    def _battery_fields(self, now: float, meeting_end: float | None) -> dict[str, Any]:
        info = self.platform.battery()  # type: ignore[union-attr]
        if info is None:
            return {}
        out: dict[str, Any] = {"battery_percent": clamp(info.percent, 0, 100), "battery_charging": info.charging}
        if self.history is not None:
            self.history.add(now, info)
            fc = self.forecaster.forecast(  # type: ignore[union-attr]
                self.history.readings(), info.charging, now, meeting_end, seconds_left=info.seconds_left
            )
            out["battery_minutes_left"] = clamp(fc.minutes_left, 0, 100_000)
            out["battery_lasts_meeting"] = fc.lasts_meeting
        return out

    def _host(self) -> dict[str, Any]:
        ps = self.psutil
        mem = ps.virtual_memory()  # type: ignore[union-attr]
        return {
            "cpu_percent": clamp(ps.cpu_percent(interval=None), 0, 100),  # type: ignore[union-attr]
            "mem_available_percent": clamp(100.0 * mem.available / mem.total, 0, 100),
        }


MeetingLookup = Callable[[float], tuple[str, float] | None]  # now -> (meeting id, end) or None


class Monitor:
    """Publishes a Sample every ``cfg.monitor.sample_period_s`` through ``sink`` (the outbox).

    ``clock`` (monotonic) paces the loop, ``wall`` stamps the samples; both are injectable.
    """

    KEY_RETRY_S = 5.0

    def __init__(
        self,
        cfg: AgentConfig,
        identity: Identity,
        sink: Callable[[wire.Sample], None],
        *,
        meeting: MeetingLookup = lambda _now: None,
        dropped: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sources: SampleSources | None = None,
    ) -> None:
        self.cfg = cfg
        self.identity = identity
        self.sink = sink
        self.meeting = meeting
        self.dropped = dropped
        self.clock = clock
        self.wall = wall
        self.sources = sources or SampleSources(cfg)
        self.prober: Any = None
        self.samples = 0
        self._task: asyncio.Task[None] | None = None
        self._key_task: asyncio.Task[None] | None = None

    def make_sample(self) -> wire.Sample:
        now = self.wall()
        current = self.meeting(now)
        fields = self.sources.read(now, current[1] if current else None)
        if self.prober is not None:
            fields.update(self.prober.snapshot())
        return wire.Sample(
            device_id=self.identity.device_id,
            boot_id=self.identity.boot_id,
            seq=self.identity.next_seq(),
            ts=now,
            meeting_id=current[0] if current else None,
            outbox_dropped=self.dropped(),
            **fields,
        )

    async def start(self) -> None:
        await self._start_prober()
        self._task = asyncio.create_task(self._run(), name="monitor")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self.sources.close()
        await cancel_and_wait(self._key_task)
        self._key_task = None
        if self.prober is not None:
            await self.prober.stop()
            self.prober = None

    async def _start_prober(self) -> None:
        cfg = self.cfg
        if not cfg.monitor.path_probe or isinstance(cfg.path, Unavailable):
            return
        host = getattr(cfg.path, "host", "") or cfg.collector.host
        if not host:
            log.info("monitor: no reflector host ([path] host or [collector] url): no path probes")
            return
        module = _optional("agent.probes.path")
        if module is None:
            return
        # the collector's reflector answers signed probes only (issue 11): fetch this device's key,
        # also when enrolment names the reflector's host in [path] (broker-credentials does, issue 16)
        signed = bool(cfg.collector.url) and bool(getattr(cfg.path, "signed", True))
        try:
            self.prober = module.PathProber(cfg.path, host=host, auth_required=signed)
            await self.prober.start()
        except Exception as exc:  # the monitor runs on without path fields
            log.warning("monitor: path prober failed to start: %s", exc)
            self.prober = None
            return
        if signed:
            self._key_task = asyncio.create_task(self._fetch_key(), name="probe-key")

    async def _fetch_key(self) -> None:
        """Fetch the probe key (retry every ``KEY_RETRY_S``) and hand it to the prober."""
        from agent.config import collector_credentials
        from agent.probes.probekey import fetch_probe_key

        cfg = self.cfg
        failures = 0
        while self.prober is not None:
            try:
                ssid, key = await asyncio.to_thread(
                    fetch_probe_key,
                    cfg.collector.url,
                    self.identity.device_id,
                    cfg.collector.timeout_s,
                    collector_credentials(cfg),
                )
            except Exception as exc:  # the collector is away or refuses: no path fields meanwhile
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    log.warning(
                        "monitor: no probe key from %s yet (%s); no path figures until then", cfg.collector.url, exc
                    )
                await asyncio.sleep(self.KEY_RETRY_S)
                continue
            self.prober.set_auth(ssid, key)
            log.info("monitor: path probes signed (SSID %d)", ssid)
            return

    async def _run(self) -> None:
        period = self.cfg.monitor.sample_period_s
        next_t = self.clock()
        while True:
            self._publish()
            next_t += period
            while True:
                delay = next_t - self.clock()
                if delay < -period:  # starved (suspend, overload): skip ahead rather than burst
                    next_t = self.clock()
                    delay = 0.0
                if not await self._wait_urgent(max(0.0, delay)):
                    break
                # the path prober's loss test changed its conclusion: tell the collector now, not
                # at the next period (issue 11: 20 % loss -> failing within 4 s)
                self._publish()

    def _publish(self) -> None:
        try:
            self.sink(self.make_sample())
            self.samples += 1
        except Exception as exc:  # a full disk or a bad value: count, log once, keep sampling
            self.sources.problems["publish"] += 1
            if self.sources.problems["publish"] == 1:
                log.warning("monitor: could not queue a sample: %s", exc)

    async def _wait_urgent(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True (early) when the prober has news that cannot wait."""
        urgent = getattr(self.prober, "urgent", None)
        if not isinstance(urgent, asyncio.Event):
            await asyncio.sleep(delay)
            return False
        try:
            await asyncio.wait_for(urgent.wait(), delay)
        except TimeoutError:
            return False
        urgent.clear()
        return True
