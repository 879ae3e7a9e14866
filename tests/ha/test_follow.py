"""Issue 17, the collector's pure parts: what a standby takes from the leader (collector/ha/follow.py),
a will left behind on the other broker (the engine's freshness with collector/ha/wills.py), and the
``[ha]`` / ``[mqtt] urls`` / ``topic_root`` configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector import config
from collector.engine.decide import Connectivity
from collector.engine.freshness import FreshnessRules, freshness
from collector.engine.records import DeviceTrack
from collector.engine.types import Action, ActionKind, Incident
from collector.ha.follow import OpenKey, RecentBuffer, action_of, adoptions, closed_meanwhile, new_actions
from likavillkor import wire
from likavillkor.config import ConfigError

RULES = FreshnessRules(window=64, late_after_s=5.0, reconnect_grace_s=3.0, several_brokers=True)


def _row(i: int, kind: str = "adjourn", meeting: str = "ks-1", **extra: object) -> dict[str, object]:
    return {"id": i, "meeting_id": meeting, "kind": kind, "at": 100.0 + i, "by": "ordf", "member_id": None,
            "item": None, "note": None, "substitute_id": None, **extra}  # fmt: skip


def test_new_actions_are_the_ones_the_engine_lacks_in_order() -> None:
    have = action_of(_row(1))
    rows = [_row(1), _row(2, "resume"), _row(3, "vote_start", meeting="other"), _row(4, "substitute",
            member_id="m1", substitute_id="e1")]  # fmt: skip
    got = new_actions(rows, {"ks-1": [have]})
    assert [a.kind for a in got] == [ActionKind.RESUME, ActionKind.SUBSTITUTE]  # other: a meeting not here
    assert got[1].substitute_id == "e1"  # the ersättare comes with it (H16; actions.substitute_id)
    assert new_actions(rows[:2], {"ks-1": [have, *got]}) == []  # applied once, never twice


def test_adoption_takes_the_leaders_id_for_the_same_open_condition() -> None:
    key = OpenKey("ks-1", "m1", "mobile_data")
    stored = [
        {"id": "ks-1:m1:mobile_data:1000", "meeting_id": "ks-1", "member_id": "m1", "kind": "mobile_data",
         "started_at": 1.0},
        {"id": "ks-1:m2:hotspot:1000", "meeting_id": "ks-1", "member_id": "m2", "kind": "hotspot", "started_at": 1.0},
    ]  # fmt: skip
    got = adoptions(stored, {key: "ks-1:m1:mobile_data:1001"})
    assert [(a.key, a.incident_id, a.started_at) for a in got] == [(key, "ks-1:m1:mobile_data:1000", 1.0)]
    assert adoptions(stored, {key: "ks-1:m1:mobile_data:1000"}) == []  # the same id: nothing to do


def test_recent_buffer_is_bounded_and_counts_what_it_drops() -> None:
    buf = RecentBuffer(3)
    for i in range(5):
        buf.add("sample", i, None)
    assert buf.dropped == 2 and len(buf) == 3
    assert [row for _op, row, _p in buf.take()] == [2, 3, 4] and len(buf) == 0


def _status(seq: int, state: wire.DeviceState, reason: str | None = None) -> wire.Status:
    return wire.Status(device_id="d1", boot_id="b1", seq=seq, ts=1.0, state=state, reason=reason)


def test_a_will_left_behind_on_the_other_broker_is_no_loss() -> None:
    """The agent connected to broker 1 (will seq 10, online 11), left it for broker 2 (will 12,
    online 13). Broker 1 then publishes the will of seq 10: stale. The will of the connection in
    use (12) is a loss."""
    dev, conn = DeviceTrack(), Connectivity(grace_from=0.0)
    online = wire.DeviceState.ONLINE
    assert freshness(dev, _status(11, online), 100.0, RULES, conn) is True
    assert freshness(dev, _status(13, online), 101.0, RULES, conn) is True
    assert freshness(dev, _status(10, wire.DeviceState.OFFLINE, "will"), 102.0, RULES, conn) is False
    assert freshness(dev, _status(12, wire.DeviceState.OFFLINE, "will"), 103.0, RULES, conn) is True


def test_with_one_broker_a_boots_one_will_stays_a_loss_after_a_reconnect() -> None:
    """One broker (no [mqtt] urls list): an agent from before the broker list set one will per boot (the seq
    of its first connect, 10). After a reconnect (online 13) that same will is her loss again, never
    "superseded" (tests/scenarios/last_will: a missed loss found in the merge of issue 17)."""
    dev, conn = DeviceTrack(), Connectivity(grace_from=0.0)
    one_broker = RULES._replace(several_brokers=False)
    online = wire.DeviceState.ONLINE
    assert freshness(dev, _status(11, online), 100.0, one_broker, conn) is True
    assert freshness(dev, _status(13, online), 101.0, one_broker, conn) is True
    assert freshness(dev, _status(10, wire.DeviceState.OFFLINE, "will"), 102.0, one_broker, conn) is True


def _load(tmp_path: Path, text: str) -> config.CollectorConfig:
    path = tmp_path / "collector.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path, environ={})


def test_config_brokers_topic_root_and_ha(tmp_path: Path) -> None:
    c = _load(tmp_path, '[mqtt]\nurls = ["mqtt://a:1883", "mqtt://b:1883"]\ntopic_root = "lv/solna"\n')
    assert c.mqtt.broker_urls == ["mqtt://a:1883", "mqtt://b:1883"] and c.mqtt.topic_root == "lv/solna"
    assert _load(tmp_path, '[mqtt]\nurl = "mqtt://a:1883"\n').mqtt.broker_urls == ["mqtt://a:1883"]
    assert _load(tmp_path, "").mqtt.broker_urls == [] and not _load(tmp_path, "").ha.enabled  # the default
    c = _load(tmp_path, '[mqtt]\nurl = "mqtt://a:1"\n[store]\nurl = "postgresql+psycopg://u@h/db"\n'
                        '[ha]\nenabled = true\nholder = "node-a"\nlease_s = 6\nrenew_every_s = 2\n')  # fmt: skip
    assert c.ha.enabled and c.ha.holder == "node-a"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[mqtt]\nurl = "mqtt://a:1"\nurls = ["mqtt://b:1"]\n', "not both"),
        ('[mqtt]\nurls = ["mqtt://a:1", "mqtt://a:1"]\n', "twice"),
        ('[mqtt]\nurls = ["http://a:1"]\n', "mqtt://"),
        ('[mqtt]\ntopic_root = "lv/#"\n', "topic root"),
        ('[mqtt]\nurl = "mqtt://a:1"\n[ha]\nenabled = true\n', "line 4: [ha] enabled needs [store] url on PostgreSQL"),
        (
            '[mqtt]\nurl = "mqtt://a:1"\n[store]\nurl = "postgresql+psycopg://u@h/db"\n[ha]\nenabled = true\n'
            "lease_s = 2\nrenew_every_s = 2\n",
            "half",
        ),
        ("[ha]\nleader = true\n", "unknown key 'ha.leader'"),
    ],
)
def test_config_refused_with_the_reason(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        _load(tmp_path, text)


def test_action_of_a_row_is_the_engines_action() -> None:
    a = action_of(_row(7, "excuse", member_id="m1", note="jäv (H18)"))
    assert a == Action(meeting_id="ks-1", kind=ActionKind.EXCUSE, at=107.0, by="ordf", member_id="m1", note="jäv (H18)")


def _incident(id_: str, started: float, ended: float | None) -> Incident:
    return Incident(id=id_, meeting_id="ks-1", body="kommunstyrelsen", member_id="m1", device_id="d1",
                    kind="mobile_data", started_at=started, ended_at=ended, peak_severity="failure",
                    adjourned=False, adjourned_s=0.0, substitute_called=False, metrics={})  # fmt: skip


def test_an_incident_closed_while_no_one_wrote_is_stored_closed_under_the_leaders_id() -> None:
    """The old leader stored it open and died; it closed on the standby before the takeover."""
    key = OpenKey("ks-1", "m1", "mobile_data")
    stored = [{"id": "ks-1:m1:mobile_data:1000", "meeting_id": "ks-1", "member_id": "m1", "kind": "mobile_data",
               "started_at": 1.0}]  # fmt: skip
    mine = _incident("ks-1:m1:mobile_data:1001", 1.001, 9.0)
    (got,) = closed_meanwhile(stored, set(), {key: mine})
    assert (got.id, got.started_at, got.ended_at) == ("ks-1:m1:mobile_data:1000", 1.0, 9.0)
    assert closed_meanwhile(stored, {"ks-1:m1:mobile_data:1000"}, {key: mine}) == []  # still open here
    assert closed_meanwhile(stored, set(), {}) == []  # not seen closing here: left as stored
    earlier = _incident("x", 0.1, 0.5)  # an older stretch of the same condition, closed before this one began
    assert closed_meanwhile(stored, set(), {key: earlier}) == []
