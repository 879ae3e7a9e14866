"""The media-path result is one typed message, PathReport (issue 13): the engine reads only it;
older dict shapes are decoded at the edge for one version (docs/wire.md)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from collector.engine import media
from likavillkor.media.findings import Verdict
from likavillkor.media.report import Direction, PathReport


def test_a_typed_report_is_read_as_is() -> None:
    report = PathReport(direction=Direction.DOWN, device_id="d", verdict=Verdict.DEGRADED, reason="jerky")
    assert media.decode(report) is report
    assert media.level(report) == 1


def test_the_media_peers_json_form_decodes_to_the_same_report() -> None:
    report = PathReport(
        direction=Direction.UP,
        device_id="d",
        meeting_id="ks",
        connected=True,
        verdict=Verdict.POOR,
        reason="no audio",
        session_id="s1",
        started_at=12.5,
    )
    back = media.decode(msgspec.to_builtins(report))
    assert back == report
    assert media.level(back) == 2


@pytest.mark.parametrize(
    ("old", "verdict", "level"),
    [
        ({"ok": True}, Verdict.GOOD, 0),
        ({"ok": False, "detail": "no RTP audio"}, Verdict.POOR, 2),
        ({"status": "pass"}, Verdict.GOOD, 0),
        ({"status": "fail"}, Verdict.POOR, 2),
        ({"status": "warn"}, Verdict.DEGRADED, 1),
        ({"overall": "error"}, Verdict.FAILED, 2),
        ({"verdict": "degraded"}, Verdict.DEGRADED, 1),  # a PathReport verdict without a direction
        ({"ok": True, "verdict": "poor", "direction": "down"}, Verdict.GOOD, 0),  # "ok" decided first, as before
    ],
)
def test_older_shapes_decode_into_the_typed_report(old: dict[str, Any], verdict: Verdict, level: int) -> None:
    report = media.decode(old)
    assert report.verdict is verdict and media.level(report) == level
    assert report.direction is (Direction.DOWN if old.get("direction") == "down" else Direction.UP)
    if "detail" in old:
        assert report.reason == old["detail"]


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"direction": "up", "something": "else"},
        {"verdict": "splendid"},
        {"verdict": "good", "direction": "up", "frames": "many"},
        ["ok"],
        "good",
    ],
)
def test_a_result_that_says_nothing_is_a_clear_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="media path result"):
        media.decode(bad)
