"""Backup and restore of the collector's database.

* SQLite: the sqlite3 online backup API, page by page, consistent while the collector writes
  (WAL); the backup is an ordinary SQLite file. Restore copies it back with the same API.
* PostgreSQL: ``pg_dump -Fc`` and ``pg_restore --clean --if-exists --single-transaction``, each
  with a deadline. The password goes to the tools in ``PGPASSWORD``, never on the command line.

Restore refuses a non-empty database unless ``force`` and refuses a backup whose schema revision
this code does not know (a newer collector made it). After a restore the schema is upgraded to
this code's head, as ``run`` would.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa

from collector.store import revisions, schema
from collector.store.db import connect_engine

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
DEFAULT_TIMEOUT_S = 3600.0


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class BackupError(RuntimeError):
    """Backup or restore refused or failed; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    dialect: Dialect
    revision: str | None
    path: Path


def dialect_of(url: str) -> Dialect:
    name = sa.engine.make_url(url).get_backend_name()
    try:
        return Dialect(name)
    except ValueError:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name!r}") from None


def sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def file_dialect(path: Path) -> Dialect:
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read the backup {path}: {exc.strerror}") from None
    if head == SQLITE_MAGIC:
        return Dialect.SQLITE
    if head.startswith(PGDUMP_MAGIC):
        return Dialect.POSTGRESQL
    raise BackupError(f"{path} is neither a SQLite backup nor a pg_dump custom-format (-Fc) archive")


# --- emptiness ---------------------------------------------------------------------------------


def row_counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per collector table that exists (alembic_version left out)."""
    names = set(sa.inspect(engine).get_table_names())
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if table.name in names:
                out[table.name] = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    return out


def is_empty(engine: sa.Engine) -> bool:
    return not any(row_counts(engine).values())


# --- SQLite ------------------------------------------------------------------------------------


def _sqlite_backup(src: Path, dst: Path) -> None:
    """Online backup API (consistent snapshot even while another connection writes)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst, timeout=30)
    try:
        with target:
            source.backup(target, pages=4096)
    finally:
        target.close()
        source.close()


def _sqlite_revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def _private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 before anything is written into it: a backup holds
    personal data (samples, incidents) and must never be readable by other local users."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    os.close(fd)


def backup_sqlite(url: str, out: Path) -> BackupInfo:
    src = sqlite_path(url)
    if not src.exists():
        raise BackupError(f"no database at {src}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        _private_file(tmp)
        _sqlite_backup(src, tmp)
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            conn.close()
        if check != "ok":
            raise BackupError(f"the backup failed SQLite's integrity check: {check}")
        os.replace(tmp, out)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {src} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(Dialect.SQLITE, _sqlite_revision(out), out)


def restore_sqlite(url: str, backup: Path) -> None:
    dst = sqlite_path(url)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        _sqlite_backup(backup, dst)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite restore into {dst} failed: {exc}") from None


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore`` from PATH or Debian's /usr/lib/postgresql/*/bin (newest)."""
    found = shutil.which(name)
    if found:
        return found
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bindir / name).is_file():
            return str(bindir / name)
    raise BackupError(
        f"{name} not found: install the PostgreSQL client tools (Debian: apt-get install "
        f"postgresql-client, the same or a newer major version than the server)"
    )


def pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """(a libpq URI without the password, environment with PGPASSWORD) from a SQLAlchemy URL."""
    u = sa.engine.make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    bare = sa.engine.URL.create(
        "postgresql", username=u.username, host=u.host, port=u.port, database=u.database, query=u.query
    )
    uri = bare.render_as_string(hide_password=False)
    return uri, env


def _run_tool(argv: list[str], env: dict[str, str], timeout_s: float, what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {timeout_s:g} s (--timeout)") from None
    except OSError as exc:
        raise BackupError(f"{what} could not start: {exc.strerror}") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error:" in ln] or lines[-1:]
        raise BackupError(f"{what} failed (exit {done.returncode}): {errors[0] if errors else 'no message'}")
    return done


def backup_postgres(url: str, out: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> BackupInfo:
    uri, env = pg_conninfo(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        _private_file(tmp)
        _run_tool(
            [pg_tool("pg_dump"), "-Fc", "--no-owner", "--no-privileges", "-f", str(tmp), "-d", uri],
            env,
            timeout_s,
            "pg_dump",
        )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(Dialect.POSTGRESQL, postgres_backup_revision(out, timeout_s), out)


def postgres_backup_revision(path: Path, timeout_s: float = 60.0) -> str | None:
    """The alembic_version row inside a pg_dump archive, read with ``pg_restore -f -`` (no database)."""
    done = _run_tool(
        [pg_tool("pg_restore"), "--data-only", "-t", "alembic_version", "-f", "-", str(path)],
        dict(os.environ),
        timeout_s,
        "pg_restore (reading the backup's revision)",
    )
    lines = done.stdout.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("COPY ") and "alembic_version" in ln:
            value = lines[i + 1].strip() if i + 1 < len(lines) else "\\."
            return None if value == "\\." else value
    return None


def restore_postgres(url: str, backup: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    uri, env = pg_conninfo(url)
    _run_tool(
        [
            pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "-d",
            uri,
            str(backup),
        ],
        env,
        timeout_s,
        "pg_restore",
    )


# --- the operations ----------------------------------------------------------------------------


def backup(url: str, out: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> BackupInfo:
    if dialect_of(url) is Dialect.SQLITE:
        return backup_sqlite(url, out)
    return backup_postgres(url, out, timeout_s)


def inspect_backup(path: Path, timeout_s: float = 60.0) -> BackupInfo:
    kind = file_dialect(path)
    if kind is Dialect.SQLITE:
        return BackupInfo(kind, _sqlite_revision(path), path)
    return BackupInfo(kind, postgres_backup_revision(path, timeout_s), path)


def check_restorable(info: BackupInfo, url: str) -> None:
    """Refuse a backup of the other dialect or from a schema revision this code does not know."""
    target = dialect_of(url)
    if info.dialect is not target:
        raise BackupError(f"{info.path} is a {info.dialect} backup but the configured database is {target}")
    if info.revision is None:
        raise BackupError(f"{info.path} holds no schema revision (alembic_version): not a collector backup")
    if info.revision not in revisions.known():
        raise BackupError(
            f"{info.path} is from schema revision {info.revision}, newer than this collector knows "
            f"(newest here: {revisions.head()}): restore it with the collector version that made it"
        )


def restore(url: str, backup_file: Path, *, force: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S) -> BackupInfo:
    """Restore ``backup_file`` into the configured database, then upgrade it to this code's head.
    The collector must be stopped (docs/operations.md)."""
    info = inspect_backup(backup_file, min(timeout_s, 60.0))
    check_restorable(info, url)
    engine = connect_engine(url)
    try:
        if not force and not is_empty(engine):
            counts = {k: v for k, v in row_counts(engine).items() if v}
            raise BackupError(
                f"the database is not empty ({', '.join(f'{k}: {v}' for k, v in counts.items())}); "
                f"use --force to overwrite it"
            )
    finally:
        engine.dispose()
    if info.dialect is Dialect.SQLITE:
        restore_sqlite(url, backup_file)
    else:
        restore_postgres(url, backup_file, timeout_s)
    engine = connect_engine(url)
    try:
        revisions.upgrade(engine)
    finally:
        engine.dispose()
    return info
