"""Is this connection a phone sharing its mobile data? (H9: the tablet's mobile data is not
sufficient, and a phone hotspot *is* mobile data.)

Pure: the caller gathers the evidence, this function weighs it. Evidence, strongest first:

1. the OS marks the connection as metered:
   - Windows connection cost ``Fixed`` or ``Variable`` (``NetworkCostType``) -> ``"windows_cost"``;
     Windows sets this itself for Android hotspots (DHCP option 43 ``ANDROID_METERED``) and
     for mobile broadband, and users can set it by hand;
   - NetworkManager ``GENERAL.METERED`` ``yes`` or ``yes (guessed)`` -> ``"nm_metered"``;
     NetworkManager guesses *yes* from the same Android DHCP option, and for WWAN.
2. the gateway is the well-known address a phone hands out:
   - iOS Personal Hotspot: 172.20.10.0/28, gateway 172.20.10.1 (Wi-Fi, USB and Bluetooth)
     -> ``"ios_gateway"``;
   - Android up to 10: Wi-Fi hotspot 192.168.43.0/24 (gateway 192.168.43.1), USB tethering
     192.168.42.0/24, Bluetooth PAN 192.168.44.0/24 -> ``"android_gateway"``.

Limits (documented in docs/probes/link.md): Android 11 and later picks a random
192.168.x.0/24 for its hotspot, so only the metered flag finds it; a home network that happens
to use 192.168.43.0/24 is a false positive; a travel router on 4G with a private range and no
metered flag is not found.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IOS_NETS: Final = (ipaddress.ip_network("172.20.10.0/28"),)
ANDROID_NETS: Final = (
    ipaddress.ip_network("192.168.43.0/24"),  # Wi-Fi hotspot, Android <= 10
    ipaddress.ip_network("192.168.42.0/24"),  # USB tethering
    ipaddress.ip_network("192.168.44.0/24"),  # Bluetooth PAN
)
#: Windows ``NetworkCostType`` values that mean "you pay per byte or have a cap".
METERED_COSTS: Final = frozenset({"fixed", "variable"})

#: Every reason :func:`classify_hotspot` or the platform modules may give (stable codes).
REASONS: Final = frozenset({"nm_metered", "windows_cost", "ios_gateway", "android_gateway", "wwan", "tethering"})


def _in_any(gateway: str | None, nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    if not gateway:
        return False
    try:
        addr = ipaddress.ip_address(gateway.split("%", 1)[0].strip())
    except ValueError:
        return False
    return any(addr in net for net in nets)


def classify_hotspot(gateway: str | None, metered: bool | None, cost: str | None) -> str | None:
    """The reason this looks like a phone hotspot, or ``None``.

    ``metered`` is NetworkManager's flag, ``cost`` Windows' ``NetworkCostType`` name
    (``Unrestricted``/``Fixed``/``Variable``/``Unknown``, any case).
    """
    if cost is not None and cost.strip().lower() in METERED_COSTS:
        return "windows_cost"
    if metered is True:
        return "nm_metered"
    if _in_any(gateway, IOS_NETS):
        return "ios_gateway"
    if _in_any(gateway, ANDROID_NETS):
        return "android_gateway"
    return None
