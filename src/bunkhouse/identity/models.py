"""API users and their tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bunkhouse.core.model import Base, UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


ROLES = tuple(role.value for role in Role)


class ApiUser(Base):
    """Someone who calls the API. Quota columns left empty take the configured defaults."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    max_nodes: Mapped[int | None] = mapped_column(Integer, default=None)
    max_duration_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    max_lease_minutes: Mapped[int | None] = mapped_column(Integer, default=None)


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored: the token itself is shown once."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the public part of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[ApiUser] = relationship(lazy="joined")
