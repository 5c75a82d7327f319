"""API users, the teams they belong to, the invites that put them on one, and their tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bunkhouse.core.model import Base, UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"  # everything (seed 003's Master)
    MANAGER = "manager"  # manages users, teams and invites, views every challenge (seed 003's Admin)
    USER = "user"  # their own reservations and containers, their team's instances (seed 003's User)


ROLES = tuple(role.value for role in Role)
# Seed 003's names of the roles, on its routes.
SEED_ROLE_NAMES = {Role.ADMIN: "Master", Role.MANAGER: "Admin", Role.USER: "User"}
ROLE_OF_SEED_NAME = {name: role for role, name in SEED_ROLE_NAMES.items()}


class TokenKind(StrEnum):
    API = "api"  # made by an admin for a user or a script; lives until revoked or its expiry
    ACCESS = "access"  # from a login: short-lived
    REFRESH = "refresh"  # from a login: only trades itself for a new pair, never calls the API


class Team(Base):
    """A team of users: its id is the team id of challenge instances (team-001)."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiUser(Base):
    """Someone who calls the API. Quota columns left empty take the configured defaults."""

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email", "email", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    max_nodes: Mapped[int | None] = mapped_column(Integer, default=None)
    max_duration_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    max_lease_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    # Seed 003's fields, and a password for /auth/login (Argon2id; None: no login, tokens only).
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    zone: Mapped[str | None] = mapped_column(String(50), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True, default=None)


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
    kind: Mapped[str] = mapped_column(String(8), default=TokenKind.API)
    # The login a token came from: logout, or a refresh token used twice, revokes all of it.
    session_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)

    user: Mapped[ApiUser] = relationship(lazy="joined")


class TeamInvite(Base):
    """A one-time code that registers its holder onto a team. Only its SHA-256 is stored."""

    __tablename__ = "team_invites"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    used_by: Mapped[str | None] = mapped_column(String(64), default=None)
