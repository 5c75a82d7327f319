"""The event log: an append-only record of what happened, who did it and when (reserved,
released, quarantined, user_created, ...), written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bunkhouse.core.model import Base, JSONText, UTCDateTime, utcnow


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    # The lease it concerns (a reservation's id), and the container, when there is one.
    lease_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    container: Mapped[str | None] = mapped_column(String(128), default=None)
    detail: Mapped[dict | None] = mapped_column(JSONText, default=None)


def record(session: Session, kind: str, actor: str, *, lease_id: str | None = None, container: str | None = None,
           detail: dict | None = None, at: datetime | None = None) -> None:
    session.add(Event(at=at or utcnow(), kind=kind, actor=actor, lease_id=lease_id, container=container,
                      detail=detail))


@dataclass(frozen=True)
class EventFilter:
    kind: str | None = None
    actor: str | None = None
    lease_id: str | None = None
    container: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int | None = None


def find(session: Session, wanted: EventFilter, limit: int) -> tuple[list[Event], int | None]:
    """Events matching every given filter, oldest first; and the after_id of the next page."""
    statement = select(Event).order_by(Event.id)
    for column in ("kind", "actor", "lease_id", "container"):
        if getattr(wanted, column):
            statement = statement.where(getattr(Event, column) == getattr(wanted, column))
    if wanted.since:
        statement = statement.where(Event.at >= wanted.since)
    if wanted.until:
        statement = statement.where(Event.at < wanted.until)
    if wanted.after_id is not None:
        statement = statement.where(Event.id > wanted.after_id)
    events = list(session.scalars(statement.limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    return events, events[-1].id if more else None


def prune(session: Session, *, before: datetime | None = None, lease_ids: list[str] | None = None) -> int:
    """Delete the events older than `before` (the audit retention), or those of these leases
    (pruned with their lease). Returns how many went."""
    statement = delete(Event)
    if before is not None:
        statement = statement.where(Event.at < before)
    elif lease_ids:
        statement = statement.where(Event.lease_id.in_(lease_ids))
    else:
        return 0
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
