"""Keyset paging for the API's lists: `?limit=N&cursor=...`, and the answer's `next` cursor.

A cursor is the sort key of the last row of a page, in URL-safe base64 JSON: opaque to the
caller, stable while rows are added (a page never repeats or skips a row that existed when
the first page was read).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from bunkhouse.core.errors import BadRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    rows: list
    next: str | None


def read_page(session: Session, statement: Select, order: Sequence[InstrumentedAttribute], *, limit: int,
              cursor: str | None) -> Page:
    """One page of `statement`'s rows ordered by the `order` columns (together unique), after
    the row the cursor names."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_limit", field="limit")
    if cursor:
        values = _decode(cursor, order)
        statement = statement.where(_after(order, values))
    rows = list(session.scalars(statement.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _encode([getattr(rows[-1], column.key) for column in order]) if more else None)


def _after(columns: Sequence[InstrumentedAttribute], values: list) -> Any:
    """Rows after `values` in (columns...) order, written out so every database understands it."""
    typed = [bindparam(None, value, type_=column.type) for column, value in zip(columns, values, strict=True)]
    return or_(*(and_(*(columns[j] == typed[j] for j in range(i)), columns[i] > typed[i])
                 for i in range(len(columns))))


def _encode(values: list) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


_READERS: dict[type, Callable[[Any], Any]] = {datetime: datetime.fromisoformat, int: int, str: str}


def _decode(cursor: str, columns: Sequence[InstrumentedAttribute]) -> list:
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(plain, list) or len(plain) != len(columns):
            raise ValueError("wrong length")
        values = []
        for column, value in zip(columns, plain, strict=True):
            kind = column.type.python_type
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError("not a key value")
            values.append(_READERS.get(kind, kind)(value))
        return values
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, NotImplementedError):
        raise BadRequest("cursor is not one this server gave out: pass the `next` of the previous page",
                         code="invalid_cursor", field="cursor") from None
