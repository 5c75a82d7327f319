"""Reservations, and the nodes each one held (kept after it ended).

A reservation is a lease: its id is the holder of its nodes in the fleet.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bunkhouse.core.model import Base, JSONText, UTCDateTime, utcnow


class ReservationState(StrEnum):
    PROVISIONING = "provisioning"  # its accounts are being made
    ACTIVE = "active"
    RELEASING = "releasing"  # its accounts are being removed
    RELEASED = "released"
    EXPIRED = "expired"
    FAILED = "failed"  # rolled back


ENDED = (ReservationState.RELEASED, ReservationState.EXPIRED, ReservationState.FAILED)
CURRENT = (ReservationState.PROVISIONING, ReservationState.ACTIVE, ReservationState.RELEASING)


class Reservation(Base):
    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The Linux account made on every node (not an API user).
    username: Mapped[str] = mapped_column(String(32), index=True)
    # crypt(3) hash only: the plaintext is never stored.
    password_hash: Mapped[str] = mapped_column(String(256))
    count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When its state last changed: the periodic reconcile finds what sat still too long.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 server_default=text("'1970-01-01 00:00:00'"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    extended_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # What the reservation becomes once its release finishes: released or expired.
    end_state: Mapped[str | None] = mapped_column(String(16), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The API user who made it (None when authentication is off).
    owner: Mapped[str | None] = mapped_column(String(64), default=None, index=True)

    held: Mapped[list[HeldNode]] = relationship(
        back_populates="reservation", order_by="HeldNode.id", lazy="selectin"
    )


class HeldNode(Base):
    """A node a reservation held: how to reach it, and whether it died under the reservation."""

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


def clear_secrets(reservation: Reservation) -> None:
    """A reservation that ended keeps no secret: its accounts are gone (or going, by a removal
    that needs no password), so its password hash is cleared. Call it wherever it ends."""
    reservation.password_hash = ""
