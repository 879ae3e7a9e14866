from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import Postgres, running_postgres
from tests.support.roster import fixed_roster
from tests.support.services import Mosquitto, running_mosquitto

#: test files whose tests share the ``netns`` worker under pytest-xdist: network namespaces, veth,
#: ``tc tbf`` and nftables drops with timing-sensitive detection (a link cut is seen from silence)
NETNS_FILES = (
    "tests/faults/",
    "tests/net/test_netns.py",
    "tests/agent_platform/test_linux_netns.py",
    "tests/web/test_companion_netns.py",
)


def scope_of(nodeid: str) -> str:
    """The unit of work under pytest-xdist: a test module (its module fixtures, a collector process or
    a browser, start once), except the namespace tests, which are all one unit: they run on one
    worker, one after another (never two link cuts at once)."""
    path = nodeid.split("::", 1)[0]
    return "netns" if path.startswith(NETNS_FILES) else path


if importlib.util.find_spec("xdist") is not None:

    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        """``--dist loadfile`` (scripts/test.sh) with the namespace files as one unit (:func:`scope_of`).
        (``--dist loadgroup`` with ``xdist_group`` marks does not group under pytest 9.2 with
        pytest-xdist 3.8: xdist renames ``item._nodeid``, which pytest 9.2 no longer reads.)"""
        if config.getoption("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling

        class Scheduling(LoadFileScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return scope_of(nodeid)

        return Scheduling(config, log)


@pytest.fixture
def roster_text() -> str:
    """The shared fixed-date roster (tests/support/roster.py): meeting ks-1 on 1 December 2026,
    09:00-12:00, with Anna Andersson on ``anna-ipad``."""
    return fixed_roster()


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
