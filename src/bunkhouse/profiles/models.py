"""A prepared profile: a lease on the profile's containers until it ends. Its id is the holder
of its holds in the fleet (fleet/models.py ContainerHold)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bunkhouse.core.model import Base, JSONText, UTCDateTime, utcnow


class ProfileLease(Base):
    __tablename__ = "profile_leases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    # The API user who prepared it (None with authentication off).
    owner: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # The containers it holds, as the profile listed them when it was prepared.
    containers: Mapped[list] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Set when it ended: released, expired, or ended by a reload that removed its profile.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), default=None)
