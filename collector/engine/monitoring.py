"""Monitoring modes (issue 11): who the system can watch, and what it says about those it cannot.

A participant is watched by her agent (``monitoring = "agent"``), by her companion page while it
is open and visible (``"browser"``), or by nothing (``"none"``); see ``likavillkor.roster``. A
participant who is not watched now is *not monitored* (*inte övervakad*): never ``lost`` from that
alone, never replaced from that alone, and the system claims neither that equal terms hold nor that
they fail for her. The chair checks her at the roll call (H13). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collector.engine.reasons import clock
from collector.engine.records import Member
from collector.engine.types import Reason

AGENT = "agent"
BROWSER = "browser"
NONE = "none"


def watched(m: Member) -> bool:
    """Is anything watching ``m`` now? The agent always (silence means lost contact, H15); the
    companion page while it is open and visible; ``none`` never."""
    if m.monitoring == AGENT:
        return True
    return m.monitoring == BROWSER and m.companion_open


def not_monitored(m: Member) -> Reason:
    """Why she is not monitored, with the H13 advice, in Swedish and English."""
    advice_sv = "kontrollera vid uppropet att deltagaren ser, hör och hörs (H13)"
    advice_en = "check at the roll call that she sees, hears and is heard (H13)"
    if m.monitoring == BROWSER and m.unwatched_since is not None:
        at = clock(m.unwatched_since)
        sv = f"inte övervakad sedan {at}: följesidan är dold eller stängd – {advice_sv}"
        en = f"not monitored since {at}: the companion page is hidden or closed – {advice_en}"
    elif m.monitoring == BROWSER:
        sv = f"inte övervakad: följesidan är inte öppen – {advice_sv}"
        en = f"not monitored: the companion page is not open – {advice_en}"
    else:
        sv = f"inte övervakad (ingen agent och ingen följesida) – {advice_sv}"
        en = f"not monitored (no agent and no companion page) – {advice_en}"
    return Reason(code="not_monitored", sv=sv, en=en, rule="H13", member_id=m.member_id)
