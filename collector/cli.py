"""``likavillkor-collector``: run the collector, query incidents, record actions, forget a member.

Logging is configured here only (architecture.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from likavillkor import __version__
from likavillkor.config import ConfigError

log = logging.getLogger("collector")


def _time(value: str) -> float:
    """Epoch seconds or an ISO 8601 time (local time zone when none is given)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {value!r} (epoch seconds or ISO 8601)") from None
    return t.timestamp()


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _load_config(path: str | None) -> Any:
    from collector import config

    return config.load(path)


def _server(config: Any) -> Any:
    """A uvicorn server that does not re-raise SIGTERM/SIGINT after shutdown, so the collector's
    own clean-up (stop the private Mosquitto by PID, save the engine snapshot) always runs."""
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server(config)


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    from collector.api import create_app
    from collector.runtime import Runtime

    cfg = _load_config(args.config)
    runtime = Runtime(cfg)
    runtime.start()
    app = create_app(runtime)
    h = cfg.http
    server = _server(uvicorn.Config(app, host=h.host, port=h.port, log_config=None,
                                           access_log=False, ssl_certfile=h.tls_cert or None,
                                           ssl_keyfile=h.tls_key or None, timeout_graceful_shutdown=3))
    scheme = "https" if h.tls_cert else "http"
    log.info("collector API on %s://%s:%d/api (docs: /docs), MQTT %s", scheme, h.host, h.port, runtime.mqtt_url)
    try:
        server.run()
    finally:
        runtime.stop()
        log.info("collector stopped")
    return 0


def _store(cfg: Any) -> Any:
    from collector.store import Store, migrate

    store = Store(cfg.store_url)
    migrate(store.engine)
    return store


def cmd_incidents(args: argparse.Namespace) -> int:
    from collector.api import incidents_csv

    store = _store(_load_config(args.config))
    rows = store.incidents(since=args.since, until=args.until, body=args.body, member=args.member,
                           device=args.device, kind=args.kind, meeting=args.meeting)
    if args.format == "csv":
        sys.stdout.write(incidents_csv(rows))
    else:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    store.engine.dispose()
    return 0


def cmd_actions(args: argparse.Namespace) -> int:
    """Through the running collector's HTTP API, so the engine sees the action at once."""
    import httpx

    cfg = _load_config(args.config)
    base = args.url or f"{'https' if cfg.http.tls_cert else 'http'}://{cfg.http.host}:{cfg.http.port}"
    url = f"{base}/api/meetings/{args.meeting}/actions"
    from collector.auth import client_headers  # $LIKAVILLKOR_API_TOKEN or the host's local token

    with httpx.Client(timeout=10.0, verify=not args.insecure, headers=client_headers(cfg.data_path)) as client:
        if args.kind is None:
            r = client.get(url)
        else:
            payload = {"kind": args.kind, "by": args.by, "member_id": args.member, "item": args.item,
                       "note": args.note}
            r = client.post(url, json={k: v for k, v in payload.items() if v is not None})
    if r.status_code >= 300:
        print(f"error {r.status_code}: {r.text}", file=sys.stderr)
        return 1
    print(json.dumps(r.json(), ensure_ascii=False, indent=1))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from collector import retention
    from likavillkor.roster import load_body_table, load_roster

    cfg = _load_config(args.config)
    store = _store(cfg)
    devices: set[str] = set()
    if cfg.roster_path.exists():
        roster = load_roster(cfg.roster_path, bodies=load_body_table(cfg.bodies or None))
        devices = {d for d, m in roster.devices.items() if m == args.member}
    deleted = retention.forget_member(store, args.member, devices)
    store.engine.dispose()
    print(json.dumps({"member_id": args.member, "deleted": deleted}, ensure_ascii=False))
    print("Note: the running collector's memory still holds today's live state; it is not persisted "
          "beyond the engine snapshot.", file=sys.stderr)
    return 0


def cmd_broker_credentials(args: argparse.Namespace) -> int:
    try:
        from collector import brokerauth
    except ImportError as exc:
        print(f"broker-credentials is not available: {exc}", file=sys.stderr)
        return 2
    return int(brokerauth.main(list(args.rest)) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="likavillkor-collector",
                                description="Likavillkor collector: watches that remote members attend "
                                            "on equal terms (lika villkor).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", "-c", help="collector TOML (see deploy/collector.example.toml)")
        return sp

    run = with_config(sub.add_parser("run", help="run the collector (MQTT ingest, engine, API)"))
    run.set_defaults(func=cmd_run)

    inc = with_config(sub.add_parser("incidents", help="list the incident history"))
    inc.add_argument("--since", type=_time)
    inc.add_argument("--until", type=_time)
    inc.add_argument("--body")
    inc.add_argument("--member")
    inc.add_argument("--device")
    inc.add_argument("--kind")
    inc.add_argument("--meeting")
    inc.add_argument("--format", choices=("json", "csv"), default="json")
    inc.set_defaults(func=cmd_incidents)

    act = with_config(sub.add_parser("actions", help="record or list a meeting's actions (H5, H15, H18)"))
    act.add_argument("--meeting", required=True)
    act.add_argument("--kind", choices=("adjourn", "resume", "vote_start", "vote_end", "item_start",
                                        "excuse", "return", "left"), help="record this action; omit to list")
    act.add_argument("--by", default="cli")
    act.add_argument("--member")
    act.add_argument("--item")
    act.add_argument("--note")
    act.add_argument("--url", help="collector base URL (default from the config's [http])")
    act.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    act.set_defaults(func=cmd_actions)

    fg = with_config(sub.add_parser("forget", help="delete one member's data (samples, incidents, ...)"))
    fg.add_argument("--member", required=True)
    fg.set_defaults(func=cmd_forget)

    bc = sub.add_parser("broker-credentials", help="manage device credentials and ACLs for the broker",
                        add_help=False)
    bc.add_argument("rest", nargs=argparse.REMAINDER)
    bc.set_defaults(func=cmd_broker_credentials)

    from collector import dashboards  # grafana-client itself is imported only when pushing

    dashboards.add_arguments(sub.add_parser("dashboards", help="Grafana: push the dashboards and the "
                                                                 "InfluxDB data source (docs/dashboards.md)"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["broker-credentials"]:  # its own parser, --help included
        return cmd_broker_credentials(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
