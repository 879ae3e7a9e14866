"""MQTT topic layout. Everything a device publishes is under its own prefix, so that a broker ACL
can pin each device's credentials to ``{root}/devices/{its id}/#`` (deploy/ generates it).

The root is configurable (issue 17: many municipalities on one broker cluster, each with a root of
its own such as ``lv/solna``); every function takes it and defaults to :data:`ROOT`, so a single
municipality's install is unchanged. Two roots never share a topic as long as neither is a prefix
level of the other (:func:`roots_disjoint`)."""

from __future__ import annotations

import re
from typing import Final, Literal

ROOT: Final = "likavillkor/v1"
Kind = Literal["sample", "selftest", "status"]
KINDS: Final[frozenset[str]] = frozenset({"sample", "selftest", "status"})
#: What the collector subscribes to (default root).
DEVICE_WILDCARD: Final = f"{ROOT}/devices/+/+"
#: a root: 1-8 levels of letters, digits, ``_ . -``; no wildcards, no empty level, no leading ``$``
_ROOT_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,64}){0,7}$")


def validate_root(root: str) -> str:
    """``root`` unchanged, or ValueError saying what is wrong with it (for typed config)."""
    if not _ROOT_RE.fullmatch(root):
        raise ValueError(
            f"topic root must be 1-8 levels of letters, digits, '_', '.' or '-' separated by '/' "
            f"(no wildcards, no leading or trailing '/'), not {root!r}"
        )
    return root


def roots_disjoint(a: str, b: str) -> bool:
    """True when no device topic under ``a`` can be one under ``b`` (neither root is the other's
    prefix at a level boundary, nor equal)."""
    la, lb = a.split("/"), b.split("/")
    n = min(len(la), len(lb))
    return la[:n] != lb[:n]


def device_wildcard(root: str = ROOT) -> str:
    return f"{root}/devices/+/+"


def device_topic(device_id: str, kind: Kind, root: str = ROOT) -> str:
    return f"{root}/devices/{device_id}/{kind}"


def parse_device_topic(topic: str, root: str = ROOT) -> tuple[str, str] | None:
    """``{root}/devices/{id}/{kind}`` -> ``(id, kind)``; None for anything else."""
    prefix = root + "/devices/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :].split("/")
    if len(rest) != 2 or not rest[0] or rest[1] not in KINDS:
        return None
    return rest[0], rest[1]
