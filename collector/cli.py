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
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # Alembic announces every plugin it sets up; keep "Running upgrade ..." lines
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        # httpx logs one INFO line per request: one per InfluxDB write (every second). Failures are
        # logged by the writer itself (collector/batchwriter.py), once per outage.
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
    if not _migrate_or_log(cfg.store_url):
        return 3
    runtime = Runtime(cfg)
    runtime.start()
    app = create_app(runtime)
    h = cfg.http
    # forwarded headers only from the configured proxies (uvicorn would trust loopback by default)
    server = _server(uvicorn.Config(app, host=h.host, port=h.port, log_config=None,
                                           access_log=False, ssl_certfile=h.tls_cert or None, ws_max_size=4096,
                                           ssl_keyfile=h.tls_key or None, timeout_graceful_shutdown=3,
                                           proxy_headers=bool(h.trusted_proxies),
                                           forwarded_allow_ips=list(h.trusted_proxies) or None))
    scheme = "https" if h.tls_cert else "http"
    log.info("collector API on %s://%s:%d/api (docs: /docs), MQTT %s", scheme, h.host, h.port, runtime.mqtt_url)
    try:
        server.run()
    finally:
        runtime.stop()
        log.info("collector stopped")
    return 0


def _store(cfg: Any) -> Any:
    from collector.store import Store, revisions

    store = Store(cfg.store_url)
    revisions.upgrade(store.engine)
    return store


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _migrate_or_log(url: str) -> bool:
    """Upgrade to the head before anything starts; a failure is one log line (and False)."""
    from collector.store import connect_engine, revisions

    engine = connect_engine(url)
    try:
        revisions.upgrade(engine)
    except revisions.MigrationError as exc:
        log.error("database migration failed, not starting (%s): %s", _safe_url(url), exc)
        return False
    except Exception as exc:  # unreachable database and the like
        log.error("database %s unusable, not starting: %s", _safe_url(url), str(exc).splitlines()[0][:300])
        return False
    finally:
        engine.dispose()
    return True


def cmd_db(args: argparse.Namespace) -> int:
    """Schema migrations on demand (``run`` upgrades at every start anyway)."""
    import sqlalchemy as sa

    from collector.store import connect_engine, revisions

    cfg = _load_config(args.config)
    if args.action == "history":
        head = revisions.head()
        for r in revisions.history():
            print(f"{r.down_revision or 'base'} -> {r.revision}{' (head)' if r.revision == head else ''}: {r.doc}")
        return 0
    engine = connect_engine(cfg.store_url)
    try:
        if args.action == "current":
            print(revisions.current(engine) or "base")
        elif args.action == "upgrade":
            revisions.upgrade(engine, args.revision or "head")
            print(revisions.current(engine) or "base")
        elif args.action == "downgrade":
            if not args.revision:
                print("db downgrade needs a revision (or base)", file=sys.stderr)
                return 2
            if args.revision == "base" and not args.yes and not _confirm_drop_all(_safe_url(cfg.store_url)):
                print("db downgrade base: not confirmed, nothing changed (--yes skips the question)",
                      file=sys.stderr)
                return 2
            revisions.downgrade(engine, args.revision)
            print(revisions.current(engine) or "base")
    except revisions.MigrationError as exc:
        log.error("database migration failed (%s): %s", _safe_url(cfg.store_url), exc)
        return 3
    except sa.exc.SQLAlchemyError as exc:
        log.error("database %s unusable: %s", _safe_url(cfg.store_url), str(exc).splitlines()[0][:300])
        return 3
    finally:
        engine.dispose()
    return 0


def _confirm_drop_all(where: str, stdin: Any = None) -> bool:
    """Ask before ``db downgrade base`` drops every table; only ``yes`` on the next line counts (no
    terminal, end of input: no)."""
    stdin = sys.stdin if stdin is None else stdin
    print(f"db downgrade base DELETES EVERY TABLE in {where}: incidents, actions, verdicts, samples. "
          "Type yes to go on: ", end="", file=sys.stderr, flush=True)
    try:
        answer = stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() == "yes"


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from collector.store import backup

    cfg = _load_config(args.config)
    import os

    os.umask(PRIVATE_UMASK)  # a backup holds everything the database holds
    try:
        info = backup.backup(cfg.store_url, Path(args.out), timeout_s=args.timeout)
    except backup.BackupError as exc:
        log.error("backup failed: %s", exc)
        return 1
    print(json.dumps({"backup": str(info.path), "dialect": str(info.dialect), "revision": info.revision}))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    import sqlalchemy as sa

    from collector.store import backup, revisions

    cfg = _load_config(args.config)
    try:
        info = backup.restore(cfg.store_url, Path(args.from_file), force=args.force, timeout_s=args.timeout)
    except (backup.BackupError, revisions.MigrationError) as exc:
        log.error("restore refused or failed: %s", exc)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        log.error("restore failed, database %s unusable: %s", _safe_url(cfg.store_url),
                  str(exc).splitlines()[0][:300])
        return 1
    print(json.dumps({"restored": str(info.path), "dialect": str(info.dialect), "backup_revision": info.revision,
                      "now_at": revisions.head()}))
    return 0


def cmd_incidents(args: argparse.Namespace) -> int:
    from collector.web.queries import store_incidents_csv as incidents_csv

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
                       "note": args.note, "substitute_id": args.substitute}
            r = client.post(url, json={k: v for k, v in payload.items() if v is not None})
    if r.status_code >= 300:
        print(f"error {r.status_code}: {r.text}", file=sys.stderr)
        return 1
    print(json.dumps(r.json(), ensure_ascii=False, indent=1))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Delete one member's data from the database, then from InfluxDB when ``[influx]`` is set
    (docs/operations.md "Retention and deletion" says what is deleted and kept)."""
    from collector import influx, retention
    from likavillkor.roster import load_body_table, load_roster

    cfg = _load_config(args.config)
    store = _store(cfg)
    devices: set[str] = set()
    in_roster = False
    if cfg.roster_path.exists():
        roster = load_roster(cfg.roster_path, bodies=load_body_table(cfg.bodies or None))
        devices = {d for d, m in roster.devices.items() if m == args.member}
        in_roster = bool(devices) or any(p.member_id == args.member for m in roster.meetings.values()
                                         for p in m.participants)
    devices |= retention.member_devices(store, args.member)
    deleted = retention.forget_member(store, args.member, devices)
    store.engine.dispose()
    report: dict[str, Any] = {"member_id": args.member, "devices": sorted(devices), "deleted": deleted,
                              "influx": None}
    status = 0
    if cfg.influx.url:
        try:
            report["influx"] = influx.delete_member(cfg.influx, args.member, devices, timeout_s=args.timeout)
        except influx.InfluxDeleteError as exc:
            log.error("forget: the database is done, but InfluxDB was not: %s (run forget again)", exc)
            status = 1
    print(json.dumps(report, ensure_ascii=False))
    if in_roster:
        print(f"Note: {args.member} is still in the roster: remove them, then re-run broker-credentials. "
              "Their self-test links are not stored anywhere (signed, H7) and stop working once they are "
              "off the roster.", file=sys.stderr)
    return status


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
                                        "excuse", "return", "left", "substitute"),
                     help="record this action; omit to list")
    act.add_argument("--by", default="cli")
    act.add_argument("--member")
    act.add_argument("--substitute", help="substitute: the ersättare who steps in for --member (H16)")
    act.add_argument("--item")
    act.add_argument("--note")
    act.add_argument("--url", help="collector base URL (default from the config's [http])")
    act.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    act.set_defaults(func=cmd_actions)

    fg = with_config(sub.add_parser("forget", help="delete one member's data (samples, incidents, ...; "
                                                   "InfluxDB series too when [influx] is set)"))
    fg.add_argument("--member", required=True)
    fg.add_argument("--timeout", type=float, default=60.0, help="deadline per InfluxDB request, s (default 60)")
    fg.set_defaults(func=cmd_forget)

    db = with_config(sub.add_parser("db", help="schema migrations: upgrade, current, history, downgrade"))
    db.add_argument("action", choices=("upgrade", "current", "history", "downgrade"))
    db.add_argument("revision", nargs="?", help="target revision (upgrade: default head; downgrade: required, "
                                                "'base' drops every table)")
    db.add_argument("--yes", action="store_true", help="downgrade base without asking")
    db.set_defaults(func=cmd_db)

    bk = with_config(sub.add_parser("backup", help="back up the database (SQLite online backup, pg_dump -Fc)"))
    bk.add_argument("--out", required=True, help="the backup file to write")
    bk.add_argument("--timeout", type=float, default=3600.0, help="deadline for pg_dump, s (default 3600)")
    bk.set_defaults(func=cmd_backup)

    rs = with_config(sub.add_parser("restore", help="restore a backup into the configured database "
                                                    "(collector stopped)"))
    rs.add_argument("--from", dest="from_file", required=True, help="a file written by backup")
    rs.add_argument("--force", action="store_true", help="overwrite a database that is not empty")
    rs.add_argument("--timeout", type=float, default=3600.0, help="deadline for pg_restore, s (default 3600)")
    rs.set_defaults(func=cmd_restore)

    sub.add_parser("users", help="add chairs, secretaries, IT users and API tokens (users add-user --help)",
                   add_help=False)
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
