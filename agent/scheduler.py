"""When to self-test (H8: members connect at least 15 minutes before the start to test).

The agent learns its meetings from the collector (``GET {collector}/api/devices/{id}/meetings``,
a JSON list of ``{id, body, start, end}`` in epoch seconds) or from the command line
(``--meeting ID --start ISO --end ISO``). The decisions are pure (:func:`window_open`,
:func:`current_meeting`, :func:`due_selftests`); :class:`Scheduler` is the asyncio loop around
them, with a deadline on every HTTP call.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import msgspec

from agent.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Meeting(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: str = ""
    start: float  # epoch seconds
    end: float

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"meeting {self.id}: end is not after start")


_meetings_decoder = msgspec.json.Decoder(list[Meeting])


def parse_meetings(payload: bytes) -> list[Meeting]:
    """Decode the collector's answer; raises ValueError with the reason on anything malformed."""
    try:
        return _meetings_decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(f"bad meetings list: {exc}") from None


def parse_time(text: str) -> float:
    """ISO 8601 (``2026-12-01T09:00:00+01:00``) or epoch seconds -> epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as the member reads it
    return when.timestamp()


def window_open(meeting: Meeting, now: float, run_before_s: float) -> bool:
    """H8: from ``run_before_s`` (15 min) before the start until the end."""
    return meeting.start - run_before_s <= now < meeting.end


def current_meeting(meetings: Iterable[Meeting], now: float, run_before_s: float) -> Meeting | None:
    """The meeting whose window is open now (the earliest starting one if several)."""
    open_now = [m for m in meetings if window_open(m, now, run_before_s)]
    return min(open_now, key=lambda m: m.start) if open_now else None


def due_selftests(meetings: Iterable[Meeting], now: float, run_before_s: float, done: set[str]) -> list[Meeting]:
    """Meetings whose window is open and that have not had their self-test yet."""
    return sorted(
        (m for m in meetings if m.id not in done and window_open(m, now, run_before_s)), key=lambda m: m.start
    )


def basic_auth(credentials: tuple[str, str] | None) -> dict[str, str]:
    """``{"Authorization": "Basic ..."}`` for the device's broker credentials; {} without them."""
    if credentials is None:
        return {}
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def fetch_meetings(
    collector_url: str, device_id: str, timeout_s: float, credentials: tuple[str, str] | None = None
) -> list[Meeting]:
    """Blocking GET with a deadline, signed in as the device (HTTP Basic with its broker credentials,
    docs/web.md). Raises OSError (urllib.error.HTTPError for 401/403) / ValueError on failure."""
    url = f"{collector_url.rstrip('/')}/api/devices/{quote(device_id, safe='')}/meetings"
    request = urllib.request.Request(url, headers={"Accept": "application/json", **basic_auth(credentials)})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # http(s) only: checked in config
        return parse_meetings(response.read(1024 * 1024))


SelftestRunner = Callable[[Meeting, bool], Awaitable[None]]  # (meeting, in_session)


class Scheduler:
    """Keeps the meeting list fresh and starts one self-test per meeting when its window opens."""

    TICK_S = 1.0

    def __init__(
        self,
        *,
        run_before_s: float,
        runner: SelftestRunner,
        meetings: list[Meeting] | None = None,
        collector_url: str = "",
        device_id: str = "",
        timeout_s: float = 5.0,
        refresh_s: float = 300.0,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.credentials = credentials
        self.run_before_s = run_before_s
        self.runner = runner
        self.fixed = list(meetings or [])
        self.fetched: list[Meeting] = []
        self.collector_url = collector_url
        self.device_id = device_id
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self.wall = wall
        self.clock = clock
        self.done: set[str] = set()
        self.fetch_errors = 0
        self.auth_errors = 0  # 401/403: wrong or missing device credentials
        self._last_fetch = float("-inf")
        self._task: asyncio.Task[None] | None = None

    @property
    def meetings(self) -> list[Meeting]:
        return self.fixed + [m for m in self.fetched if m.id not in {f.id for f in self.fixed}]

    def current(self, now: float) -> tuple[str, float] | None:
        """For the monitor: ``(meeting id, end)`` of the meeting whose window is open."""
        m = current_meeting(self.meetings, now, self.run_before_s)
        return (m.id, m.end) if m else None

    async def refresh(self) -> None:
        if not self.collector_url:
            return
        self._last_fetch = self.clock()
        try:
            async with asyncio.timeout(self.timeout_s + 1):  # not wait_for: see agent/mqtt.py
                self.fetched = await asyncio.to_thread(
                    fetch_meetings, self.collector_url, self.device_id, self.timeout_s, self.credentials
                )
        except urllib.error.HTTPError as exc:
            self.fetch_errors += 1
            if exc.code in (401, 403):
                self.auth_errors += 1
            if self.fetch_errors == 1 or self.fetch_errors % 100 == 0:
                log.warning(
                    "scheduler: the collector %s refused the meetings request (%d failures): HTTP %d%s",
                    self.collector_url,
                    self.fetch_errors,
                    exc.code,
                    "; check [mqtt] username/password (the device's credentials file)"
                    if exc.code in (401, 403)
                    else "",
                )
        except (OSError, ValueError, TimeoutError) as exc:
            self.fetch_errors += 1
            if self.fetch_errors == 1 or self.fetch_errors % 100 == 0:
                log.warning(
                    "scheduler: cannot fetch meetings from %s (%d failures): %s",
                    self.collector_url,
                    self.fetch_errors,
                    exc,
                )

    async def tick(self) -> None:
        if self.clock() - self._last_fetch >= self.refresh_s:
            await self.refresh()
        now = self.wall()
        for meeting in due_selftests(self.meetings, now, self.run_before_s, self.done):
            self.done.add(meeting.id)
            log.info("scheduler: self-test for meeting %s (starts in %.0f s, H8)", meeting.id, meeting.start - now)
            await self.runner(meeting, now >= meeting.start)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a bad self-test run must not stop the schedule
                log.warning("scheduler: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.TICK_S)
