"""``likavillkor-collector``: run the collector, query incidents, record actions, forget a member,
migrate, back up and restore the database.

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

#: libraries that log a line per HTTP request (the InfluxDB writes) at INFO
QUIET_LOGGERS = ("httpx", "httpcore", "influxdb_client", "urllib3")


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
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not verbose:  # Alembic announces every plugin it sets up; keep "Running upgrade ..." lines
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        # httpx logs one INFO line per request: one per InfluxDB write (every second). Failures are
        # logged by the writer itself (collector/store/batchwriter.py), once per outage.
        for noisy in QUIET_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)


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


#: what the collector writes (database, backups, keys, tokens, snapshots) is personal data or a secret:
#: private whatever umask the shell had (issue 12)
PRIVATE_UMASK = 0o077


def private_data_dir(path: Any) -> None:
    """``data_dir`` created 0700; an existing one open to group or others is closed (one log line)."""
    import os
    import stat
    from pathlib import Path

    os.umask(PRIVATE_UMASK)
    data = Path(path)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(data.stat().st_mode)
    if mode & 0o077:
        try:
            data.chmod(mode & 0o700)
            log.warning("data_dir %s was open to others (%o): now %o", data, mode, mode & 0o700)
        except OSError as exc:
            log.warning("data_dir %s is open to others (%o) and cannot be closed: %s", data, mode, exc)


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    from collector.runtime import Runtime
    from collector.web.app import create_app

    cfg = _load_config(args.config)
    private_data_dir(cfg.data_path)
    from collector.store.commands import migrate_or_log

    if not migrate_or_log(cfg.store_url):
        return 3
    runtime = Runtime(cfg)
    runtime.start()
    app = create_app(runtime)
    h = cfg.http
    # forwarded headers only from the configured proxies (uvicorn would trust loopback by default)
    server = _server(
        uvicorn.Config(
            app,
            host=h.host,
            port=h.port,
            log_config=None,
            access_log=False,
            ssl_certfile=h.tls_cert or None,
            ws_max_size=4096,
            ssl_keyfile=h.tls_key or None,
            timeout_graceful_shutdown=3,
            proxy_headers=bool(h.trusted_proxies),
            forwarded_allow_ips=list(h.trusted_proxies) or None,
        )
    )
    scheme = "https" if h.tls_cert else "http"
    log.info("collector API on %s://%s:%d/api (docs: /docs), MQTT %s", scheme, h.host, h.port, runtime.mqtt_url)
    try:
        server.run()
    finally:
        runtime.stop()
        log.info("collector stopped")
    return 0


def cmd_incidents(args: argparse.Namespace) -> int:
    from collector.store.commands import open_store
    from collector.web.queries import store_incidents_csv as incidents_csv

    store = open_store(_load_config(args.config))
    rows = store.incidents(
        since=args.since,
        until=args.until,
        body=args.body,
        member=args.member,
        device=args.device,
        kind=args.kind,
        meeting=args.meeting,
    )
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
            payload = {
                "kind": args.kind,
                "by": args.by,
                "member_id": args.member,
                "item": args.item,
                "note": args.note,
                "substitute_id": args.substitute,
            }
            r = client.post(url, json={k: v for k, v in payload.items() if v is not None})
    if r.status_code >= 300:
        print(f"error {r.status_code}: {r.text}", file=sys.stderr)
        return 1
    print(json.dumps(r.json(), ensure_ascii=False, indent=1))
    return 0


def cmd_broker_credentials(args: argparse.Namespace) -> int:
    try:
        from collector.auth import broker
    except ImportError as exc:
        print(f"broker-credentials is not available: {exc}", file=sys.stderr)
        return 2
    return int(broker.main(list(args.rest)) or 0)


def _with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument("--config", "-c", help="collector TOML (see deploy/collector.example.toml)")
    return sp


def _add_meeting_commands(sub: Any) -> None:
    """incidents, actions: the meetings' history and the chair's actions."""
    inc = _with_config(sub.add_parser("incidents", help="list the incident history"))
    for name in ("--body", "--member", "--device", "--kind", "--meeting"):
        inc.add_argument(name)
    inc.add_argument("--since", type=_time)
    inc.add_argument("--until", type=_time)
    inc.add_argument("--format", choices=("json", "csv"), default="json")
    inc.set_defaults(func=cmd_incidents)

    act = _with_config(sub.add_parser("actions", help="record or list a meeting's actions (H5, H15, H18)"))
    act.add_argument("--meeting", required=True)
    act.add_argument(
        "--kind",
        choices=("adjourn", "resume", "vote_start", "vote_end", "item_start", "excuse", "return", "left", "substitute"),
        help="record this action; omit to list",
    )
    act.add_argument("--by", default="cli")
    act.add_argument("--member")
    act.add_argument("--substitute", help="substitute: the ersättare who steps in for --member (H16)")
    act.add_argument("--item")
    act.add_argument("--note")
    act.add_argument("--url", help="collector base URL (default from the config's [http])")
    act.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    act.set_defaults(func=cmd_actions)


def _add_database_commands(sub: Any) -> None:
    """forget, db, backup, restore (collector/store/commands.py)."""
    from collector.store import commands

    fg = _with_config(
        sub.add_parser(
            "forget",
            help="delete one member's data (samples, incidents, ...; InfluxDB series too when [influx] is set)",
        )
    )
    fg.add_argument("--member", required=True)
    fg.add_argument("--timeout", type=float, default=60.0, help="deadline per InfluxDB request, s (default 60)")
    fg.set_defaults(func=commands.cmd_forget)

    db = _with_config(sub.add_parser("db", help="schema migrations: upgrade, current, history, downgrade"))
    db.add_argument("action", choices=("upgrade", "current", "history", "downgrade"))
    db.add_argument(
        "revision",
        nargs="?",
        help="target revision (upgrade: default head; downgrade: required, 'base' drops every table)",
    )
    db.add_argument("--yes", action="store_true", help="downgrade base without asking")
    db.set_defaults(func=commands.cmd_db)

    bk = _with_config(sub.add_parser("backup", help="back up the database (SQLite online backup, pg_dump -Fc)"))
    bk.add_argument("--out", required=True, help="the backup file to write")
    bk.add_argument("--timeout", type=float, default=3600.0, help="deadline for pg_dump, s (default 3600)")
    bk.set_defaults(func=commands.cmd_backup)

    rs = _with_config(
        sub.add_parser("restore", help="restore a backup into the configured database (collector stopped)")
    )
    rs.add_argument("--from", dest="from_file", required=True, help="a file written by backup")
    rs.add_argument("--force", action="store_true", help="overwrite a database that is not empty")
    rs.add_argument("--timeout", type=float, default=3600.0, help="deadline for pg_restore, s (default 3600)")
    rs.set_defaults(func=commands.cmd_restore)


def _add_tool_commands(sub: Any) -> None:
    """users, broker-credentials, dashboards: each with its own parser."""
    sub.add_parser(
        "users", help="add chairs, secretaries, IT users and API tokens (users add-user --help)", add_help=False
    )
    bc = sub.add_parser("broker-credentials", help="manage device credentials and ACLs for the broker", add_help=False)
    bc.add_argument("rest", nargs=argparse.REMAINDER)
    bc.set_defaults(func=cmd_broker_credentials)

    from collector import dashboards  # grafana-client itself is imported only when pushing

    dashboards.add_arguments(
        sub.add_parser(
            "dashboards", help="Grafana: push the dashboards and the InfluxDB data source (docs/dashboards.md)"
        )
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="likavillkor-collector",
        description="Likavillkor collector: watches that remote members attend on equal terms (lika villkor).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    run = _with_config(sub.add_parser("run", help="run the collector (MQTT ingest, engine, API)"))
    run.set_defaults(func=cmd_run)
    _add_meeting_commands(sub)
    _add_database_commands(sub)
    _add_tool_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["broker-credentials"]:  # its own parser, --help included
        return cmd_broker_credentials(argparse.Namespace(rest=argv[1:]))
    if argv[:1] == ["users"]:  # chairs, secretaries, IT and API tokens (docs/web.md)
        from collector import auth

        return auth.main(argv[1:])
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a database that cannot be migrated or reached: one line, no traceback
        from collector.store.revisions import MigrationError

        if isinstance(exc, MigrationError):
            log.error("database migration failed: %s", exc)
            return 3
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.SQLAlchemyError):
            log.error("database unusable: %s", str(exc).splitlines()[0][:300])
            return 3
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
