"""Helpers for the engine's unit tests: a small roster and samples on an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from collector.engine import Engine
from likavillkor import wire
from likavillkor.policy import PolicySet, load_policy
from likavillkor.roster import Meeting, Participant, Role, Roster, System

START = 1_796_112_000.0  # 2026-12-01 09:00:00 Europe/Stockholm
END = START + 7200


def roster(
    *members: str,
    body: str = "kommunstyrelsen",
    meeting_id: str = "ks-1",
    start: float = START,
    end: float = END,
    extra_devices: tuple[str, ...] = (),
) -> Roster:
    r = Roster()
    parts = tuple(Participant(m, m.title(), Role.LEDAMOT, f"{m}-ipad") for m in members)
    r.meetings[meeting_id] = Meeting(meeting_id, body, start, end, "Sessionssalen", System.TEAMS, False, parts)
    for p in parts:
        r.devices[p.device_id] = p.member_id
    for d in extra_devices:
        r.devices[d] = None
    return r


class Feeder:
    """Sends messages for devices with increasing seq and device time = collector time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seq: dict[str, int] = {}
        self.changes: list[Any] = []

    def msg(self, device: str, t: float, kind: type = wire.Sample, **fields: Any) -> wire.Message:
        seq = self.seq.get(device, -1) + 1
        self.seq[device] = seq
        return kind(device_id=device, boot_id="b1", seq=seq, ts=t, **fields)

    def sample(self, device: str, t: float, **fields: Any) -> str:
        fields.setdefault("link", wire.LinkType.WIFI)
        outcome, changes = self.engine.ingest(self.msg(device, t, **fields), t)
        self.changes.extend(changes)
        return str(outcome)

    def run(self, devices: list[str], t0: float, t1: float, **fields: Any) -> None:
        """One sample a second from every device, ticking each second, over [t0, t1)."""
        t = t0
        while t < t1:
            for d in devices:
                self.sample(d, t, **fields)
            self.changes.extend(self.engine.tick(t))
            t += 1


@pytest.fixture
def policies() -> PolicySet:
    return load_policy()


@pytest.fixture
def make(policies: PolicySet) -> Callable[..., tuple[Engine, Feeder]]:
    def _make(*members: str, now: float = START - 1800, **kw: Any) -> tuple[Engine, Feeder]:
        engine = Engine(roster(*members, **kw), policies, now=now)
        return engine, Feeder(engine)

    return _make
