"""The database's operator commands: ``db`` (migrations), ``backup``, ``restore`` and ``forget``
(one member's data, from the database and InfluxDB). ``likavillkor-collector`` (collector/cli.py)
parses the arguments; every command takes the config path and returns the exit status
(0 done, 1 failed, 2 refused, 3 database unusable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from collector.config import load as load_config

log = logging.getLogger("collector")


def open_store(cfg: Any) -> Any:
    from collector.store import Store, revisions

    store = Store(cfg.store_url)
    revisions.upgrade(store.engine)
    return store


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def migrate_or_log(url: str) -> bool:
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

    cfg = load_config(args.config)
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
                print("db downgrade base: not confirmed, nothing changed (--yes skips the question)", file=sys.stderr)
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
    print(
        f"db downgrade base DELETES EVERY TABLE in {where}: incidents, actions, verdicts, samples. Type yes to go on: ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    try:
        answer = stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() == "yes"


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from collector.store import backup

    cfg = load_config(args.config)
    import os

    from collector.cli import PRIVATE_UMASK

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

    cfg = load_config(args.config)
    try:
        info = backup.restore(cfg.store_url, Path(args.from_file), force=args.force, timeout_s=args.timeout)
    except (backup.BackupError, revisions.MigrationError) as exc:
        log.error("restore refused or failed: %s", exc)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        log.error("restore failed, database %s unusable: %s", _safe_url(cfg.store_url), str(exc).splitlines()[0][:300])
        return 1
    print(
        json.dumps(
            {
                "restored": str(info.path),
                "dialect": str(info.dialect),
                "backup_revision": info.revision,
                "now_at": revisions.head(),
            }
        )
    )
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Delete one member's data from the database, then from InfluxDB when ``[influx]`` is set
    (docs/operations.md "Retention and deletion" says what is deleted and kept)."""
    from collector.store import influx, retention
    from likavillkor.roster import load_body_table, load_roster

    cfg = load_config(args.config)
    store = open_store(cfg)
    devices: set[str] = set()
    in_roster = False
    if cfg.roster_path.exists():
        roster = load_roster(cfg.roster_path, bodies=load_body_table(cfg.bodies or None))
        devices = {d for d, m in roster.devices.items() if m == args.member}
        in_roster = bool(devices) or any(
            p.member_id == args.member for m in roster.meetings.values() for p in m.participants
        )
    devices |= retention.member_devices(store, args.member)
    deleted = retention.forget_member(store, args.member, devices)
    store.engine.dispose()
    report: dict[str, Any] = {"member_id": args.member, "devices": sorted(devices), "deleted": deleted, "influx": None}
    status = 0
    if cfg.influx.url:
        try:
            report["influx"] = influx.delete_member(cfg.influx, args.member, devices, timeout_s=args.timeout)
        except influx.InfluxDeleteError as exc:
            log.error("forget: the database is done, but InfluxDB was not: %s (run forget again)", exc)
            status = 1
    print(json.dumps(report, ensure_ascii=False))
    if in_roster:
        print(
            f"Note: {args.member} is still in the roster: remove them, then re-run broker-credentials. "
            "Their self-test links are not stored anywhere (signed, H7) and stop working once they are "
            "off the roster.",
            file=sys.stderr,
        )
    return status
