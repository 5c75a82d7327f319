"""One lookup for every "this one, or a 404" of the API."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bunkhouse.core.errors import NotFound

Row = TypeVar("Row")


def get_or_404(session: Session, model: type[Row], what: str, code: str, **where) -> Row:
    """The row of `model` matching `where` (column=value), or NotFound("no <what> <value>")."""
    statement = select(model)
    for column, value in where.items():
        statement = statement.where(getattr(model, column) == value)
    row = session.scalar(statement)
    if row is None:
        shown = " ".join(str(value) for value in where.values())
        raise NotFound(f"no {what} {shown}", code=code, **{key: str(value) for key, value in where.items()})
    return row
