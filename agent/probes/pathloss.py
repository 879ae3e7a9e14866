"""The path probe's sequential loss test (issue 11): is the loss on the path tolerable or poor?

Pure: each probe's fate and its send time are passed in (:meth:`agent.probes.pathstats.PathStats.advance`
feeds them in send order). docs/probes/path.md has the figures.
"""

from __future__ import annotations

import math


class LossDetector:
    """A two-sided CUSUM (Page's test) over the per-probe outcomes, in send order: is the loss
    tolerable (``p0``) or poor (``p1``)? Pure: outcomes and their send times are passed in.

    Each probe adds its log-likelihood ratio ln(p1/p0) when lost, ln((1−p1)/(1−p0)) when answered.
    Before an alarm, S = max(0, S + llr) and S ≥ ``h_raise`` raises it; during one, D = max(0, D − llr)
    and D ≥ ``h_clear`` ends it. ``changed_at`` is the send time where the concluding excursion began
    (the estimated change point): the loss share is then reported over the probes since, so 15 s of
    old history neither delays nor dilutes the news (issue 11). An alarm segment holds at least
    (−ln((1−p1)/(1−p0)) + h/n) / (ln(p1/p0) − ln((1−p1)/(1−p0))) lost probes: 11 % for 5 % / 20 %, above
    Teams' 10 % poor-audio limit by construction.
    """

    __slots__ = (
        "changed_at",
        "d",
        "d_from",
        "h_clear",
        "h_raise",
        "last_lost",
        "lost_llr",
        "ok_llr",
        "raised",
        "s",
        "s_from",
    )

    def __init__(self, p0: float = 0.05, p1: float = 0.20, h_raise: float = 14.0, h_clear: float = 10.0) -> None:
        if not 0 < p0 < p1 < 1:
            raise ValueError(f"loss test needs 0 < p0 < p1 < 1 (p0={p0}, p1={p1})")
        self.lost_llr = math.log(p1 / p0)
        self.ok_llr = math.log((1 - p1) / (1 - p0))
        self.h_raise = h_raise
        self.h_clear = h_clear
        self.s = 0.0
        self.d = 0.0
        self.s_from = 0.0
        self.d_from = 0.0
        self.raised = False
        self.changed_at: float | None = None
        self.last_lost = float("-inf")  # send time of the last lost probe

    @property
    def active(self) -> bool:
        """Evidence of loss is being weighed (S > 0) or an alarm stands: probe fast."""
        return self.raised or self.s > 0.0

    def observe(self, lost: bool, t: float) -> bool:
        """One probe's fate (sent at ``t``); True when the conclusion changed."""
        x = self.lost_llr if lost else self.ok_llr
        if lost:
            self.last_lost = t
        if not self.raised:
            if self.s == 0.0:
                self.s_from = t
            self.s = max(0.0, self.s + x)
            if self.s >= self.h_raise:
                self.raised, self.changed_at, self.s, self.d = True, self.s_from, 0.0, 0.0
                return True
            return False
        if self.d == 0.0:
            self.d_from = t
        self.d = max(0.0, self.d - x)
        if self.d >= self.h_clear:
            # the loss is over: the share starts after its last lost probe, not with a few of them
            self.raised, self.s, self.d = False, 0.0, 0.0
            self.changed_at = max(self.d_from, math.nextafter(self.last_lost, math.inf))
            return True
        return False
