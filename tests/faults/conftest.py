"""Fault-injection suite (issue 8): root, network namespaces, real processes. Never skipped:
without root :class:`tests.support.netns.NetNs` fails with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.harness import broker_for, default_route
from tests.support.netns import NetNs, require_root
from tests.support.services import Mosquitto


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.netns)


@pytest.fixture
def ns() -> Iterator[NetNs]:
    require_root()
    with NetNs() as n:
        default_route(n)
        yield n


@pytest.fixture
def broker(ns: NetNs, tmp_path: Path) -> Iterator[Mosquitto]:
    with broker_for(ns, tmp_path / "mosquitto") as b:
        yield b
