"""Recorded platform outputs for the fixture-driven tests (tests/data/platform/<os>/<case>/)."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "platform"


@dataclass
class RecordedRunner:
    """Answers commands from ``commands.toml`` (exact, or a ``*`` pattern); an unknown command is
    'not installed' (None).

    Records every call with its timeout so tests can check that each one has a deadline.
    """

    outputs: dict[str, str]
    calls: list[tuple[str, float]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], timeout_s: float) -> str | None:
        key = " ".join(argv)
        self.calls.append((key, timeout_s))
        if key in self.outputs:
            return self.outputs[key]
        for pattern, out in self.outputs.items():  # "powershell.exe ... -Command *"
            if "*" in pattern and fnmatch.fnmatchcase(key, pattern):
                return out
        return None


def load_commands(case_dir: Path) -> dict[str, str]:
    path = case_dir / "commands.toml"
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {entry["argv"]: entry["stdout"] for entry in data.get("command", [])}


def load_expected(case_dir: Path) -> dict[str, Any]:
    return tomllib.loads((case_dir / "expected.toml").read_text())


def cases(os_name: str) -> list[str]:
    return sorted(p.name for p in (DATA / os_name).iterdir() if (p / "expected.toml").exists())


def read(os_name: str, name: str) -> str:
    return (DATA / os_name / name).read_text(encoding="utf-8")


def load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
