from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import Postgres, running_postgres
from tests.support.services import Mosquitto, running_mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port, private to the test."""
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="session")
def shared_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A real PostgreSQL (Debian's package), one cluster per session; tests create their own database."""
    with running_postgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """``pytest.mark.anyio`` tests run on asyncio, the loop the code under test uses. (anyio >= 4.12
    parametrizes over every importable backend, and selenium, for the WebKit tests, installs trio.)"""
    return "asyncio"


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """The collector's ``run``/``backup`` set umask 077 for their process (issue 12); a test that
    calls them in-process must not leave it to the tests after it."""
    import os

    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)
