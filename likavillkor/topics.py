"""MQTT topic layout. Everything a device publishes is under its own prefix, so that a broker ACL
can pin each device's credentials to ``likavillkor/v1/devices/{its id}/#`` (deploy/ generates it)."""

from __future__ import annotations

from typing import Final, Literal

ROOT: Final = "likavillkor/v1"
Kind = Literal["sample", "selftest", "status"]
KINDS: Final[frozenset[str]] = frozenset({"sample", "selftest", "status"})
#: What the collector subscribes to.
DEVICE_WILDCARD: Final = f"{ROOT}/devices/+/+"


def device_topic(device_id: str, kind: Kind) -> str:
    return f"{ROOT}/devices/{device_id}/{kind}"


def parse_device_topic(topic: str) -> tuple[str, str] | None:
    """``likavillkor/v1/devices/{id}/{kind}`` -> ``(id, kind)``; None for anything else."""
    prefix = ROOT + "/devices/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :].split("/")
    if len(rest) != 2 or not rest[0] or rest[1] not in KINDS:
        return None
    return rest[0], rest[1]
