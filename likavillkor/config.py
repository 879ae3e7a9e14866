"""Typed configuration from TOML files plus environment variables, unknown keys rejected.

Every config section is a ``msgspec.Struct`` declared with ``forbid_unknown_fields=True``
(use :class:`Section` as the base). :func:`load` reads a TOML file, overlays environment
variables ``{PREFIX}__SECTION__KEY=value`` and converts the result. Any error names the file,
the line and the key at fault (or the environment variable), so a service fails at start-up
with a message an operator can act on::

    config error: /etc/likavillkor/collector.toml line 7: unknown key 'mqtt.hots'
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base class of every config section: unknown keys are an error. A nested section's
    default is ``msgspec.field(default_factory=Mqtt)``."""


class ConfigError(Exception):
    """Bad configuration. ``key`` is the dotted key at fault, ``line`` its line when known."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None, key: str = "") -> None:
        where = source + (f" line {line}" if line else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line
        self.key = key


_PATH_RE = re.compile(r"`\$((?:\.[A-Za-z0-9_-]+|\[\d+\])*)`")


def _path_of(error: msgspec.ValidationError) -> list[str | int]:
    match = _PATH_RE.search(str(error))
    if not match:
        return []
    parts: list[str | int] = []
    for token in re.findall(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]", match.group(1)):
        parts.append(token[0] if token[0] else int(token[1]))
    return parts


def locate_line(text: str, path: list[str | int]) -> int | None:
    """Best-effort line number of a key path in TOML text (1-based). Indices into arrays of tables
    (``meeting[1].participant[2].role``) pick the right ``[[...]]`` entry; without a match by index
    the first line naming the keys is returned."""
    exact = _locate_indexed(text, path) if any(isinstance(p, int) for p in path) else None
    return exact if exact is not None else _locate_keys(text, path)


def _locate_indexed(text: str, path: list[str | int]) -> int | None:
    want = list(path)
    while want and isinstance(want[-1], int):  # an index into an inline array: the key's line
        want.pop()
    counts: dict[tuple[str, ...], int] = {}
    table: list[str | int] = []
    table_line: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.match(r"^(\[\[?)\s*([^\]]+?)\s*\]\]?", line)
        if header:
            names = tuple(k.strip().strip('"') for k in header.group(2).split("."))
            if header.group(1) == "[[":
                counts[names] = counts.get(names, 0) + 1
                for key in [k for k in counts if len(k) > len(names) and k[: len(names)] == names]:
                    del counts[key]
            table = []
            for i in range(1, len(names) + 1):
                table.append(names[i - 1])
                if names[:i] in counts:
                    table.append(counts[names[:i]] - 1)
            table_line = number if table == want else None
            if table_line is not None:
                return table_line
            continue
        kv = re.match(r'^("?[A-Za-z0-9_.-]+"?)\s*=', line)
        if kv and table + [k.strip('"') for k in kv.group(1).split(".")] == want:
            return number
    return table_line


def _locate_keys(text: str, path: list[str | int]) -> int | None:
    keys = [p for p in path if isinstance(p, str)]
    if not keys:
        return None
    table: list[str] = []
    last_table_line: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if header:
            table = [k.strip().strip('"') for k in header.group(1).split(".")]
            if table == keys[: len(table)] and len(table) == len(keys):
                last_table_line = number
            continue
        kv = re.match(r'^("?[A-Za-z0-9_.-]+"?)\s*=', line)
        if kv:
            full = table + [k.strip('"') for k in kv.group(1).split(".")]
            if full == keys:
                return number
    return last_table_line


def _env_overrides(prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """``PREFIX__MQTT__URL=x`` -> ``{"mqtt": {"url": "x"}}``. Values are parsed as TOML values when
    they parse (numbers, booleans, arrays), else taken as strings."""
    out: dict[str, Any] = {}
    head = prefix + "__"
    for name, raw in environ.items():
        if not name.startswith(head):
            continue
        path = [p.lower() for p in name[len(head) :].split("__") if p]
        if not path:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another", key=".".join(path))
        node[path[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def convert(data: Mapping[str, Any], typ: type[T], *, source: str = "", text: str = "") -> T:
    """Convert a plain mapping into the typed config, raising :class:`ConfigError` with the line."""
    try:
        return msgspec.convert(data, typ, strict=False)
    except msgspec.ValidationError as exc:
        path = _path_of(exc)
        message = str(exc)
        unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
        if unknown:
            path = [*path, unknown.group(1)]
            message = f"unknown key '{'.'.join(str(p) for p in path)}'"
        line = locate_line(text, path) if text else None
        raise ConfigError(message, source=source, line=line, key=".".join(str(p) for p in path)) from None


def loads(
    text: str,
    typ: type[T],
    *,
    source: str = "<string>",
    env_prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line_match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"not valid TOML: {exc}", source=source, line=int(line_match.group(1)) if line_match else None
        ) from None
    if env_prefix:
        overrides = _env_overrides(env_prefix, os.environ if environ is None else environ)
        if overrides:
            data = _merge(data, overrides)
            try:
                return convert(data, typ, source=source, text=text)
            except ConfigError as exc:
                env_name = env_prefix + "__" + "__".join(exc.key.upper().split("."))
                if exc.key and _lookup(overrides, exc.key.split(".")):
                    raise ConfigError(
                        str(exc).split(": ", 1)[-1], source=f"environment {env_name}", key=exc.key
                    ) from None
                raise
    return convert(data, typ, source=source, text=text)


def _lookup(tree: Mapping[str, Any], path: list[str]) -> bool:
    node: Any = tree
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def load(
    path: str | Path | None, typ: type[T], *, env_prefix: str | None = None, environ: Mapping[str, str] | None = None
) -> T:
    """Load ``path`` (None: defaults only) into ``typ``, with environment overrides."""
    if path is None:
        return loads("", typ, source="<defaults>", env_prefix=env_prefix, environ=environ)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(p)) from None
    return loads(text, typ, source=str(p), env_prefix=env_prefix, environ=environ)
