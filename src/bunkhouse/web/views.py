"""How times look in every answer."""

from __future__ import annotations

from datetime import datetime


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset: 2026-11-24T23:30:00+00:00."""
    return None if moment is None else moment.isoformat(timespec="seconds")
