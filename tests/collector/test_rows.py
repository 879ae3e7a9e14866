"""collector/runtime/rows.py: the pure mapping from engine changes to typed store rows and InfluxDB
points. Changes come from a real engine run (a member lost, H15) or are built by hand where the
engine needs minutes of input (an incident closed without an end time)."""

from __future__ import annotations

import msgspec
import pytest

from collector.engine import (
    Action,
    ActionKind,
    ActionRecorded,
    Engine,
    Incident,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    VerdictChanged,
)
from collector.runtime import rows
from collector.store import schema
from likavillkor import wire
from likavillkor.policy import load_policy
from tests.engine.conftest import START, Feeder, roster

BODIES = {"ks-1": "kommunstyrelsen"}


def body_of(meeting_id: str) -> str:
    return BODIES.get(meeting_id, "")


def _incident(**kw: object) -> Incident:
    base: dict[str, object] = dict(
        id="ks-1:anna:connection_lost:1",
        meeting_id="ks-1",
        body="kommunstyrelsen",
        member_id="anna",
        device_id="anna-ipad",
        kind="connection_lost",
        started_at=START + 10,
        ended_at=None,
        peak_severity="failure",
        adjourned=False,
        adjourned_s=0.0,
        substitute_called=False,
        metrics={"rtt_ms_max": 40.0},
    )
    base.update(kw)
    return msgspec.convert(base, Incident)


def _lost_meeting_changes() -> list[object]:
    """Two members attend, one goes silent past the lost limit: state, verdict and incident changes."""
    engine = Engine(roster("anna", "bo"), load_policy(), now=START - 60)
    feed = Feeder(engine)
    feed.changes.extend(engine.broker(True, START - 60))
    feed.run(["anna-ipad", "bo-ipad"], START - 30, START + 30)
    feed.run(["bo-ipad"], START + 30, START + 90)
    return feed.changes


def test_engine_changes_become_rows_and_points_with_the_meetings_body() -> None:
    changes = _lost_meeting_changes()
    records = rows.records_of(changes, body_of=body_of, now=START + 90)
    assert len(records) == len(changes)  # every change of these kinds is recorded
    lost = [r for r in records if isinstance(r.row, rows.StateChangeRow) and r.row.new == "lost"]
    assert [r.row.as_dict()["member_id"] for r in lost] == ["anna"]
    assert lost[0].row.as_dict()["reason"]["code"] == "no_contact"  # the Reason as builtins (JSON column)
    assert lost[0].point is not None and lost[0].point.startswith("participant_state,")
    assert "body=kommunstyrelsen" in lost[0].point and "state=lost" in lost[0].point
    adjourn = [r for r in records if isinstance(r.row, rows.VerdictRow) and r.row.new == "adjourn"]
    assert adjourn and adjourn[0].point is not None and "adjourned=1i" in adjourn[0].point
    opened = [r for r in records if isinstance(r.row, rows.IncidentRow)]
    assert opened and opened[0].row.as_dict()["kind"] == "connection_lost" and opened[0].point is not None


def test_verdict_point_of_a_meeting_on_no_roster_has_no_body_tag() -> None:
    ch = VerdictChanged(at=START, meeting_id="gone", old="equal_terms", new="at_risk", reasons=[])  # type: ignore[arg-type]
    record = rows.record_of(ch, body_of=body_of, now=START)
    assert record is not None and record.point is not None
    assert "body=" not in record.point and "adjourned=0i" in record.point
    assert record.row.as_dict() == {
        "at": START,
        "meeting_id": "gone",
        "old": "equal_terms",
        "new": "at_risk",
        "reasons": [],
    }


def test_incident_update_is_stored_without_a_point_and_a_close_without_end_is_dated_now() -> None:
    updated = rows.record_of(IncidentUpdated(incident=_incident()), body_of=body_of, now=START + 50)
    assert updated is not None and updated.point is None and isinstance(updated.row, rows.IncidentRow)
    closed = rows.record_of(IncidentClosed(incident=_incident()), body_of=body_of, now=START + 50)
    assert closed is not None and closed.point is not None
    assert "event=closed" in closed.point and closed.point.endswith(f" {int((START + 50) * 1e9)}")
    opened = rows.record_of(IncidentOpened(incident=_incident()), body_of=body_of, now=START + 50)
    assert opened is not None and opened.point is not None
    assert opened.point.endswith(f" {int((START + 10) * 1e9)}")  # opened: at its start, not now


def test_action_row_has_the_actions_table_columns_and_no_point() -> None:
    a = Action(meeting_id="ks-1", kind=ActionKind.ADJOURN, at=START, by="ordforande", note="paus")
    record = rows.record_of(ActionRecorded(action=a), body_of=body_of, now=START)
    assert record is not None and record.point is None
    assert record.row.as_dict() == {
        "meeting_id": "ks-1",
        "kind": "adjourn",
        "at": START,
        "by": "ordforande",
        "member_id": None,
        "item": None,
        "note": "paus",
        "substitute_id": None,  # the ersättare of a substitute action (H16; issue 17: a standby applies it)
    }


def test_anything_else_is_not_recorded() -> None:
    assert rows.record_of(object(), body_of=body_of, now=START) is None
    assert rows.records_of([object()], body_of=body_of, now=START) == []


@pytest.mark.parametrize(
    ("row_type", "table", "by_store"),
    [
        (rows.StateChangeRow, schema.state_changes, set()),
        (rows.VerdictRow, schema.verdicts, set()),
        (rows.IncidentRow, schema.incidents, set()),
        (rows.ActionRow, schema.actions, set()),
        (rows.SelftestRow, schema.selftests, set()),
        (rows.MediapathRow, schema.mediapath, set()),
        (rows.DeviceRow, schema.devices, {"first_seen"}),  # the store's upsert keeps the first one
    ],
)
def test_every_row_type_fills_columns_of_its_table(row_type: type[rows.Row], table: object, by_store: set[str]) -> None:
    """A renamed column fails here, not as a store write error at run time."""
    columns = {c.name for c in table.columns}  # type: ignore[attr-defined]
    fields = set(row_type.__struct_fields__)
    assert fields <= columns, fields - columns
    required = {c.name for c in table.columns if not c.nullable and not c.primary_key}  # type: ignore[attr-defined]
    assert required - by_store <= fields, required - by_store - fields


def test_current_state_points_of_a_view() -> None:
    engine = Engine(roster("anna", "bo"), load_policy(), now=START - 60)
    feed = Feeder(engine)
    engine.broker(True, START - 60)
    feed.run(["anna-ipad", "bo-ipad"], START - 30, START + 30)
    feed.run(["bo-ipad"], START + 30, START + 90)
    view = engine.view("ks-1", START + 90)
    assert view is not None
    points = rows.current_state_points(view, START + 90)
    assert points[0].startswith("meeting_verdict,") and len(points) == 3
    anna = next(p for p in points if "member_id=anna" in p)
    assert "state=lost" in anna and "lost_for_s=" in anna and "substitute_in_s=" in anna


def test_selftest_row_of_a_message() -> None:
    msg = msgspec.convert(
        {
            "device_id": "anna-ipad",
            "boot_id": "b",
            "seq": 1,
            "ts": START,
            "msg_id": "m-1",
            "started_at": START,
            "duration_s": 3.0,
            "overall": "pass",
            "checks": [],
        },
        wire.SelftestResult,
    )
    row = rows.selftest_row(msg, member_id="anna", received_at=START + 1)
    assert row.as_dict()["overall"] == "pass" and row.member_id == "anna" and row.checks == []
