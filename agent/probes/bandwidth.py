"""A bounded speed test: download and upload capacity against the collector or speedtest.net.

The meeting needs bandwidth (Microsoft: meetings 2.5 Mbit/s up / 4 Mbit/s down recommended, video
1:1 at least 150 kbit/s; H1). Speed tests are heavy, so this one is bounded and scheduled:

- at most ``max_bytes`` per run (default 25 MB; the transfers are planned to fit, then counted);
- never on mobile data or a phone's hotspot (H9: the tablet's mobile data is not enough, and its
  quota is the member's), never while a meeting runs (``in_session``);
- every step has a socket timeout and the whole run a deadline: a server that stalls or answers
  with errors gives a clear result, never a hang.

The client is speedtest-cli 2.1.3 (``import speedtest``). It always fetches speedtest.net's
configuration, even for a "mini" server; against the collector this module supplies that
configuration itself (``_CollectorSpeedtest.get_config``) and the server
``{collector}/speedtest/upload.php`` (``collector.peers.speedtest``). Against the public network it
uses HTTPS (``secure=True``); when speedtest.net cannot be reached the result says so plainly and,
for ``target = "auto"``, the collector is measured instead.

``ping_ms`` is the mean time of three ``latency.txt`` requests (speedtest-cli itself reports half
of that).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final

import msgspec

from likavillkor.config import Section
from likavillkor.wire import LinkType

#: Byte sizes of speedtest.net's ``random{N}x{N}.jpg`` (the collector serves the same).
IMAGE_BYTES: Final[dict[int, int]] = {
    350: 245_388,
    500: 505_544,
    750: 1_118_012,
    1000: 1_986_284,
    1500: 4_468_241,
    2000: 7_907_740,
    2500: 12_407_926,
    3000: 17_816_816,
    3500: 24_262_167,
    4000: 31_625_365,
}
#: speedtest-cli's upload sizes (bytes).
SPEEDTEST_UPLOAD_BYTES: Final = (32_768, 65_536, 131_072, 262_144, 524_288, 1_048_576, 7_340_032)


def body_is_complete(size: int) -> bool:
    """speedtest-cli 2.1.3 builds an upload body of ``'content1=' + 36-char pattern × round(size/36)``
    cut to ``size``; when that comes out short (65 536: 7 octets missing) the server waits for the
    Content-Length it was promised until the client times out. Such sizes are never planned."""
    return 9 + 36 * round(size / 36.0) >= size


#: The upload sizes this module plans with.
UPLOAD_BYTES: Final = tuple(b for b in SPEEDTEST_UPLOAD_BYTES if body_is_complete(b))
MOBILE_LINKS: Final = frozenset({LinkType.WWAN, LinkType.HOTSPOT})


class SpeedtestTarget(StrEnum):
    COLLECTOR = "collector"  # the collector's own speed-test server
    PUBLIC = "public"  # speedtest.net over HTTPS only
    AUTO = "auto"  # speedtest.net, else the collector (the result says why)


class SpeedtestConfig(Section):
    """``[speedtest]`` in the agent's config."""

    target: SpeedtestTarget = SpeedtestTarget.COLLECTOR
    max_bytes: Annotated[int, msgspec.Meta(ge=1_000_000, le=29_000_000)] = 25_000_000
    download_share: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.6
    download_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 8.0
    upload_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 8.0
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0  # per connect / read
    deadline_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 45.0  # the whole run
    threads: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4


class Outcome(StrEnum):
    OK = "ok"
    REFUSED_MOBILE = "refused_mobile_data"
    REFUSED_SESSION = "refused_in_session"
    UNREACHABLE = "unreachable"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    NO_TARGET = "no_target"


@dataclass(frozen=True, slots=True)
class BandwidthResult:
    down_mbps: float | None
    up_mbps: float | None
    ping_ms: float | None
    bytes_used: int
    server: str | None
    error: str | None  # plain English, None when it worked
    outcome: Outcome = Outcome.OK
    note: str | None = None  # e.g. why the collector was measured instead of speedtest.net
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TransferPlan:
    download_sizes: list[int]  # N of random{N}x{N}.jpg, one request each
    upload_sizes: list[int]  # bytes, one POST each
    planned_bytes: int


def _fill(budget: int, items: list[tuple[int, int]], threads: int) -> tuple[list[int], int]:
    chosen: list[int] = []
    total = 0
    for key, size in items:
        for _ in range(threads):
            if total + size > budget:
                return chosen, total
            chosen.append(key)
            total += size
    return chosen, total


def plan_transfers(max_bytes: int, threads: int, download_share: float = 0.6) -> TransferPlan:
    """Requests that fit ``max_bytes``: smallest first, ``threads`` of each size, until the budget ends."""
    down_budget = int(max_bytes * download_share)
    down, down_total = _fill(down_budget, sorted(IMAGE_BYTES.items()), threads)
    up, up_total = _fill(max_bytes - down_total, [(b, b) for b in UPLOAD_BYTES], threads)
    return TransferPlan(download_sizes=down, upload_sizes=up, planned_bytes=down_total + up_total)


def refusal(link: LinkType | None, in_session: bool) -> BandwidthResult | None:
    """Why a speed test must not run now (H9, and never during a session), or None."""
    if in_session:
        return BandwidthResult(
            None, None, None, 0, None, "a meeting is running: no speed test during a session", Outcome.REFUSED_SESSION
        )
    if link in MOBILE_LINKS:
        return BandwidthResult(
            None,
            None,
            None,
            0,
            None,
            f"the device is on mobile data ({link}): no speed test (H9)",
            Outcome.REFUSED_MOBILE,
        )
    return None


def speedtest_config(plan: TransferPlan, cfg: SpeedtestConfig) -> dict[str, Any]:
    """The configuration speedtest-cli would otherwise fetch from speedtest.net."""
    return {
        "client": {"ip": "", "lat": "0", "lon": "0", "isp": "", "country": ""},
        "ignore_servers": [],
        "sizes": {"download": list(plan.download_sizes), "upload": list(plan.upload_sizes)},
        "counts": {"download": 1, "upload": 1},
        "threads": {"download": cfg.threads, "upload": cfg.threads},
        "length": {"download": cfg.download_s, "upload": cfg.upload_s},
        "upload_max": len(plan.upload_sizes),
    }


class _Stop(threading.Event):
    """speedtest-cli asks ``isSet()``: the deadline sets it and every transfer thread stops."""

    def isSet(self) -> bool:
        return self.is_set()


class _Failure(Exception):
    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class _DeviceAuth(urllib.request.BaseHandler):
    """A urllib handler adding the device's HTTP Basic credentials (its broker login) to every
    request of a speed test against the collector, never against speedtest.net: the collector keeps
    slots for signed-in devices that anonymous clients cannot take (docs/security.md)."""

    handler_order = 900

    def __init__(self, credentials: tuple[str, str]) -> None:
        import base64

        self.header = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()

    def http_request(self, request: Any) -> Any:
        request.add_unredirected_header("Authorization", self.header)
        return request

    https_request = http_request


def _collector_speedtest(
    cfg: SpeedtestConfig, plan: TransferPlan, base_url: str, stop: _Stop, credentials: tuple[str, str] | None = None
) -> Any:
    import speedtest

    config = speedtest_config(plan, cfg)

    class _CollectorSpeedtest(speedtest.Speedtest):
        def get_config(self) -> dict[str, Any]:  # never ask speedtest.net
            self.config.update(config)
            self.lat_lon = (0.0, 0.0)
            return self.config

    st = _CollectorSpeedtest(
        config=config, timeout=cfg.timeout_s, secure=base_url.startswith("https"), shutdown_event=stop
    )
    if credentials is not None:  # the collector keeps speed-test slots for signed-in devices
        st._opener.add_handler(_DeviceAuth(credentials))
    server = {
        "url": f"{base_url.rstrip('/')}/speedtest/upload.php",
        "name": base_url,
        "sponsor": "Likavillkor",
        "id": 0,
        "d": 0,
        "latency": 0,
    }
    _best_server(st, [server])
    return st


def _public_speedtest(cfg: SpeedtestConfig, plan: TransferPlan, stop: _Stop) -> Any:
    import speedtest

    try:
        st = speedtest.Speedtest(timeout=cfg.timeout_s, secure=True, shutdown_event=stop)
        st.get_servers()
        servers = st.get_closest_servers(limit=3)
    except (speedtest.SpeedtestException, OSError) as exc:
        raise _Failure(Outcome.UNREACHABLE, f"speedtest.net cannot be reached ({type(exc).__name__}: {exc})") from None
    st.config.update(speedtest_config(plan, cfg) | {"client": st.config["client"]})
    _best_server(st, servers)
    return st


def _best_server(st: Any, servers: list[dict[str, Any]]) -> None:
    import speedtest

    try:
        best = st.get_best_server(servers)
    except (speedtest.SpeedtestException, OSError) as exc:
        raise _Failure(Outcome.UNREACHABLE, f"no speed-test server answered ({exc})") from None
    if float(best["latency"]) >= 3600 * 1000 / 6:  # speedtest-cli's mark for a failed latency.txt
        raise _Failure(Outcome.SERVER_ERROR, f"{best['url']}: latency.txt did not answer 'test=test'")


def _measure(st: Any, cfg: SpeedtestConfig, started: float) -> BandwidthResult:
    st.download(threads=cfg.threads)
    st.upload(threads=cfg.threads, pre_allocate=True)
    res = st.results
    used = int(res.bytes_received) + int(res.bytes_sent)
    server = str(st.best.get("url"))
    down, up = float(res.download) / 1e6, float(res.upload) / 1e6
    ping_ms = round(float(res.ping) * 2, 2)
    duration = time.monotonic() - started
    if res.bytes_received == 0 or res.bytes_sent == 0:
        which = "download" if res.bytes_received == 0 else "upload"
        return BandwidthResult(
            round(down, 3),
            round(up, 3),
            ping_ms,
            used,
            server,
            f"{server}: the {which} moved no data (server error or stall)",
            Outcome.SERVER_ERROR,
            duration_s=duration,
        )
    return BandwidthResult(round(down, 3), round(up, 3), ping_ms, used, server, None, duration_s=duration)


def _run_blocking(
    cfg: SpeedtestConfig,
    collector_url: str | None,
    public: bool,
    stop: _Stop,
    credentials: tuple[str, str] | None = None,
) -> BandwidthResult:
    started = time.monotonic()
    plan = plan_transfers(cfg.max_bytes, cfg.threads, cfg.download_share)
    try:
        if public:
            st = _public_speedtest(cfg, plan, stop)
        else:
            assert collector_url is not None
            st = _collector_speedtest(cfg, plan, collector_url, stop, credentials)
        return _measure(st, cfg, started)
    except _Failure as exc:
        return BandwidthResult(
            None,
            None,
            None,
            0,
            None if public else collector_url,
            str(exc),
            exc.outcome,
            duration_s=time.monotonic() - started,
        )
    except Exception as exc:  # speedtest-cli raises many kinds; the caller gets a result, not a crash
        return BandwidthResult(
            None,
            None,
            None,
            0,
            None if public else collector_url,
            f"speed test failed: {type(exc).__name__}: {exc}",
            Outcome.SERVER_ERROR,
            duration_s=time.monotonic() - started,
        )


async def _in_thread(
    cfg: SpeedtestConfig,
    collector_url: str | None,
    public: bool,
    deadline: float,
    credentials: tuple[str, str] | None = None,
) -> BandwidthResult:
    """Runs speedtest-cli in a daemon thread; past the deadline, tells it to stop and returns at once."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[BandwidthResult] = loop.create_future()
    stop = _Stop()

    def deliver(result: BandwidthResult) -> None:
        if not done.done():
            done.set_result(result)

    def work() -> None:
        result = _run_blocking(cfg, collector_url, public, stop, credentials)
        with contextlib.suppress(RuntimeError):  # the loop may be gone after a deadline
            loop.call_soon_threadsafe(deliver, result)

    threading.Thread(target=work, name="speedtest", daemon=True).start()
    started = time.monotonic()
    try:
        return await asyncio.wait_for(asyncio.shield(done), timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        stop.set()
        where = "speedtest.net" if public else collector_url
        return BandwidthResult(
            None,
            None,
            None,
            0,
            where,
            f"{where}: no result within the deadline ({time.monotonic() - started:.1f} s)",
            Outcome.TIMEOUT,
            duration_s=time.monotonic() - started,
        )


async def run_speedtest(
    cfg: SpeedtestConfig,
    collector_url: str | None,
    *,
    link: LinkType | None = None,
    in_session: bool = False,
    deadline: float | None = None,
    credentials: tuple[str, str] | None = None,
) -> BandwidthResult:
    """One bounded speed test. ``deadline`` is ``time.monotonic()`` based (default: now + ``deadline_s``).
    ``credentials`` (the device's broker login) go to the collector only, never to speedtest.net.

    ``link`` is what carries the default route: on mobile data or a hotspot it refuses (H9), as it
    does while a meeting runs (``in_session``)."""
    refused = refusal(link, in_session)
    if refused is not None:
        return refused
    end = time.monotonic() + cfg.deadline_s
    if deadline is not None:
        end = min(end, deadline)
    if cfg.target == SpeedtestTarget.COLLECTOR:
        if not collector_url:
            return BandwidthResult(None, None, None, 0, None, "no collector URL to test against", Outcome.NO_TARGET)
        return await _in_thread(cfg, collector_url, False, end, credentials)
    strict = cfg.target == SpeedtestTarget.PUBLIC or not collector_url
    # "auto" keeps half of the time for the collector, in case speedtest.net hangs (DNS, firewall)
    public_end = end if strict else time.monotonic() + (end - time.monotonic()) / 2
    public = await _in_thread(cfg, collector_url, True, public_end)
    if strict or public.outcome not in (Outcome.UNREACHABLE, Outcome.TIMEOUT):
        return public
    fallback = await _in_thread(cfg, collector_url, False, end, credentials)
    note = f"{public.error}; measured against the collector instead"
    return BandwidthResult(
        fallback.down_mbps,
        fallback.up_mbps,
        fallback.ping_ms,
        fallback.bytes_used,
        fallback.server,
        fallback.error,
        fallback.outcome,
        note,
        public.duration_s + fallback.duration_s,
    )
