"""The secretary edits the roster while the collector runs: the change is picked up; a broken
file keeps the previous roster in force and is reported in /api/health."""

from __future__ import annotations

import time

from tests.collector.conftest import RuntimeFactory
from tests.support.roster import write_roster
from tests.support.waiting import wait_until


def test_roster_edits_are_picked_up_and_broken_ones_refused(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(["dev-a"], name="edit")
    assert rt.meeting_ids() == ["ks-test"]
    path = rt.config.roster_path
    time.sleep(0.01)
    write_roster(path, ["dev-a", "dev-new"], meeting_id="ks-extra")
    wait_until(lambda: rt.meeting_ids() == ["ks-extra"], timeout=30, what="rt.meeting_ids() == ['ks-extra']")
    assert rt.index.known("dev-new")
    path.write_text(path.read_text() + '\n[[meeting]]\nid = "broken"\nbody = "socialnämndens individutskott"\n')
    wait_until(lambda: rt.health()["roster"]["error"] != "", timeout=30, what="rt.health()['roster']['error'] != ''")
    assert "line" in rt.health()["roster"]["error"]
    assert rt.meeting_ids() == ["ks-extra"]  # the previous roster stays in force
