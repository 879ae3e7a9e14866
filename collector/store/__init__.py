"""Storage: SQLAlchemy Core, one code path for SQLite (default, WAL) and PostgreSQL."""

from collector.store.db import Store, StoreStats, connect_engine, migrate
from collector.store.schema import metadata

__all__ = ["Store", "StoreStats", "connect_engine", "metadata", "migrate"]
