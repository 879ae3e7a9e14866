"""The device's key for authenticated path probes (issue 11): its SSID and HMAC key (RFC 8972), from the
collector's authenticated device HTTP API (``collector.auth.probekeys`` on the other end)."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import quote

from agent.scheduler import basic_auth


def fetch_probe_key(
    collector_url: str, device_id: str, timeout_s: float, credentials: tuple[str, str] | None = None
) -> tuple[int, bytes]:
    """(SSID, key) for signed probes: blocking GET ``/api/devices/{id}/probe-key`` with a deadline,
    signed in as the device. Raises OSError / ValueError on failure."""
    url = f"{collector_url.rstrip('/')}/api/devices/{quote(device_id, safe='')}/probe-key"
    request = urllib.request.Request(url, headers={"Accept": "application/json", **basic_auth(credentials)})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # http(s) only: checked in config
        doc = json.loads(response.read(4096))
    ssid, key = int(doc["ssid"]), bytes.fromhex(str(doc["key"]))
    if not 0 < ssid < 65536 or len(key) < 16:
        raise ValueError("probe key: bad ssid or key")
    return ssid, key
