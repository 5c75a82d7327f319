"""Waiting for something that happens in the background."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float, interval: float = 0.05):
    """Poll condition() until it returns something true (returned), or timeout; then its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()
