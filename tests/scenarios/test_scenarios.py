"""Every folder under tests/scenarios/ is one case, driven through the pure engine (issue 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios.runner import run_case

HERE = Path(__file__).parent
CASES = sorted(p for p in HERE.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def test_there_are_cases() -> None:
    assert len(CASES) >= 12, [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_scenario(case: Path, tmp_path: Path) -> None:
    _, _, errors = run_case(case, tmp_path)
    assert not errors, f"{case.name}:\n  " + "\n  ".join(errors)
