"""collector/runtime/housekeeping.py: the schedule (pure, time passed in) and the loop's handling of
a failing job (logged once per distinct failure, the other jobs go on)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from collector.runtime import housekeeping


def test_schedule_runs_each_job_on_its_own_interval_from_its_first_offset() -> None:
    s = housekeeping.Schedule({"snapshot": 2.0, "purge": 3600.0, "roster": 1.0}, {"purge": 5.0, "roster": 1.0}, 100.0)
    assert s.due(100.0) == ["snapshot"]
    assert s.due(100.5) == []
    assert sorted(s.due(101.0)) == ["roster"]
    assert sorted(s.due(102.0)) == ["roster", "snapshot"]
    assert sorted(s.due(105.0)) == ["purge", "roster", "snapshot"]
    assert s.due(105.0) == []  # each moved on by its interval
    assert sorted(s.due(4000.0)) == ["purge", "roster", "snapshot"]  # a long pause: once each, no catch-up burst


def test_a_failing_job_is_logged_once_and_the_others_keep_running(caplog: pytest.LogCaptureFixture) -> None:
    runs = {"good": 0, "bad": 0}

    def good() -> None:
        runs["good"] += 1

    def bad() -> None:
        runs["bad"] += 1
        raise OSError("disk full")

    stop = threading.Event()
    schedule = housekeeping.Schedule({"good": 0.0, "bad": 0.0}, {}, time.monotonic())
    t = threading.Thread(target=housekeeping.run_loop, args=(stop, {"good": good, "bad": bad}, schedule), daemon=True)
    with caplog.at_level(logging.ERROR, logger="collector.runtime.housekeeping"):
        t.start()
        deadline = time.monotonic() + 60
        while min(runs.values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        t.join(10)
    assert not t.is_alive() and runs["good"] >= 3 and runs["bad"] >= 3
    failures = [r for r in caplog.records if "housekeeping bad failed" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
