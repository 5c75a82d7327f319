"""SQLAlchemy models: nodes, reservations, the nodes each reservation held, runs, events.

Times are stored in UTC and always come back timezone-aware (UTC).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A datetime stored as naive UTC and read back as aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: bunkhouse stores aware UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class JSONText(TypeDecorator):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect):
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect):
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    pass


# Node states (DESIGN.md): free -> reserving -> reserved -> releasing -> free, plus
# quarantined (failed a run or vanished; never handed out) and disabled (taken out by hand).
FREE, RESERVING, RESERVED, RELEASING, QUARANTINED, DISABLED = (
    "free", "reserving", "reserved", "releasing", "quarantined", "disabled",
)

# Reservation states.
PROVISIONING, ACTIVE, RELEASING_RESERVATION, RELEASED, EXPIRED, FAILED = (
    "provisioning", "active", "releasing", "released", "expired", "failed",
)
ENDED_STATES = (RELEASED, EXPIRED, FAILED)
CURRENT_STATES = (PROVISIONING, ACTIVE, RELEASING_RESERVATION)


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    pool: Mapped[str] = mapped_column(String(64))
    ssh_port: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=FREE, index=True)
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    reservation_id: Mapped[str | None] = mapped_column(ForeignKey("reservations.id"), default=None, index=True)
    # SHA256 fingerprints of the node's SSH host keys by type ({"ED25519": "SHA256:..."}).
    host_keys: Mapped[dict | None] = mapped_column(JSONText, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Health checks failed in a row, and when a quarantined node is next tried (backoff).
    health_failures: Mapped[int | None] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Reservation(Base):
    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(32), index=True)
    # crypt(3) hash only: the plaintext is never stored.
    password_hash: Mapped[str] = mapped_column(String(256))
    count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    extended_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # What the reservation becomes once its release finishes: released or expired.
    end_state: Mapped[str | None] = mapped_column(String(16), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The API user who made it (None when authentication is off).
    owner: Mapped[str | None] = mapped_column(String(64), default=None, index=True)

    held: Mapped[list[ReservationNode]] = relationship(
        back_populates="reservation", order_by="ReservationNode.id", lazy="selectin"
    )


class ReservationNode(Base):
    """Which nodes a reservation held, kept after it ended."""

    __tablename__ = "reservation_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reservation_id: Mapped[str] = mapped_column(ForeignKey("reservations.id"), index=True)
    node_name: Mapped[str] = mapped_column(String(128))
    ssh_port: Mapped[int] = mapped_column(Integer)
    host_keys: Mapped[dict | None] = mapped_column(JSONText, default=None)
    # Set when the node died under the reservation: why, and the node that replaced it (if any).
    lost_reason: Mapped[str | None] = mapped_column(Text, default=None)
    replaced_by: Mapped[str | None] = mapped_column(String(128), default=None)

    reservation: Mapped[Reservation] = relationship(back_populates="held")


class Run(Base):
    """One ansible-runner invocation."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ident: Mapped[str] = mapped_column(String(128))
    playbook: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    rc: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float]
    hosts: Mapped[list[str]] = mapped_column(JSONText, default=list)
    failed_hosts: Mapped[list[str]] = mapped_column(JSONText, default=list)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """Append-only log of what happened: reserved, released, expired, failed, quarantined..."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    reservation_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    node_name: Mapped[str | None] = mapped_column(String(128), default=None)
    detail: Mapped[dict | None] = mapped_column(JSONText, default=None)


# API roles.
ADMIN, USER = "admin", "user"


class User(Base):
    """Someone who calls the API. Quota columns left empty take the configured defaults."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    max_nodes: Mapped[int | None] = mapped_column(Integer, default=None)
    max_duration_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    max_lease_minutes: Mapped[int | None] = mapped_column(Integer, default=None)


class Token(Base):
    """A bearer token. Only its SHA-256 is stored: the token itself is shown once."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the public part of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(lazy="joined")
