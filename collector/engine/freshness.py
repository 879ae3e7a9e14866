"""Is a message live, late or a duplicate? Duplicate memory and device-clock lag (pure, time passed in).

* duplicates: per device and boot, the highest ``seq`` and a bitmask of the ``dedupe_window`` seqs
  below it (bounded whatever the jump);
* late: an outbox replay is in order by ``seq`` but old — its device time lags the device's usual
  offset by more than ``late_after_s``; a steady new offset over a few messages is a reset device
  clock, not a replay;
* a last will (H15) is dated by neither: see :func:`will_fresh`.

Liveness itself is judged on the collector's clock only (``received_at``).
"""

from __future__ import annotations

from typing import NamedTuple

from collector.engine.decide import Connectivity
from collector.engine.records import DeviceTrack
from collector.ha.wills import will_superseded
from likavillkor import wire

MAX_BOOTS = 4  # boots per device remembered for duplicates
STABLE_LAGS = 3  # consecutive "late" messages with a steady clock offset = the device clock was reset


class FreshnessRules(NamedTuple):
    """The policy numbers freshness needs (``likavillkor/data/policy.toml`` ``[defaults]``)."""

    window: int  # dedupe_window: seqs remembered per boot
    late_after_s: float
    reconnect_grace_s: float
    #: the collector listens to several brokers (issue 17, ``[mqtt] urls``): a will can be left behind on a
    #: broker the agent has left, and is dated by the status seq (agents with a broker list set a fresh will per
    #: connection). With one broker this stays off: an agent from before the broker list kept one will per
    #: boot, the seq of its first connect, which a later "online" would wrongly "supersede" (a missed loss,
    #: tests/scenarios/last_will)
    several_brokers: bool = False

    @property
    def mask(self) -> int:
        return (1 << self.window) - 1


def freshness(
    dev: DeviceTrack, msg: wire.Message, received_at: float, rules: FreshnessRules, conn: Connectivity
) -> bool | None:
    """True: live; False: late (out of order or an outbox replay); None: a duplicate."""
    if type(msg) is wire.Status and msg.state is wire.DeviceState.OFFLINE and msg.reason == "will":
        return will_fresh(dev, msg, received_at, rules, conn)
    in_order = seen(dev, msg, rules)
    if in_order is None:
        return None
    return in_time(dev, msg, received_at, rules.late_after_s) and in_order


def seen(dev: DeviceTrack, msg: wire.Message, rules: FreshnessRules) -> bool | None:
    """Record ``msg.seq``: True in order, False out of order, None seen before (a duplicate)."""
    seq = msg.seq
    # status messages number their own series (from 2**52, agent.identity): kept apart, or the
    # first status would put every later sample of the boot "out of order", hence late
    key = msg.boot_id + "/status" if type(msg) is wire.Status else msg.boot_id
    rec = dev.boots.get(key)
    if rec is None:
        dev.boots[key] = [seq, 1]
        if len(dev.boots) > MAX_BOOTS:
            del dev.boots[next(iter(dev.boots))]
        return True
    if seq > rec[0]:
        # bounded whatever the jump: a seq far ahead (up to 2**53) starts a fresh window
        jump = seq - rec[0]
        rec[1] = ((rec[1] << jump) | 1) & rules.mask if jump < rules.window else 1
        rec[0] = seq
        return True
    d = rec[0] - seq
    if d < rules.window:
        bit = 1 << d
        if rec[1] & bit:
            return None
        rec[1] |= bit
    return False


def in_time(dev: DeviceTrack, msg: wire.Message, received_at: float, late_after_s: float) -> bool:
    """False for an outbox replay: its device time lags the device's usual offset."""
    lag = received_at - msg.ts
    base = dev.lag_base
    if base is None or lag <= base:
        dev.lag_base = lag
        dev.last_lag = None
        return True
    if lag - base <= late_after_s:
        dev.lag_base = base + 0.05 * (lag - base)
        dev.last_lag = None
        return True
    # Late by the clock. A steady new offset over a few messages whose device time advances is a
    # reset device clock, not a replay (a replay arrives faster than its device time advances).
    last = dev.last_lag
    if last is not None and abs(lag - last[0]) < 0.5 and msg.ts > last[2]:
        count = last[1] + 1
        if count >= STABLE_LAGS:
            dev.lag_base = lag
            dev.last_lag = None
            return True
        dev.last_lag = (lag, count, msg.ts)
    elif last is None or msg.ts > last[2]:
        dev.last_lag = (lag, 1, msg.ts)
    return False


def will_fresh(
    dev: DeviceTrack, msg: wire.Message, received_at: float, rules: FreshnessRules, conn: Connectivity
) -> bool:
    """A last will is composed when the agent connects and published by the broker when the
    connection drops (H15): its ``seq`` and ``ts`` are those of the connect, so neither the seq
    series nor the device-clock lag can date it, and every session of a boot carries the same
    will (the same ``msg_id``). The broker sends it the moment it notices the loss, so it is
    live on arrival, unless a newer boot of the device has been heard since (an agent restart
    whose old session's will the broker publishes late), or it comes within the reconnect grace
    after the collector regained its broker or its own gap: a restarted broker publishes the
    wills of the sessions it restored, and a (re)subscription delivers retained ones, none of
    them a loss seen now (silence after the grace still is; bench_false_alarms --faults).

    With several brokers (issue 17, ``rules.several_brokers``) a will can be left behind on a broker
    the agent has already left: once a status of the same boot newer than the will's connection has
    been heard (on any broker), the will is stale (:func:`collector.ha.wills.will_superseded`)."""
    grace = conn.grace_from
    if grace is not None and received_at < grace + rules.reconnect_grace_s:
        return False
    status = dev.boots.get(msg.boot_id + "/status")
    if rules.several_brokers and will_superseded(msg.seq, status[0] if status is not None else None):
        return False
    keys = list(dev.boots)
    own = [i for i, k in enumerate(keys) if k.split("/", 1)[0] == msg.boot_id]
    return not own or all(k.split("/", 1)[0] == msg.boot_id for k in keys[own[-1] + 1 :])
