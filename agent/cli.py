"""``likavillkor-agent``: the member's device agent (the only place logging is configured).

    likavillkor-agent selftest [--json] [--lang sv|en] [--config F] [--meeting ID] [--end ISO]
    likavillkor-agent monitor  [--config F] [--meeting ID --start ISO --end ISO]
    likavillkor-agent run      [--config F] [--meeting ID --start ISO --end ISO]
    likavillkor-agent schema   # JSON Schema of `selftest --json` (docs/selftest-result.schema.json)

Exit status of ``selftest``: 0 every check passed, 1 warnings only, 2 a failure that breaks equal
terms (H1, H9), 3 the test could not run (bad configuration: the message names the key and line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import GAP_TEXT, AgentConfig, Gap, collector_credentials, load_agent_config, measurement_gaps
from likavillkor import __version__
from likavillkor.config import ConfigError

if TYPE_CHECKING:
    from agent.scheduler import Meeting
    from agent.selftest import SelftestDocument

log = logging.getLogger("agent")

EXIT_CONFIG = 3
SUBPROCESS_GRACE_S = 20.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="likavillkor-agent",
        description="Likavillkor device agent: self-test before a meeting (H8, H9) and monitoring during it.",
    )
    p.add_argument("--version", action="version", version=f"likavillkor-agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, default=None, help="TOML file (deploy/agent.example.toml)")
        sp.add_argument("--lang", choices=("sv", "en"), default=None, help="language of the texts (default sv)")
        sp.add_argument("-v", "--verbose", action="count", default=0, help="more log lines on stderr")

    def meeting(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--meeting", default=None, help="meeting id")
        sp.add_argument("--start", default=None, help="meeting start, ISO 8601 or epoch seconds")
        sp.add_argument("--end", default=None, help="meeting end, ISO 8601 or epoch seconds")

    st = sub.add_parser("selftest", help="test this device before a meeting (H8, H9)")
    common(st)
    meeting(st)
    st.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    st.add_argument("--no-publish", action="store_true", help="do not send the result to the broker")
    st.add_argument("--in-session", action="store_true", help="the meeting runs: no speed test, no camera grab")
    for name, text in (
        ("monitor", "publish a sample every sample_period_s"),
        ("run", "monitor, and self-test automatically 15 min before each meeting (H8)"),
    ):
        sp = sub.add_parser(name, help=text)
        common(sp)
        meeting(sp)
    sub.add_parser("schema", help="print the JSON Schema of `selftest --json`")
    return p


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _config_error(exc: Exception, lang: str) -> int:
    from agent.i18n import t

    print(f"{t('config_error', lang)}: {exc}", file=sys.stderr)
    return EXIT_CONFIG


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from agent.selftest import json_schema

        sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        return 0
    _setup_logging(args.verbose)
    lang = args.lang or "sv"
    try:
        cfg = load_agent_config(args.config)
        meetings = _cli_meetings(args)
    except (ConfigError, ValueError) as exc:
        return _config_error(exc, lang)
    lang = args.lang or cfg.lang
    try:
        _trust_collector_ca(cfg)
    except (OSError, ValueError) as exc:
        return _config_error(ConfigError(f"collector.ca_file: {exc}", key="collector.ca_file"), lang)
    if args.command == "selftest":
        return asyncio.run(_selftest(cfg, args, lang))
    if not cfg.mqtt.broker_urls:
        no_broker = ConfigError(
            'no broker: set mqtt.url ([mqtt] url = "mqtt://host") or [mqtt] brokers', key="mqtt.url"
        )
        return _config_error(no_broker, lang)
    gaps = measurement_gaps(cfg)
    if args.command == "run" and Gap.NO_COLLECTOR in gaps and not meetings:
        # `run` exists to self-test before each meeting (H8): without the collector it knows none
        no_collector = ConfigError(
            f'{GAP_TEXT[Gap.NO_COLLECTOR]}; set [collector] url = "https://host:8860" (broker-credentials writes it)',
            key="collector.url",
        )
        return _config_error(no_collector, lang)
    for gap in gaps:
        log.error("CANNOT MEASURE (%s): %s", gap.value, GAP_TEXT[gap])
    return asyncio.run(_serve(cfg, args, meetings, scheduled=args.command == "run"))


def _trust_collector_ca(cfg: AgentConfig) -> None:
    """``[collector] ca_file``: the system's CA bundle plus that file, in the agent's state directory,
    exported as ``SSL_CERT_FILE`` so that every HTTPS call (meetings, speed test, media peer, the
    self-test subprocess) trusts the municipality's internal CA (docs/tls.md)."""
    import os

    from agent.config import trust_bundle

    if not cfg.collector.ca_file:
        return
    bundle = trust_bundle(Path(cfg.collector.ca_file).expanduser(), cfg.data_path / "ca-bundle.pem")
    os.environ["SSL_CERT_FILE"] = str(bundle)
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)


def _cli_meetings(args: argparse.Namespace) -> list[Meeting]:
    """``--meeting ID --start ISO --end ISO``; raises ValueError with a message for the member."""
    from agent.scheduler import Meeting, parse_time

    try:
        start = parse_time(args.start) if args.start else None
        end = parse_time(args.end) if args.end else None
    except ValueError as exc:
        raise ValueError(f"--start/--end: not a time ({exc})") from None
    args.end_epoch = end
    if args.command == "selftest" or not (args.meeting or start or end):
        return []
    if not (args.meeting and start is not None and end is not None):
        raise ValueError("--meeting, --start and --end go together")
    return [Meeting(id=args.meeting, start=start, end=end)]


# -- selftest ------------------------------------------------------------------------------------
async def _selftest(cfg: AgentConfig, args: argparse.Namespace, lang: str) -> int:
    from agent.selftest import render, run_selftest

    device_id = cfg.resolved_device_id
    end = args.end_epoch

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    doc = await run_selftest(
        cfg,
        device_id,
        lang=lang,
        meeting_id=args.meeting,
        meeting_end=end,
        in_session=args.in_session,
        progress=progress,
    )
    if args.json:
        import msgspec

        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
    else:
        sys.stdout.write("\n" + render(doc))
    if cfg.mqtt.broker_urls and not args.no_publish:
        try:
            await _publish_selftest(cfg, doc, lang)
        except (OSError, sqlite3.Error, ValueError) as exc:  # the member still has the result on screen
            log.warning("could not save the result for sending: %s", exc)
    sys.stdout.flush()
    return doc.exit_code


#: how long a one-shot self-test lets a running agent send its result before connecting itself
HANDOFF_S = 2.0


async def _publish_selftest(
    cfg: AgentConfig, doc: SelftestDocument, lang: str, flush_s: float = 5.0, handoff_s: float = HANDOFF_S
) -> None:
    """Send the result (QoS 1, via the outbox). Undelivered results stay on disk for the next run.

    The broker binds the client id to the device's user name (use_username_as_clientid,
    docs/security.md), so a second connection of this device would take the running agent's over.
    The result is therefore put into the outbox the running agent shares (same ``data_dir``): when
    that agent sends it within ``handoff_s``, nothing connects; only without a running agent does
    this command connect itself."""
    from agent.i18n import t
    from agent.identity import Identity
    from agent.mqtt import AgentMqtt
    from agent.outbox import Outbox
    from agent.selftest import to_wire
    from likavillkor import topics, wire

    identity = Identity(cfg.resolved_device_id)
    outbox = Outbox(
        cfg.data_path / "outbox.sqlite", max_messages=cfg.outbox.max_messages, max_bytes=cfg.outbox.max_bytes
    )
    try:
        row = outbox.put(
            topics.device_topic(identity.device_id, "selftest", cfg.mqtt.topic_root),
            wire.encode(to_wire(doc, identity)),
        )
        deadline = time.monotonic() + handoff_s
        while outbox.holds(row) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if not outbox.holds(row):  # the running agent sent it
            print(t("sent", lang), file=sys.stderr)
            return
        link = AgentMqtt(cfg.mqtt, identity, outbox, announce=False)
        try:
            await link.start()
            sent = await link.flush(flush_s)
            print(t("sent" if sent else "queued", lang), file=sys.stderr)
        finally:
            await link.stop()
    finally:
        outbox.close()


# -- monitor / run ---------------------------------------------------------------------------------
async def _serve(cfg: AgentConfig, args: argparse.Namespace, meetings: list[Meeting], *, scheduled: bool) -> int:
    from agent.identity import Identity
    from agent.monitor import Monitor
    from agent.mqtt import AgentMqtt
    from agent.outbox import Outbox
    from agent.scheduler import Scheduler

    identity = Identity(cfg.resolved_device_id)
    try:
        outbox = Outbox(
            cfg.data_path / "outbox.sqlite", max_messages=cfg.outbox.max_messages, max_bytes=cfg.outbox.max_bytes
        )
    except (OSError, sqlite3.Error) as exc:
        return _config_error(ConfigError(f"cannot open the outbox in {cfg.data_path}: {exc}", key="data_dir"), cfg.lang)
    link = AgentMqtt(cfg.mqtt, identity, outbox)

    async def runner(meeting: Meeting, in_session: bool) -> None:
        doc = await _selftest_subprocess(args, meeting, in_session, cfg.selftest.timeout_s)
        if doc is not None:
            from agent.selftest import to_wire

            link.publish(to_wire(doc, identity))

    scheduler = Scheduler(
        run_before_s=cfg.selftest.run_before_s,
        runner=runner,
        meetings=meetings,
        collector_url=cfg.collector.url if scheduled else "",
        device_id=identity.device_id,
        timeout_s=cfg.collector.timeout_s,
        refresh_s=cfg.collector.meetings_refresh_s,
        credentials=collector_credentials(cfg),
    )
    monitor = Monitor(cfg, identity, link.publish, meeting=scheduler.current, dropped=lambda: outbox.dropped)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises KeyboardInterrupt instead
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "agent %s: device %s, boot %s, brokers %s, topic root %s",
        __version__,
        identity.device_id,
        identity.boot_id,
        ", ".join(cfg.mqtt.broker_urls),
        cfg.mqtt.topic_root,
    )
    await link.start()
    await monitor.start()
    if scheduled:
        await scheduler.start()
    try:
        await stop.wait()
    finally:
        await scheduler.stop()
        await monitor.stop()
        await link.stop()
        outbox.close()
    return 0


async def _selftest_subprocess(
    args: argparse.Namespace, meeting: Meeting, in_session: bool, timeout_s: float
) -> SelftestDocument | None:
    """Run the self-test in a child process so that cv2/aiortc never load into the light monitor."""
    import msgspec

    from agent.selftest import SelftestDocument

    cmd = [
        sys.executable,
        "-m",
        "agent",
        "selftest",
        "--json",
        "--no-publish",
        "--meeting",
        meeting.id,
        "--end",
        str(meeting.end),
    ]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.lang:
        cmd += ["--lang", args.lang]
    if in_session:
        cmd.append("--in-session")
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(timeout_s + SUBPROCESS_GRACE_S):  # not wait_for: see agent/mqtt.py
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("self-test for %s did not finish in %.0f s", meeting.id, timeout_s)
        return None
    try:
        return msgspec.json.decode(out.strip().splitlines()[-1] if out.strip() else b"", type=SelftestDocument)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("self-test for %s gave no result (exit %s): %s", meeting.id, proc.returncode, exc)
        return None


if __name__ == "__main__":
    raise SystemExit(main())
