"""Token buckets by key, bounded in memory (issue 12: a self-test link, a device, an address).

``Buckets(rate_per_s, burst).take(key, now)`` returns None when the request may go on, else the
seconds until it may (for ``Retry-After``). Pure: time is passed in. At most ``max_keys`` keys are
kept; past that the fullest (idle longest) buckets are forgotten first, which only ever lets a
forgotten key start again with a full burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Buckets:
    def __init__(self, rate_per_s: float, burst: float, *, max_keys: int = 10_000) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float) -> float | None:
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self.max_keys:
                self._forget(now)
            b = self._buckets[key] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + max(0.0, now - b.at) * self.rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return None
        return (1.0 - b.tokens) / self.rate

    def _forget(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for k in full or list(self._buckets)[: max(1, self.max_keys // 2)]:
            del self._buckets[k]


def retry_after(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
