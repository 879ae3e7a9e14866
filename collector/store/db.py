"""The store: a bounded queue in front of one writer thread that batches rows into the database.

Ingest and verdicts never wait for the database: :meth:`Store.put` is a non-blocking enqueue.
When the database is slow or down, the writer keeps its batch and retries with back-off while
the queue absorbs new rows; when the queue is full, new rows are dropped and counted
(``dropped``), never blocking the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from collector.store import schema
from collector.store.batchwriter import BatchWriter, Discarded, FailureLog, OnFailure, Pacing, WriterStats

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
#: one queued write: (operation, row); operations are the keys of ``_WRITERS``
Op = tuple[str, Row]


def connect_engine(url: str) -> sa.Engine:
    """An SQLAlchemy engine; SQLite in WAL mode with a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("collector.store").joinpath("migrations")))
    return cfg


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (run at start-up)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two collectors of one municipality (issue 17) start against one database: one migrates,
            # the other waits for it (released at commit)
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(5717001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _insert_ignore(conn: sa.Connection, table: sa.Table, rows: list[Row]) -> None:
    """Insert, skipping rows that hit a unique constraint (replays). One code path per dialect."""
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        for row in rows:
            try:
                with conn.begin_nested():
                    conn.execute(table.insert(), [row])
            except sa.exc.IntegrityError:
                pass


def _replace_by_key(conn: sa.Connection, table: sa.Table, key: str, rows: list[Row]) -> None:
    """Upsert by primary key, portable: the last row per key wins."""
    latest = {row[key]: row for row in rows}
    conn.execute(table.delete().where(table.c[key].in_(list(latest))))
    conn.execute(table.insert(), list(latest.values()))


def _write_devices(conn: sa.Connection, rows: list[Row]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        cur = latest.get(row["device_id"])
        if cur is None:
            latest[row["device_id"]] = dict(row)
        else:
            cur["last_seen"] = max(cur["last_seen"], row["last_seen"])
            cur["last_status"] = row.get("last_status") or cur.get("last_status")
    t = schema.devices
    existing = {
        r.device_id: r
        for r in conn.execute(sa.select(t.c.device_id, t.c.first_seen).where(t.c.device_id.in_(list(latest))))
    }
    for device_id, row in latest.items():
        if device_id in existing:
            values = {"last_seen": row["last_seen"], "known": row["known"], "member_id": row.get("member_id")}
            if row.get("last_status"):
                values["last_status"] = row["last_status"]
            conn.execute(t.update().where(t.c.device_id == device_id).values(**values))
        else:
            conn.execute(t.insert(), [{"first_seen": row["last_seen"], "last_status": None, **row}])


def _insert(table: sa.Table) -> Callable[[sa.Connection, list[Row]], None]:
    def write(conn: sa.Connection, rows: list[Row]) -> None:
        conn.execute(table.insert(), rows)

    return write


_SAMPLE_SQL: dict[str, tuple[str, bool]] = {}


def _insert_samples(conn: sa.Connection, rows: list[Any]) -> None:
    """The hot path: rows are tuples in ``schema.SAMPLE_COLUMNS`` order, sent with the driver's
    executemany (the statement is compiled once per dialect from the Core table). Replays are
    skipped by the unique (device_id, msg_id) constraint."""
    dialect = conn.dialect
    cached = _SAMPLE_SQL.get(dialect.name)
    if cached is None:
        stmt: Any
        if dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(schema.samples).on_conflict_do_nothing()
        elif dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(schema.samples).on_conflict_do_nothing()
        else:  # pragma: no cover
            _insert_ignore(conn, schema.samples, [dict(zip(schema.SAMPLE_COLUMNS, r, strict=True)) for r in rows])
            return
        compiled = stmt.compile(dialect=dialect, column_keys=list(schema.SAMPLE_COLUMNS))
        positional = bool(compiled.positiontup)
        if positional and list(compiled.positiontup or []) != list(schema.SAMPLE_COLUMNS):
            raise RuntimeError("sample insert parameters out of order")
        cached = _SAMPLE_SQL[dialect.name] = (str(compiled), positional)
    sql, positional = cached
    params = rows if positional else [dict(zip(schema.SAMPLE_COLUMNS, r, strict=True)) for r in rows]
    conn.exec_driver_sql(sql, params)


_WRITERS: dict[str, Callable[[sa.Connection, list[Any]], None]] = {
    "sample": _insert_samples,
    "selftest": lambda c, r: _insert_ignore(c, schema.selftests, r),
    "incident": lambda c, r: _replace_by_key(c, schema.incidents, "id", r),
    "action": _insert(schema.actions),
    "state_change": _insert(schema.state_changes),
    "verdict": _insert(schema.verdicts),
    "mediapath": _insert(schema.mediapath),
    "device": _write_devices,
    "snapshot": lambda c, r: _replace_by_key(c, schema.engine_snapshot, "id", r),
}
OPS = frozenset(_WRITERS)


@dataclass
class StoreStats(WriterStats):
    queued: int = 0


def _store_error_text(exc: BaseException) -> str:
    return str(exc)[:200]


def _store_log_detail(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300]


class Fenced(Exception):
    """Raised by a store's fence: this collector does not lead (issue 17); the batch is not written."""


#: called first inside every write transaction (issue 17: collector/ha/lease.py ``Lease.fence``);
#: raises :class:`Fenced` (or the lease's LostLease) to roll the batch back and drop it
Fence = Callable[[sa.Connection], None]


class Store:
    """Owns the engine, the queue and the writer thread. Reads run directly (they are rare).

    A full queue drops new rows; a failed batch stays with the writer and is retried with back-off
    (after :meth:`stop`, given up once the back-off has reached ``retry_max_s``)."""

    def __init__(
        self,
        url: str,
        *,
        queue_max: int = 100_000,
        batch: int = 500,
        flush_interval_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        self.url = url
        self.engine = connect_engine(url)
        self.stats = StoreStats()
        #: see :data:`Fence`; None (the single collector): every batch is written
        self.fence: Fence | None = None
        #: batches dropped because the fence said this collector no longer leads (issue 17)
        self.fenced = 0
        failure_log = FailureLog(
            log,
            "store write failed, will retry (%d rows queued): %s",
            error_text=_store_error_text,
            log_detail=_store_log_detail,
            resumed="store writes resumed",
        )
        self._writer: BatchWriter[Op] = BatchWriter(
            self._write,
            self.stats,
            failure_log,
            name="store-writer",
            batch=batch,
            max_items=queue_max,
            flush_interval_s=flush_interval_s,
            retry_initial_s=0.1,
            retry_max_s=retry_max_s,
            on_failure=OnFailure.HOLD,
            pacing=Pacing.IDLE,
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, *, run_migrations: bool = True) -> None:
        if run_migrations:
            migrate(self.engine)
        self._writer.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._writer.stop(timeout)
        self.engine.dispose()

    # -- writes ----------------------------------------------------------------------------------
    def put(self, op: str, row: Any) -> bool:
        """Queue one row; never blocks. False (and counted) when the queue is full."""
        return self._writer.put((op, row))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (or ``timeout``). True when drained."""
        return self._writer.flush(timeout)

    @property
    def writer(self) -> BatchWriter[Op]:
        """The writer thread's queue (its counters and ``on_done``: collector/mqtt/ackgate.py)."""
        return self._writer

    def queue_size(self) -> int:
        return self._writer.queued()

    def _write(self, batch: list[Op]) -> None:
        grouped: dict[str, list[Row]] = {}
        for op, row in batch:
            grouped.setdefault(op, []).append(row)
        fence = self.fence
        try:
            with self.engine.begin() as conn:
                if fence is not None:
                    fence(conn)  # issue 17: the lease row is share-locked until this commits
                # order matters for the timeline only within a kind; keep first-seen order of kinds
                for op, rows in grouped.items():
                    _WRITERS[op](conn, rows)
        except Fenced as exc:
            self.fenced += 1
            if self.fenced == 1 or self.fenced % 100 == 0:
                log.warning("store: %d rows not written: %s (fenced batches: %d)", len(batch), exc, self.fenced)
            raise Discarded(str(exc)) from exc  # counted as dropped, not as written

    # -- reads -----------------------------------------------------------------------------------
    def load_snapshot(self) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.engine_snapshot.c.blob).where(schema.engine_snapshot.c.id == 1)).first()
        return bytes(row[0]) if row else None

    def save_snapshot_now(self, blob: bytes, at: float) -> None:
        with self.engine.begin() as conn:
            _replace_by_key(conn, schema.engine_snapshot, "id", [{"id": 1, "at": at, "blob": blob}])

    def incidents(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        body: str | None = None,
        member: str | None = None,
        device: str | None = None,
        kind: str | None = None,
        meeting: str | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        t = schema.incidents
        q = sa.select(t).order_by(t.c.started_at)
        conds = []
        if since is not None:
            conds.append(sa.or_(t.c.ended_at.is_(None), t.c.ended_at >= since))
        if until is not None:
            conds.append(t.c.started_at <= until)
        for col, value in (
            (t.c.body, body),
            (t.c.member_id, member),
            (t.c.device_id, device),
            (t.c.kind, kind),
            (t.c.meeting_id, meeting),
        ):
            if value is not None:
                conds.append(col == value)
        if conds:
            q = q.where(*conds)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q.limit(limit))]

    def count(self, table: sa.Table, *where: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())

    def rows(self, table: sa.Table, *where: Any, order_by: Any = None) -> list[dict[str, Any]]:
        q = sa.select(table).where(*where)
        if order_by is not None:
            q = q.order_by(order_by)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def execute_deletes(self, statements: Iterable[sa.Delete]) -> dict[str, int]:
        """Run deletes in one transaction; returns rows deleted per table."""
        out: dict[str, int] = {}
        with self.engine.begin() as conn:
            for stmt in statements:
                result = conn.execute(stmt)
                name = str(getattr(stmt.table, "name", "?"))
                out[name] = out.get(name, 0) + int(result.rowcount or 0)
        return out
