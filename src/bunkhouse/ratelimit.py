"""Per-caller rate limit of reservation requests: a token bucket per caller, in memory.

Each caller may burst up to `per_minute` requests, refilled evenly over a minute. The count
lives in this process (the service runs one process per deployment, see `just run`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from bunkhouse.errors import ApiError


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **details):
        super().__init__(message, retry_after_seconds=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after)}


class RateLimiter:
    # Buckets untouched this long are full again and are forgotten.
    _IDLE_SECONDS = 120

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def check(self, caller: str) -> None:
        """Take one request from the caller's bucket, or raise 429 with Retry-After."""
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(caller, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * rate)
            if tokens < 1:
                self._buckets[caller] = (tokens, now)
                retry_after = max(1, math.ceil((1 - tokens) / rate))
                raise TooManyRequests(
                    f"at most {self.per_minute} reservation requests a minute; try again in {retry_after} s",
                    retry_after=retry_after, limit_per_minute=self.per_minute)
            self._buckets[caller] = (tokens - 1, now)
            if len(self._buckets) > 10000:
                self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for caller in [caller for caller, (_, at) in self._buckets.items() if now - at > self._IDLE_SECONDS]:
            del self._buckets[caller]
