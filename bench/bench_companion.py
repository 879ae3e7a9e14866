"""How fast the chair's view follows the iPad member's companion page (issue 11).

A real collector process and Mosquitto, Debian's Chromium (Playwright) with the member's companion
page. Per cycle: open the page -> the member `ok`; hide it (visibilitychange) -> `not_monitored`;
show it -> `ok`; the page stops answering with its socket open (the iPad's network cut) -> `lost`.
Each latency is from the browser action to the meeting view (`GET /api/meetings/{id}`, polled every
50 ms) showing the new state. Silence limit: the shipped policy's ``silence_lost_s`` unless
``--silence``.

    .venv/bin/python bench/bench_companion.py --cycles 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.roster import write_companion_roster
from tests.support.services import running_mosquitto
from tests.web.conftest import launch_chromium, make_collector
from tests.web.test_companion import CUT


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--silence", type=float, default=None, help="silence_lost_s (default: shipped policy)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp) / "mosquitto") as broker:
        c = make_collector(Path(tmp) / "c", broker)
        write_companion_roster(c.workdir / "roster.toml", time.time())
        policy = c.workdir / "policy.toml"
        policy.write_text("" if args.silence is None else f"[defaults]\nsilence_lost_s = {args.silence}\n")
        c.start()
        c.start_device("dev-b")
        try:
            url = next(x["url"] for x in c.api("/api/meetings/ks-test/selftest-links") if x["member_id"] == "anna")
            url = url.replace("/selftest/", "/companion/")

            def anna() -> dict:
                return c.participant("ks-test", "anna")

            def wait(state: str, t0: float, timeout: float = 60) -> float:
                while time.monotonic() - t0 < timeout:
                    if anna()["state"] == state:
                        return time.monotonic() - t0
                    time.sleep(0.05)
                raise SystemExit(f"timed out waiting for {state}")

            res: dict[str, list[float]] = {
                "open->ok": [],
                "hidden->not_monitored": [],
                "visible->ok": [],
                "cut->lost": [],
            }
            rtts: list[float] = []
            hide = (
                "s => { Object.defineProperty(document, 'visibilityState', {value: s, configurable: true});"
                " document.dispatchEvent(new Event('visibilitychange')); }"
            )
            with launch_chromium() as browser:
                for _ in range(args.cycles):
                    ctx = browser.new_context(viewport={"width": 507, "height": 1180}, bypass_csp=True)
                    page = ctx.new_page()
                    wait("not_monitored", time.monotonic())  # the previous page closed: not lost
                    t0 = time.monotonic()
                    page.goto(url)
                    res["open->ok"].append(wait("ok", t0))
                    time.sleep(3)
                    if anna()["rtt_ms"] is not None:
                        rtts.append(anna()["rtt_ms"])
                    t0 = time.monotonic()
                    page.evaluate(hide, "hidden")
                    res["hidden->not_monitored"].append(wait("not_monitored", t0))
                    t0 = time.monotonic()
                    page.evaluate(hide, "visible")
                    res["visible->ok"].append(wait("ok", t0))
                    time.sleep(1)
                    t0 = time.monotonic()
                    page.evaluate(CUT)
                    res["cut->lost"].append(wait("lost", t0))
                    ctx.close()
            print(f"cycles: {args.cycles}, silence_lost_s: {args.silence or 'shipped'}")
            for name, xs in res.items():
                xs = sorted(xs)
                p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
                print(f"{name:24s} p50 {statistics.median(xs):.2f} s  p95 {p95:.2f} s  max {xs[-1]:.2f} s")
            if rtts:
                print(f"companion rtt_ms on loopback: median {statistics.median(rtts):.1f} ms, max {max(rtts):.1f}")
        finally:
            for proc in c.devices.values():
                proc.kill()
            c.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
