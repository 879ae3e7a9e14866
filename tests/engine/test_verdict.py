"""One verdict (issue 13): the chair's banner is the verdict the engine stored, never a tick ahead.

Before issue 13 the view computed the verdict from fresh assessments at ``now`` while the stored
:class:`VerdictChanged` came from the recorded states: between two ticks the banner could show
*Ajournera* while the stored verdict (and its history, Influx, the dashboards) still said equal
terms. Driven here with an injected clock, views taken between the ticks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.engine import Engine, Verdict, VerdictChanged
from likavillkor.policy import PolicySet

from .conftest import START, Feeder, roster

Make = Callable[..., tuple[Engine, Feeder]]


def _stored(changes: list[Any], current: Verdict) -> Verdict:
    for c in changes:
        if isinstance(c, VerdictChanged):
            current = c.new
    return current


def test_banner_equals_the_last_stored_verdict_change_between_ticks(make: Make) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 1000, START + 10, rtt_ms=20.0)
    stored = _stored(feed.changes, Verdict.NOT_STARTED)
    assert stored is Verdict.EQUAL_TERMS
    seen: set[Verdict] = set()
    last_change: VerdictChanged | None = None
    t = START + 10
    while t < START + 40:
        # bo's sample arrives between two ticks; anna has gone silent since START + 9
        feed.changes = []
        feed.sample("bo-ipad", t + 0.5, rtt_ms=20.0)
        for at, tick in ((t + 0.5, False), (t + 0.9, False), (t + 1, True)):
            changes = feed.changes + engine.tick(at) if tick else feed.changes
            feed.changes = []
            stored = _stored(changes, stored)
            last_change = next((c for c in reversed(changes) if isinstance(c, VerdictChanged)), last_change)
            view = engine.view("ks-1", at)
            assert view is not None
            assert view.verdict is stored, f"banner {view.verdict} at +{at - START:g} s, stored {stored}"
            seen.add(view.verdict)
        t += 1
    # the test saw the loss (H15) happen: equal terms, then adjourn, each as stored
    assert seen == {Verdict.EQUAL_TERMS, Verdict.ADJOURN}
    assert last_change is not None and last_change.new is Verdict.ADJOURN
    view = engine.view("ks-1", START + 40)
    assert view is not None and [r.code for r in view.reasons] == [r.code for r in last_change.reasons]


def test_a_restored_engine_shows_its_verdict_with_reasons(make: Make, policies: PolicySet) -> None:
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 1000, START + 10, rtt_ms=20.0)
    again = Engine(roster("anna"), policies, now=START + 10)
    again.restore(engine.snapshot(), START + 10)
    view = again.view("ks-1", START + 10)
    assert view is not None and view.verdict is Verdict.EQUAL_TERMS and view.reasons
    changes = again.tick(START + 11)
    view = again.view("ks-1", START + 11)
    assert view is not None and view.verdict is _stored(changes, Verdict.EQUAL_TERMS)
