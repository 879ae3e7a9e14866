"""A member's device for the web tests: publishes one wire.Sample every ``--period`` seconds (QoS 1)
with an ``offline`` last will, as the agent's monitor does. Its own process, so a test can SIGKILL it."""

from __future__ import annotations

import argparse
import time
import uuid

import paho.mqtt.client as paho

from likavillkor import topics, wire


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--meeting")
    p.add_argument("--period", type=float, default=0.2)
    p.add_argument("--rtt-ms", type=float, default=18.0)
    args = p.parse_args()
    boot = uuid.uuid4().hex[:12]
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"web-{args.device}-{boot}", protocol=paho.MQTTv5)
    will = wire.Status(
        device_id=args.device, boot_id=boot, seq=0, ts=time.time(), state=wire.DeviceState.OFFLINE, reason="will"
    )
    c.will_set(topics.device_topic(args.device, "status"), wire.encode(will), qos=1, retain=False)
    c.connect(args.host, args.port, keepalive=5)
    c.loop_start()
    seq = 1
    while True:
        s = wire.Sample(
            device_id=args.device,
            boot_id=boot,
            seq=seq,
            ts=time.time(),
            meeting_id=args.meeting,
            link=wire.LinkType.WIFI,
            rtt_ms=args.rtt_ms,
            jitter_ms=2.0,
            loss_percent=0.0,
            mos=4.3,
            battery_percent=80.0,
            battery_charging=True,
            tx_kbps=900.0,
            rx_kbps=1500.0,
        )
        c.publish(topics.device_topic(args.device, "sample"), wire.encode(s), qos=1)
        seq += 1
        time.sleep(args.period)


if __name__ == "__main__":
    main()
