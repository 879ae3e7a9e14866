from __future__ import annotations

import uuid

import pytest

from tests.support.databases import Postgres


@pytest.fixture
def db_url(postgres_server: Postgres) -> str:
    """A fresh database of its own on the session's real PostgreSQL."""
    return postgres_server.create_database(f"ha_{uuid.uuid4().hex[:10]}")
