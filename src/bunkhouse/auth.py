"""API users, their bearer tokens and quotas: create, list, revoke, authenticate.

A token looks like bkh_<id>_<secret>. The id finds the row; only the SHA-256 of the whole
token is stored, so the database never holds a usable token (256 random bits need no slow
hash). A token is shown once, when it is made. Revocation and expiry are checked on every
request, so a revoked token stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bunkhouse.config import Config
from bunkhouse.errors import BadRequest, Conflict, NotFound, Unauthorized
from bunkhouse.models import ADMIN, USER, Event, Token, User, utcnow

ROLES = (ADMIN, USER)
USER_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
_USER_NAME = re.compile(USER_NAME_PATTERN)
_TOKEN = re.compile(r"^bkh_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
BOOTSTRAP_ADMIN = "admin"


@dataclass(frozen=True)
class Quota:
    """What one user may hold; None: no per-user limit (the global settings still apply)."""

    max_nodes: int | None
    max_duration_minutes: int | None
    max_lease_minutes: int | None


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    name: str
    role: str
    quota: Quota
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


NO_QUOTA = Quota(None, None, None)
# Authentication off (BUNKHOUSE_AUTH=off): every caller is this, with every right.
ANONYMOUS = Principal("anonymous", ADMIN, NO_QUOTA)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def quota_of(user: User, config: Config) -> Quota:
    """A user's quota: their own values, else the configured defaults (admins: no default)."""
    defaults = (
        Quota(config.user_max_nodes, config.user_max_duration_minutes, config.user_max_lease_minutes)
        if user.role == USER else NO_QUOTA
    )
    return Quota(
        user.max_nodes if user.max_nodes is not None else defaults.max_nodes,
        user.max_duration_minutes if user.max_duration_minutes is not None else defaults.max_duration_minutes,
        user.max_lease_minutes if user.max_lease_minutes is not None else defaults.max_lease_minutes,
    )


class Accounts:
    def __init__(self, config: Config, sessions: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.config = config
        self.sessions = sessions
        self.clock = clock

    # ---- authentication ----------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an Authorization header, or 401."""
        if not authorization:
            raise Unauthorized("this route needs a token: send Authorization: Bearer <token>",
                               code="token_missing")
        scheme, _, token = authorization.partition(" ")
        match = _TOKEN.match(token.strip()) if scheme.lower() == "bearer" else None
        if match is None:
            raise Unauthorized("the Authorization header must be 'Bearer <token>' with a bunkhouse token",
                               code="token_invalid")
        with self.sessions() as session:
            row = session.get(Token, match.group(1))
            if row is None or not hmac.compare_digest(row.token_hash, hash_token(token.strip())):
                raise Unauthorized("unknown token", code="token_invalid")
            if row.revoked_at is not None:
                raise Unauthorized("this token was revoked", code="token_revoked")
            if row.expires_at is not None and row.expires_at <= self.clock():
                raise Unauthorized("this token has expired", code="token_expired")
            return Principal(row.user.name, row.user.role, quota_of(row.user, self.config), row.id)

    # ---- users -------------------------------------------------------------------------

    def create_user(self, name: str, role: str = USER, *, actor: str, **quota: int | None) -> User:
        _check_user_name(name)
        _check_role(role)
        _check_quota(quota)
        with self.sessions.begin() as session:
            if session.scalar(select(User).where(User.name == name)) is not None:
                raise Conflict(f"user {name} exists", code="user_exists", name=name)
            user = User(name=name, role=role, created_at=self.clock(), **quota)
            session.add(user)
            self._event(session, "user_created", actor, {"name": name, "role": role, **quota})
        return user

    def update_user(self, name: str, *, actor: str, **changes) -> User:
        """Change a user's role or quota (a quota set to None goes back to the default)."""
        role = changes.pop("role", None)
        if role is not None:
            _check_role(role)
        _check_quota(changes)
        with self.sessions.begin() as session:
            user = _user_or_404(session, name)
            if role is not None:
                user.role = role
            for field, value in changes.items():
                setattr(user, field, value)
            self._event(session, "user_changed", actor, {"name": name, **({"role": role} if role else {}), **changes})
        return user

    def users(self) -> list[User]:
        with self.sessions() as session:
            return list(session.scalars(select(User).order_by(User.name)))

    def user(self, name: str) -> User:
        with self.sessions() as session:
            return _user_or_404(session, name)

    # ---- tokens ------------------------------------------------------------------------

    def create_token(self, user_name: str, *, actor: str, label: str = "",
                     expires_in_days: int | None = None) -> tuple[Token, str]:
        """A new token for a user: the row, and the token itself (shown once, never stored)."""
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise BadRequest("expires_in_days must be between 1 and 3650", code="invalid_expiry",
                             field="expires_in_days")
        if len(label) > 128:
            raise BadRequest("label is at most 128 characters", code="invalid_label", field="label")
        token_id = secrets.token_hex(6)
        token = f"bkh_{token_id}_{secrets.token_urlsafe(32)}"
        now = self.clock()
        with self.sessions.begin() as session:
            user = _user_or_404(session, user_name)
            row = Token(id=token_id, user_id=user.id, token_hash=hash_token(token), label=label, created_at=now,
                        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None)
            session.add(row)
            self._event(session, "token_created", actor, {"user": user_name, "token_id": token_id, "label": label,
                                                          "expires_in_days": expires_in_days})
            session.flush()
            session.refresh(row)
        return row, token

    def tokens(self, user_name: str) -> list[Token]:
        with self.sessions() as session:
            user = _user_or_404(session, user_name)
            return list(session.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.created_at)))

    def token(self, token_id: str) -> Token:
        with self.sessions() as session:
            row = session.get(Token, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}", code="token_not_found")
            return row

    def revoke_token(self, token_id: str, *, actor: str) -> Token:
        """Revoke a token (idempotent): it stops working with the next request."""
        with self.sessions.begin() as session:
            row = session.get(Token, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}", code="token_not_found")
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                self._event(session, "token_revoked", actor, {"user": row.user.name, "token_id": token_id})
        return row

    # ---- first start -------------------------------------------------------------------

    def bootstrap_admin(self, token_file: Path) -> str | None:
        """On a first start with no admin: make one, with a token written to token_file
        (mode 0600) and returned, so the caller can show it once. None when an admin exists."""
        with self.sessions() as session:
            if session.scalar(select(User.id).where(User.role == ADMIN).limit(1)) is not None:
                return None
        try:
            self.create_user(BOOTSTRAP_ADMIN, ADMIN, actor="bootstrap")
        except Conflict:
            # Another process of the deployment made it first, or "admin" exists as a user.
            return None
        _, token = self.create_token(BOOTSTRAP_ADMIN, actor="bootstrap", label="first start")
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.unlink(missing_ok=True)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return token

    def _event(self, session: Session, kind: str, actor: str, detail: dict) -> None:
        session.add(Event(at=self.clock(), kind=kind, actor=actor, detail=detail))


def _user_or_404(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name}", code="user_not_found", name=name)
    return user


def _check_user_name(name: str) -> None:
    if not isinstance(name, str) or not _USER_NAME.match(name):
        raise BadRequest("a user name is 1-64 characters: a lowercase letter, then lowercase letters, digits, "
                         "'_', '.' or '-'", code="invalid_user_name", field="name")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role", field="role")


def _check_quota(quota: dict) -> None:
    for field, value in quota.items():
        if field not in ("max_nodes", "max_duration_minutes", "max_lease_minutes"):
            raise BadRequest(f"unknown field {field}", code="invalid_field", field=field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100000):
            raise BadRequest(f"{field} must be a whole number from 1 to 100000, or null for the default",
                             code="invalid_quota", field=field)
