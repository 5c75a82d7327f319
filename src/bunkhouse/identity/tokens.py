"""Bearer tokens: make, list, revoke, and authenticate a request by one.

A token looks like bkh_<id>_<secret>. The id finds the row; only the SHA-256 of the whole
token is stored, so the database never holds a usable token (256 random bits need no slow
hash). A token is shown once, when it is made. Revocation and expiry are checked on every
request, so a revoked token stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bunkhouse.config import AuthSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Unauthorized
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.model import utcnow
from bunkhouse.core.paging import Page, read_page
from bunkhouse.identity.models import ApiToken, ApiUser, TokenKind
from bunkhouse.identity.principal import Principal, quota_of

TOKEN_PATTERN = re.compile(r"^bkh_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,100})$")
EXPIRY_MAX_DAYS = 3650
LABEL_MAX = 128


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, user: ApiUser, kind: TokenKind, *, now: datetime, expires_at: datetime | None,
          label: str = "", session_id: str | None = None) -> tuple[ApiToken, str]:
    """A new token row in this transaction, and the token itself (never stored)."""
    token_id = secrets.token_hex(6)
    token = f"bkh_{token_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(id=token_id, user_id=user.id, token_hash=hash_token(token), label=label, created_at=now,
                   expires_at=expires_at, kind=kind, session_id=session_id)
    session.add(row)
    return row, token


def find(session: Session, token: str) -> ApiToken | None:
    """The row of a well-formed token whose secret matches, else None (revoked or expired ones too)."""
    match = TOKEN_PATTERN.fullmatch(token) if isinstance(token, str) else None
    row = session.get(ApiToken, match["id"]) if match else None
    return row if row is not None and hmac.compare_digest(row.token_hash, hash_token(token)) else None


class Tokens:
    def __init__(self, database: Database, settings: AuthSettings, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.settings = settings
        self.clock = clock

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an Authorization header, or 401."""
        if not authorization:
            raise Unauthorized("this route needs a token: send Authorization: Bearer <token>",
                               code="token_missing")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        match = TOKEN_PATTERN.fullmatch(token) if scheme.lower() == "bearer" else None
        if match is None:
            raise Unauthorized("the Authorization header must be 'Bearer <token>' with a bunkhouse token",
                               code="token_invalid")
        with self.database.read() as session:
            row = find(session, token)
            if row is None:
                raise Unauthorized("unknown token", code="token_invalid")
            if row.revoked_at is not None:
                raise Unauthorized("this token was revoked", code="token_revoked")
            if row.expires_at is not None and row.expires_at <= self.clock():
                raise Unauthorized("this token has expired", code="token_expired")
            if row.kind == TokenKind.REFRESH:
                raise Unauthorized("a refresh token only gets a new access token (POST /api/v1/auth/refresh)",
                                   code="token_invalid")
            if not row.user.is_active:
                raise Unauthorized("this user is deactivated", code="user_inactive")
            return Principal(row.user.name, row.user.role, quota_of(row.user, self.settings), row.id,
                             team_id=row.user.team_id, session_id=row.session_id)

    def create(self, user_name: str, *, actor: str, label: str = "",
               expires_in_days: int | None = None) -> tuple[ApiToken, str]:
        """A new token for a user: the row, and the token itself (shown once, never stored)."""
        if expires_in_days is not None and (isinstance(expires_in_days, bool)
                                            or not 1 <= expires_in_days <= EXPIRY_MAX_DAYS):
            raise BadRequest(f"expires_in_days must be between 1 and {EXPIRY_MAX_DAYS}",
                             code="invalid_expires_in_days", field="expires_in_days")
        if len(label) > LABEL_MAX:
            raise BadRequest(f"label is at most {LABEL_MAX} characters", code="invalid_label", field="label")
        now = self.clock()
        with self.database.write() as session:
            user = get_or_404(session, ApiUser, "user", "user_not_found", name=user_name)
            row, token = issue(session, user, TokenKind.API, label=label, now=now,
                               expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None)
            token_id = row.id
            events.record(session, "token_created", actor, at=now, detail={
                "user": user_name, "token_id": token_id, "label": label, "expires_in_days": expires_in_days})
            session.flush()
            session.refresh(row)
        return row, token

    def page_of(self, user_name: str, *, limit: int, cursor: str | None) -> Page:
        with self.database.read() as session:
            user = get_or_404(session, ApiUser, "user", "user_not_found", name=user_name)
            return read_page(session, select(ApiToken).where(ApiToken.user_id == user.id),
                             [ApiToken.created_at, ApiToken.id], limit=limit, cursor=cursor)

    def get(self, token_id: str) -> ApiToken:
        with self.database.read() as session:
            return get_or_404(session, ApiToken, "token", "token_not_found", id=token_id)

    def revoke(self, token_id: str, *, actor: str) -> ApiToken:
        """Revoke a token (idempotent): it stops working with the next request."""
        with self.database.write() as session:
            row = get_or_404(session, ApiToken, "token", "token_not_found", id=token_id)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                events.record(session, "token_revoked", actor, at=self.clock(),
                              detail={"user": row.user.name, "token_id": token_id})
        return row
