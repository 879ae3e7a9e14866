"""Schema revisions (Alembic, run programmatically with the collector's own engine): upgrade,
downgrade, the current revision and the history. ``run`` upgrades to the head at every start;
``likavillkor-collector db ...`` does the same steps on demand (docs/operations.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from collector.store.db import alembic_config


class MigrationError(RuntimeError):
    """A migration failed or cannot run; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows."""
    found = _script().get_current_head()
    if found is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("no migrations shipped with this collector")
    return found


def known() -> set[str]:
    return {r.revision for r in _script().walk_revisions()}


def history() -> list[Revision]:
    """Oldest first."""
    revs = [
        Revision(
            r.revision,
            r.down_revision if isinstance(r.down_revision, str) else None,
            (r.doc or "").splitlines()[0] if r.doc else "",
        )
        for r in _script().walk_revisions()
    ]
    return list(reversed(revs))


def current(engine: sa.Engine) -> str | None:
    """The database's revision; None for an empty (never migrated) database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def _transactional_sqlite(engine: sa.Engine) -> sa.Engine:
    """A SQLite engine whose DDL runs inside one transaction: Python's sqlite3 module does not BEGIN
    before CREATE/DROP, so a migration failing half-way would leave half its tables. Here the driver's
    own transaction handling is off and SQLAlchemy emits BEGIN itself (the SQLAlchemy docs' recipe)."""
    mig = sa.create_engine(engine.url, connect_args={"timeout": 10}, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(mig, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA journal_mode=WAL")

    @sa.event.listens_for(mig, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return mig


def _run(engine: sa.Engine, action: str, target: str) -> None:
    cfg = alembic_config()
    mig = _transactional_sqlite(engine) if engine.dialect.name == "sqlite" else engine
    try:
        with mig.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, target)
    except Exception as exc:  # any failure: one clear line, the whole migration rolled back
        at = _safe_current(engine)
        raise MigrationError(f"{action} to {target} failed (database at revision {at}): {_one_line(exc)}") from exc
    finally:
        if mig is not engine:
            mig.dispose()


def _safe_current(engine: sa.Engine) -> str:
    try:
        return current(engine) or "none"
    except Exception:  # the database itself is unreachable
        return "unknown"


def upgrade(engine: sa.Engine, target: str = "head") -> None:
    """Raises :class:`MigrationError` when the database is at a revision this code does not know
    (a newer collector wrote it) or a migration fails."""
    at = current(engine)
    if at is not None and at not in known():
        raise MigrationError(
            f"the database is at schema revision {at}, which this collector does not know "
            f"(newest here: {head()}): it was written by a newer version; upgrade the collector"
        )
    _run(engine, "upgrade", target)


def downgrade(engine: sa.Engine, target: str) -> None:
    """``target`` is a revision id or ``base`` (drops every table: all data is lost)."""
    if target != "base" and target not in known():
        raise MigrationError(f"unknown revision {target!r}; known: base, {', '.join(sorted(known()))}")
    _run(engine, "downgrade", target)
