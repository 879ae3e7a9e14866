"""The operator's side of the incident history on SQLite and a real PostgreSQL: schema migrations on
demand (``db``), ``run`` refusing to start on a failed migration, and backup/restore with the
incident history identical afterwards (docs/operations.md)."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.cli import main
from collector.store import Store, backup, revisions
from collector.store import schema as s
from tests.collector.test_ops_seed import seed, table_dump
from tests.support.databases import Postgres

_names = itertools.count()


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nroster = "{tmp_path / "none.toml"}"\n'
        f'[store]\nurl = "{url}"\n[reflector]\nenabled = false\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'likavillkor.db'}"
    pg: Postgres = request.getfixturevalue("postgres_server")
    return pg.create_database(f"ops_{next(_names)}_{time.time_ns() % 10**9}")


def _out(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    assert main(argv) == code
    return capsys.readouterr().out


def test_downgrade_to_base_and_upgrade_round_trips(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(_config(tmp_path, db_url))
    assert _out(capsys, ["db", "current", "-c", cfg]).strip() == "base"
    assert _out(capsys, ["db", "upgrade", "-c", cfg]).strip() == revisions.head()
    assert _out(capsys, ["db", "current", "-c", cfg]).strip() == revisions.head()
    history = _out(capsys, ["db", "history", "-c", cfg])
    assert f"-> {revisions.head()} (head)" in history
    assert _out(capsys, ["db", "downgrade", "base", "-c", cfg], code=2) == ""  # not confirmed: nothing done
    assert _out(capsys, ["db", "current", "-c", cfg]).strip() == revisions.head()
    assert _out(capsys, ["db", "downgrade", "base", "--yes", "-c", cfg]).strip() == "base"
    engine = sa.create_engine(db_url)
    assert not set(sa.inspect(engine).get_table_names()) & set(s.metadata.tables)
    assert _out(capsys, ["db", "upgrade", "-c", cfg]).strip() == revisions.head()
    assert set(s.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    engine.dispose()
    seed(db_url)  # the re-created schema takes the writer's rows
    assert _out(capsys, ["db", "current", "-c", cfg]).strip() == revisions.head()


def test_downgrade_to_base_asks_and_only_yes_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``db downgrade base`` deletes every table: it asks first; anything but "yes" changes nothing."""
    import io

    from collector.store.commands import _confirm_drop_all

    url = f"sqlite:///{tmp_path / 'ask.db'}"
    seed(url)
    cfg = str(_config(tmp_path, url))
    before = table_dump(url)
    assert main(["db", "downgrade", "base", "-c", cfg]) == 2  # pytest's stdin: no answer
    err = capsys.readouterr().err
    assert "DELETES EVERY TABLE" in err and "not confirmed" in err
    assert table_dump(url) == before
    assert _confirm_drop_all("x", io.StringIO("yes\n")) is True
    assert _confirm_drop_all("x", io.StringIO("y\n")) is False
    assert _confirm_drop_all("x", io.StringIO("")) is False


def test_backup_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """A backup holds samples and incidents (personal data): 0600 from the first byte."""
    import os
    import stat

    url = f"sqlite:///{tmp_path / 'b.db'}"
    seed(url)
    old = os.umask(0o022)
    try:
        info = backup.backup(url, tmp_path / "out" / "b.bak")
    finally:
        os.umask(old)
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_unknown_downgrade_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}"))
    assert main(["db", "downgrade", "no-such-rev", "-c", cfg]) == 3
    assert main(["db", "downgrade", "-c", cfg]) == 2


def test_run_with_a_failing_migration_logs_one_line_and_exits_nonzero(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "broken.db"
    with sqlite3.connect(path) as conn:  # a table in the way of the migration's last step
        conn.execute("CREATE TABLE verdicts (x INTEGER)")
    cfg = str(_config(tmp_path, f"sqlite:///{path}"))
    with caplog.at_level(logging.ERROR, logger="collector"):
        assert main(["run", "-c", cfg]) == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    assert "migration failed" in errors[0].getMessage() and "verdicts" in errors[0].getMessage()
    with sqlite3.connect(path) as conn:  # rolled back as a whole: nothing half-migrated
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["verdicts"]


def test_database_from_a_newer_version_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    seed(url)
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dface'")
    cfg = str(_config(tmp_path, url))
    with caplog.at_level(logging.ERROR, logger="collector"):
        assert main(["db", "upgrade", "-c", cfg]) == 3
        assert main(["run", "-c", cfg]) == 3
    assert all(
        "f00dface" in r.getMessage() and "newer" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
    )


def _wipe(url: str, cfg: str) -> None:
    if url.startswith("sqlite"):
        for p in Path(backup.sqlite_path(url)).parent.glob("likavillkor.db*"):
            p.unlink()
    else:
        assert main(["db", "downgrade", "base", "--yes", "-c", cfg]) == 0


def test_backup_wipe_restore_gives_the_same_history(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = str(_config(tmp_path, db_url))
    seed(db_url)
    before_cli = _out(capsys, ["incidents", "-c", cfg, "--format", "csv"])
    before = table_dump(db_url)
    assert before["incidents"] and before["actions"] and before["samples"]
    out = tmp_path / "backup.bin"
    made = json.loads(_out(capsys, ["backup", "--out", str(out), "-c", cfg, "--timeout", "60"]))
    assert made["revision"] == revisions.head()
    _wipe(db_url, cfg)
    assert _out(capsys, ["incidents", "-c", cfg, "--format", "csv"]) != before_cli  # really gone
    restored = json.loads(_out(capsys, ["restore", "--from", str(out), "-c", cfg, "--timeout", "60"]))
    assert restored["backup_revision"] == revisions.head()
    assert _out(capsys, ["incidents", "-c", cfg, "--format", "csv"]) == before_cli
    assert table_dump(db_url) == before
    # a second restore over the (now full) database needs --force
    with caplog.at_level(logging.ERROR, logger="collector"):
        assert main(["restore", "--from", str(out), "-c", cfg]) == 1
    assert "not empty" in caplog.text and "--force" in caplog.text
    assert main(["restore", "--from", str(out), "-c", cfg, "--force"]) == 0
    capsys.readouterr()
    assert table_dump(db_url) == before


def test_restore_refuses_non_empty_without_force_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    seed(url)
    out = tmp_path / "a.backup"
    backup.backup(url, out)
    with pytest.raises(backup.BackupError, match=r"not empty.*incidents: .*--force"):
        backup.restore(url, out)


def test_restore_refuses_a_backup_from_a_newer_schema(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dface'"))
    engine.dispose()
    out = tmp_path / "newer.backup"
    assert backup.backup(db_url, out, timeout_s=60).revision == "f00dface"
    target = (
        f"sqlite:///{tmp_path / 'fresh.db'}" if db_url.startswith("sqlite") else db_url.rsplit("/", 1)[0] + "/postgres"
    )
    with pytest.raises(backup.BackupError, match="f00dface, newer than this collector knows"):
        backup.restore(target, out, force=True)


def test_restore_refuses_the_other_dialect_and_garbage(tmp_path: Path, postgres_server: Postgres) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    seed(url)
    out = tmp_path / "a.backup"
    backup.backup(url, out)
    with pytest.raises(backup.BackupError, match="sqlite backup but the configured database is postgresql"):
        backup.restore(postgres_server.url(), out)
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello")
    with pytest.raises(backup.BackupError, match="neither a SQLite backup nor a pg_dump"):
        backup.restore(url, junk, force=True)


def test_sqlite_backup_is_consistent_while_the_writer_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    store = Store(url, flush_interval_s=0.01)
    store.start()
    stop = threading.Event()

    def write() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            store.put(
                "state_change",
                {
                    "at": float(i),
                    "meeting_id": "ks",
                    "member_id": "m",
                    "device_id": "d",
                    "old": "ok",
                    "new": "lost",
                    "reason": {"i": i},
                },
            )
            if i % 200 == 0:
                time.sleep(0.001)

    t = threading.Thread(target=write)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while store.stats.written < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        info = backup.backup(url, tmp_path / "live.backup")
    finally:
        stop.set()
        t.join()
        assert store.flush(10)
        store.stop()
    with sqlite3.connect(info.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_backup = conn.execute("SELECT count(*) FROM state_changes").fetchone()[0]
        ats = [r[0] for r in conn.execute("SELECT at FROM state_changes ORDER BY id")]
    assert n_backup >= 2000
    assert ats == [float(i) for i in range(n_backup)]  # a prefix of the writes: no torn batch
    with sqlite3.connect(tmp_path / "live.db") as conn:
        assert conn.execute("SELECT count(*) FROM state_changes").fetchone()[0] >= n_backup


def test_pg_tools_failing_or_hanging_give_a_clear_error() -> None:
    with pytest.raises(backup.BackupError, match=r"did not finish within 0\.2 s"):
        backup._run_tool(["sleep", "5"], {}, 0.2, "pg_dump")
    with pytest.raises(backup.BackupError, match="no-such-pg-tool not found: install the PostgreSQL client"):
        backup.pg_tool("no-such-pg-tool")
    with pytest.raises(backup.BackupError, match="pg_dump could not start"):
        backup._run_tool(["/nonexistent/pg_dump"], {}, 5, "pg_dump")
    with pytest.raises(backup.BackupError, match=r"pg_restore failed \(exit 1\): boom"):
        backup._run_tool(["sh", "-c", "echo boom >&2; exit 1"], {}, 5, "pg_restore")


def test_pg_conninfo_keeps_the_password_off_the_command_line() -> None:
    uri, env = backup.pg_conninfo("postgresql+psycopg://lv:s3cret@db.example:5433/likavillkor?sslmode=require")
    assert "s3cret" not in uri and env["PGPASSWORD"] == "s3cret"
    assert uri == "postgresql://lv@db.example:5433/likavillkor?sslmode=require"


def test_unreachable_database_is_one_line_and_exit_3(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.services import free_port

    cfg = str(_config(tmp_path, f"postgresql+psycopg://lv@127.0.0.1:{free_port()}/likavillkor"))
    for argv in (["db", "current"], ["incidents"], ["forget", "--member", "m1"]):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="collector"):
            assert main([*argv, "-c", cfg]) == 3, argv
        assert len(caplog.records) == 1, argv
        message = caplog.records[0].getMessage()
        assert "unusable" in message and "connection failed" in message and "\n" not in message, argv
