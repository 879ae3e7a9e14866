"""The one polling helper: it returns when the state holds and fails saying what it waited for."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.support.waiting import holds_within, wait_until


def test_returns_the_time_the_state_first_held_and_treats_not_yet_errors_as_not_yet() -> None:
    calls = itertools.count()

    def ready() -> bool:
        n = next(calls)
        if n < 2:
            raise KeyError("participant not in the view yet")
        return n >= 4

    before = time.monotonic()
    held = wait_until(ready, timeout=30, what="ready", interval=0.001)
    assert before <= held <= time.monotonic() and next(calls) == 5


def test_a_timeout_names_what_it_waited_for_the_last_error_the_detail_and_the_log(tmp_path: Path) -> None:
    log = tmp_path / "collector.log"
    log.write_text("boot\n" + "x" * 5000 + "\nthe last line\n")

    def never() -> bool:
        raise KeyError("dev-a")

    with pytest.raises(AssertionError) as err:
        wait_until(never, timeout=0.05, what="dev-a lost", log=log, detail=lambda: {"verdict": "equal_terms"})
    text = str(err.value)
    assert "waiting for: dev-a lost" in text and "KeyError('dev-a')" in text
    assert "{'verdict': 'equal_terms'}" in text and text.endswith("the last line\n") and "boot" not in text


def test_other_errors_are_failures_at_once() -> None:
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        wait_until(broken, timeout=60, what="never")
    assert calls == [1]  # not retried until the deadline


def test_holds_within_answers_without_failing() -> None:
    assert holds_within(lambda: True, 0.01)
    assert not holds_within(lambda: False, 0.01)
