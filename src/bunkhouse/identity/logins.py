"""Logins (seed 003's /auth routes): register, log in with a password, trade a refresh token
for a new pair, log out.

A login makes a session: a short-lived access token (it calls the API) and a refresh token
(it only trades itself for a new pair, and lives until the session's end, fixed at login).
Both are bunkhouse tokens (tokens.py): stored as SHA-256, revocable, checked on every request.
A refresh token is spent when used; one presented again is a stolen copy or a replay, so the
whole session is revoked. Logout revokes the session (an API token: itself)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bunkhouse.config import LoginSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Forbidden, Unauthorized
from bunkhouse.core.model import utcnow
from bunkhouse.identity.models import ApiToken, ApiUser, Role, TokenKind
from bunkhouse.identity.passwords import LoginPasswords
from bunkhouse.identity.principal import Principal
from bunkhouse.identity.teams import Teams
from bunkhouse.identity.tokens import find, issue
from bunkhouse.identity.users import API_USER_NAME_PATTERN, ApiUsers, check_grant

USERNAME_MIN, USERNAME_MAX = 3, 50  # seed 003's bounds (inside bunkhouse's name rule)
_WRONG = "wrong user name or password"
_NAME = re.compile(API_USER_NAME_PATTERN)


class Logins:
    def __init__(self, database: Database, users: ApiUsers, teams: Teams, passwords: LoginPasswords,
                 settings: LoginSettings, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.users = users
        self.teams = teams
        self.passwords = passwords
        self.settings = settings
        self.clock = clock

    def register(self, body: dict, *, caller: Principal | None) -> ApiUser:
        """A new user with a password. Anyone with an invite (onto its team), an admin or a
        manager (any role they may grant, any team), or anyone when self-registration is on."""
        username, role, invite = body["username"], body.get("role") or Role.USER, body.get("invite")
        if not isinstance(username, str) or not USERNAME_MIN <= len(username) <= USERNAME_MAX:
            raise BadRequest(f"username is {USERNAME_MIN} to {USERNAME_MAX} characters", code="invalid_username",
                             field="username")
        managing = caller is not None and caller.is_manager
        if managing:
            check_grant(caller, None, role)
        elif role != Role.USER or body.get("team_id"):
            raise Forbidden("only an admin or a manager registers a user with a role or a team", code="managers_only")
        elif invite is None and not self.settings.self_registration:
            raise Forbidden("registration is closed (BUNKHOUSE_SELF_REGISTRATION is off): ask an admin for an "
                            "account or a team invite", code="registration_closed")
        if invite is not None:
            self.teams.check_invite(invite)  # before the slow hash: a bad code costs no CPU
        password_hash = self.passwords.hash(body["password"])  # slow: before the transaction
        with self.database.write() as session:
            team_id = self.teams.spend_invite(session, invite, username) if invite else body.get("team_id")
            profile = {"email": body.get("email"), "zone": body.get("zone"), "team_id": team_id,
                       "password_hash": password_hash}
            try:
                return self.users.add(session, username, role, actor=caller.name if managing else username,
                                      profile=profile)
            except BadRequest as error:
                raise error.renamed({"name": "username"}) from None

    def login(self, username: object, password: object) -> dict:
        # A name no user can have (a NUL, 10 kB) is not looked up (PostgreSQL refuses a NUL):
        # it is a wrong login like any other, at the same cost.
        with self.database.read() as session:
            user = session.scalar(select(ApiUser).where(ApiUser.name == username)) \
                if isinstance(username, str) and _NAME.fullmatch(username) else None
            hashed = user.password_hash if user is not None else None
        if not isinstance(password, str) or not self.passwords.verify(hashed, password):
            raise Unauthorized(_WRONG, code="invalid_credentials")
        if not user.is_active:
            raise Unauthorized("this user is deactivated", code="user_inactive")
        now = self.clock()
        with self.database.write() as session:
            user = session.get(ApiUser, user.id)
            if self.passwords.needs_rehash(hashed):
                user.password_hash = self.passwords.hasher.hash(password)
            pair = self._pair(session, user, secrets.token_hex(16), now,
                              now + timedelta(hours=self.settings.refresh_token_hours))
            events.record(session, "login", user.name, at=now, detail={"session_id": pair.pop("_session")})
        return pair

    def refresh(self, refresh_token: object) -> dict:
        now = self.clock()
        replayed = None
        with self.database.write() as session:
            row = find(session, refresh_token)
            if row is None or row.kind != TokenKind.REFRESH:
                raise Unauthorized("not a refresh token of a login", code="token_invalid")
            if row.revoked_at is None and row.expires_at is not None and row.expires_at <= now:
                raise Unauthorized("this login has ended: log in again", code="token_expired")
            if row.revoked_at is None and not row.user.is_active:
                raise Unauthorized("this user is deactivated", code="user_inactive")
            # Spent by a conditional update: of two requests with the same token at once, one
            # spends it and the other finds it spent (PostgreSQL re-reads the row after the
            # first commits), so the second is a replay, never a second pair.
            spent = row.revoked_at is None and session.execute(
                update(ApiToken).where(ApiToken.id == row.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
                .execution_options(synchronize_session=False)).rowcount == 1
            if spent:
                pair = self._pair(session, row.user, row.session_id, now, row.expires_at)
                pair.pop("_session")
            else:
                replayed = row.session_id
                self._revoke_session(session, row.session_id, now)
                events.record(session, "refresh_replayed", row.user.name, at=now,
                              detail={"session_id": row.session_id})
        if replayed is not None:
            raise Unauthorized("this refresh token was used already: the login is revoked, log in again",
                               code="token_revoked")
        return pair

    def logout(self, caller: Principal) -> int:
        """Revoke the caller's login session (an API token: that token). How many tokens it revoked."""
        now = self.clock()
        with self.database.write() as session:
            if caller.session_id is not None:
                count = self._revoke_session(session, caller.session_id, now)
            else:
                count = session.execute(update(ApiToken).where(ApiToken.id == caller.token_id,
                                                               ApiToken.revoked_at.is_(None))
                                        .values(revoked_at=now)).rowcount
            events.record(session, "logout", caller.name, at=now,
                          detail={"session_id": caller.session_id, "token_id": caller.token_id})
        return count

    def _pair(self, session: Session, user: ApiUser, session_id: str, now: datetime, ends: datetime) -> dict:
        access_ends = min(ends, now + timedelta(minutes=self.settings.access_token_minutes))
        _, access = issue(session, user, TokenKind.ACCESS, now=now, expires_at=access_ends, label="login",
                          session_id=session_id)
        _, refresh = issue(session, user, TokenKind.REFRESH, now=now, expires_at=ends, label="login",
                           session_id=session_id)
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                "expires_in": int((access_ends - now).total_seconds()), "refresh_expires_at": ends,
                "_session": session_id}

    @staticmethod
    def _revoke_session(session: Session, session_id: str, now: datetime) -> int:
        return session.execute(update(ApiToken).where(ApiToken.session_id == session_id,
                                                      ApiToken.revoked_at.is_(None))
                               .values(revoked_at=now)).rowcount
