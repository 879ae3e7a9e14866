"""The body table: the system each municipal body meets in (H22) and whether it meets physically only
(H23). Shipped as ``likavillkor/data/bodies.toml``; a municipality may give its own file."""

from __future__ import annotations

import tomllib
import unicodedata
from enum import StrEnum
from importlib import resources
from pathlib import Path

import msgspec

from likavillkor.config import Section, convert


class System(StrEnum):
    TEAMS = "teams"
    COMPODIUM = "compodium"


class BodyInfo(Section):
    system: System
    physical_only: bool = False


class BodyTable(Section):
    bodies: dict[str, BodyInfo] = msgspec.field(default_factory=dict)

    def lookup(self, body: str) -> BodyInfo | None:
        return self.bodies.get(normalize_body(body))


def normalize_body(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


def load_body_table(path: str | Path | None = None) -> BodyTable:
    if path is None:
        text = resources.files("likavillkor.data").joinpath("bodies.toml").read_text(encoding="utf-8")
        source = "bodies.toml (shipped)"
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = str(path)
    raw = tomllib.loads(text)
    raw["bodies"] = {normalize_body(k): v for k, v in raw.get("bodies", {}).items()}
    return convert(raw, BodyTable, source=source, text=text)
