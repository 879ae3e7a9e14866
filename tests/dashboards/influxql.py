"""What Grafana does to a dashboard's InfluxQL before it reaches InfluxDB, for the tests: template
variables, ``$timeFilter``, ``$__interval`` and ``${__to}``; and the names a query refers to."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_REGEX_SPECIAL = set("\\^$.|?*+()[]{}/")


def regex_escape(value: str) -> str:
    """Grafana's escaping of a single value inside ``=~ /^$var$/`` (RE2 accepts ``\\`` + punctuation)."""
    return "".join(f"\\{c}" if c in _REGEX_SPECIAL else c for c in value)


@dataclass(frozen=True)
class Window:
    from_s: float
    to_s: float
    interval: str = "10s"


def interpolate(query: str, variables: dict[str, str], window: Window) -> str:
    """Expand built-ins and ``$var``/``${var}``; an unknown variable is an error (the dashboard
    uses a variable it does not define)."""
    builtins = {
        "timeFilter": f"time >= {int(window.from_s * 1000)}ms and time <= {int(window.to_s * 1000)}ms",
        "__interval": window.interval,
        "__from": str(int(window.from_s * 1000)),
        "__to": str(int(window.to_s * 1000)),
    }

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        if name.startswith("tag_") or name == "col":  # aliases, not sent in queries
            return m.group(0)
        if name not in variables:
            raise KeyError(f"query uses ${name}, which the test does not define: {query}")
        return variables[name]

    return _VAR.sub(sub, query)


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    query: str
    alias: str


def build_module() -> ModuleType:
    """dashboards/build.py (a script, not a package) as a module."""
    spec = importlib.util.spec_from_file_location("likavillkor_dashboards_build", DASHBOARDS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
    return data


def panel_queries(name: str) -> Iterator[Query]:
    d = load(name)
    for p in d["panels"]:
        for t in p.get("targets", []):
            yield Query(d["uid"], p["title"], t["refId"], t["query"], t.get("alias", ""))


def variable_queries(name: str) -> Iterator[tuple[str, str]]:
    for v in load(name)["templating"]["list"]:
        if v["type"] == "query":
            yield v["name"], v["query"]


def variable_names(name: str) -> set[str]:
    return {v["name"] for v in load(name)["templating"]["list"]}


_MEASUREMENT = re.compile(r'\b(?:FROM|from)\s+"([^"]+)"')
_ALIAS = re.compile(r'\bAS\s+"([^"]+)"')
_IDENT = re.compile(r'"([^"]+)"')
_FUNC = re.compile(r"\b([a-z_]+)\(")
_TAG_EQUALS = re.compile(r"\"([^\"]+)\"\s*=\s*'([^']*)'")


@dataclass(frozen=True)
class References:
    measurements: set[str]
    names: set[str]  # fields and tags
    tag_values: set[tuple[str, str]]  # "tag" = 'value'


def references(query: str) -> References:
    """The measurements, field/tag names and tag values a query refers to. Names a query defines
    itself (``AS "x"``, a subquery's function column like ``first``) are left out."""
    measurements = set(_MEASUREMENT.findall(query))
    defined = set(_ALIAS.findall(query)) | set(_FUNC.findall(query))
    names = {n for n in _IDENT.findall(query) if n not in measurements and n not in defined}
    if query.lstrip().upper().startswith("SHOW TAG VALUES"):
        names |= set(re.findall(r'WITH KEY = "([^"]+)"', query))
    return References(measurements, names, set(_TAG_EQUALS.findall(query)))
