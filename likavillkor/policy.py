"""The policy: every limit, timer and debounce setting, with its source.

Shipped defaults live in ``likavillkor/data/policy.toml``. A municipality's policy file has the
same shape and overrides any of it per system (``[profiles.teams]``) and per body
(``[bodies."kommunstyrelsen"]``). :func:`PolicySet.for_meeting` resolves defaults <- system
profile <- body, so every limit can change per body without code.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec

from likavillkor.config import ConfigError, Section, convert


class Direction(StrEnum):
    ABOVE = "above"  # larger is worse
    BELOW = "below"  # smaller is worse


class Limit(Section):
    direction: Direction
    warn: float | None = None
    fail: float | None = None
    source: str = ""

    def level(self, value: float) -> int:
        """0 fine, 1 warn, 2 fail."""
        if self.direction is Direction.ABOVE:
            if self.fail is not None and value > self.fail:
                return 2
            if self.warn is not None and value > self.warn:
                return 1
        else:
            if self.fail is not None and value < self.fail:
                return 2
            if self.warn is not None and value < self.warn:
                return 1
        return 0


#: What an unmet precondition does to the meeting: ``at_risk`` (shown to the chair and the member,
#: the meeting goes on) or ``adjourn`` (the participant is failing). "Reading the rules together":
#: H9 is the member's checklist; the handbook adjourns on sound or image breaking (H2, H15).
Escalation = Literal["at_risk", "adjourn"]


class Preconditions(Section):
    """Per checklist item (H9, H10), what it does when not met during the meeting. The shipped
    policy has every one ``at_risk``; a body may escalate any of them to ``adjourn``."""

    mobile_data: Escalation = "at_risk"
    hotspot: Escalation = "at_risk"
    battery: Escalation = "at_risk"  # battery_percent at its fail limit, battery_short (will not last)
    wifi_signal: Escalation = "at_risk"  # wifi_signal_dbm / wifi_signal_percent at the fail limit
    cpu: Escalation = "at_risk"  # cpu_percent
    memory: Escalation = "at_risk"  # mem_available_percent
    source: str = ""


#: which precondition a debounced channel (a policy limit, or battery_short) belongs to
PRECONDITION_OF_CHANNEL: dict[str, str] = {
    "battery_percent": "battery",
    "battery_short": "battery",
    "wifi_signal_dbm": "wifi_signal",
    "wifi_signal_percent": "wifi_signal",
    "cpu_percent": "cpu",
    "mem_available_percent": "memory",
}


class Policy(Section):
    sample_period_s: float = 1.0
    sample_period_source: str = ""
    silence_lost_s: float = 5.0
    silence_lost_source: str = ""
    #: while the device's signed path probes (10/s) are its freshest evidence of life, silence this
    #: long is a lost contact (issue 11: a cut link seen within 2 s; no last will is possible then)
    probe_silence_lost_s: float = 1.2
    probe_silence_lost_source: str = ""
    #: a last will is the loss once this long passed with the collector keeping its broker and nothing
    #: newer from the device: a stopping Mosquitto sends every client's will as it goes (issue 11)
    will_confirm_s: float = 0.5
    will_confirm_source: str = ""
    substitute_after_s: float = 300.0
    substitute_after_source: str = ""
    connect_early_s: float = 900.0
    connect_early_source: str = ""
    #: how long the chair's "still present in the meeting program" holds for a member without contact
    #: with her device (H16, issue 15) unless the device is heard again first
    present_hold_s: float = 600.0
    present_hold_source: str = ""
    debounce_window: int = 10
    debounce_raise: int = 3
    debounce_clear: int = 0
    debounce_source: str = ""
    #: how long before the start a meeting's window opens (samples count, "connected"/"ready")
    watch_before_s: float = 3600.0
    #: after the broker comes back (or the collector restarts), how long devices get to reconnect
    #: before silence counts again; covers the agent's reconnect back-off cap (5 s by default)
    reconnect_grace_s: float = 10.0
    reconnect_grace_source: str = ""
    #: how far back a sample's path figures (loss, RTT) reach: the agent's [path] window_s. Samples
    #: received within this of the collector's own gap (restart, stall) do not judge the path
    probe_window_s: float = 15.0
    probe_window_source: str = ""
    #: a sample whose device time lags the device's usual offset by more than this is an outbox
    #: replay: it completes history but never changes a live state
    late_after_s: float = 5.0
    #: how many recent message ids per device are remembered to drop duplicates
    dedupe_window: int = 256
    #: battery will not last the meeting and is not charging (H9): "warn" or "fail"
    battery_short_level: Literal["warn", "fail"] = "fail"
    battery_short_source: str = ""
    #: what a device's camera / microphone report means: value -> "warn" | "fail" (debounced)
    camera_levels: dict[str, Literal["warn", "fail"]] = msgspec.field(default_factory=dict)
    microphone_levels: dict[str, Literal["warn", "fail"]] = msgspec.field(default_factory=dict)
    media_source: str = ""
    limits: dict[str, Limit] = msgspec.field(default_factory=dict)
    #: unmet preconditions (mobile data, hotspot, battery, weak Wi-Fi, CPU, memory): at risk or adjourn
    preconditions: Preconditions = msgspec.field(default_factory=Preconditions)

    def escalates(self, precondition: str) -> bool:
        """True when this unmet precondition breaks equal terms (participant failing, adjourn)."""
        return getattr(self.preconditions, precondition, "at_risk") == "adjourn"


class PolicySet:
    """Defaults plus per-system and per-body overrides, resolved on demand."""

    def __init__(self, raw: dict[str, Any], *, source: str = "<policy>", text: str = "") -> None:
        self._raw = raw
        self._source = source
        self._text = text
        self._cache: dict[tuple[str, str], Policy] = {}
        allowed = {"defaults", "profiles", "bodies"}
        for key in raw:
            if key not in allowed:
                raise ConfigError(f"unknown key '{key}'", source=source, key=key)
        # validate every combination now, so a bad file fails at start-up
        self.defaults = convert(raw.get("defaults", {}), Policy, source=source, text=text)
        for system in raw.get("profiles", {}):
            self.resolve(system, "")
        for body in raw.get("bodies", {}):
            self.resolve("", body)

    def resolve(self, system: str, body: str) -> Policy:
        key = (system.casefold(), body.casefold())
        if key not in self._cache:
            merged = _merge(self._raw.get("defaults", {}), self._raw.get("profiles", {}).get(key[0], {}))
            bodies = {k.casefold(): v for k, v in self._raw.get("bodies", {}).items()}
            merged = _merge(merged, bodies.get(key[1], {}))
            self._cache[key] = convert(merged, Policy, source=self._source, text=self._text)
        return self._cache[key]

    def for_meeting(self, system: str, body: str) -> Policy:
        return self.resolve(system, body)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def shipped_text() -> str:
    return resources.files("likavillkor.data").joinpath("policy.toml").read_text(encoding="utf-8")


def load_policy(path: str | Path | None = None) -> PolicySet:
    """The shipped defaults, overlaid with a municipality's file when given."""
    shipped = tomllib.loads(shipped_text())
    if path is None:
        return PolicySet(shipped, source="policy.toml (shipped)", text=shipped_text())
    text = Path(path).read_text(encoding="utf-8")
    try:
        local = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None
    return PolicySet(_merge(shipped, local), source=str(path), text=text)
