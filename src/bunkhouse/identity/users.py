"""API users: create, change, list. Every change is in the event log with its actor.

Beside the role and quota, a user has seed 003's fields (email, zone, is_active), a login
password (its hash) and a team. A manager (seed 003's Admin) manages users but cannot make or
change an admin: only an admin grants admin."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bunkhouse.config import AuthSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Conflict, Forbidden
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.model import utcnow
from bunkhouse.core.paging import Page, read_page
from bunkhouse.identity.models import ROLES, ApiToken, ApiUser, Role, Team, TokenKind
from bunkhouse.identity.passwords import LoginPasswords
from bunkhouse.identity.principal import QUOTA_FIELDS, Principal
from bunkhouse.identity.teams import check_team_id

# An API user's name (not a Linux account name: those are the reservations' rules). Matched
# whole (fullmatch): `$` alone would also accept the name with a newline after it.
API_USER_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
_API_USER_NAME = re.compile(API_USER_NAME_PATTERN)
QUOTA_MAX = 100000
PROFILE_FIELDS = ("email", "zone", "is_active", "team_id", "password_hash")
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
EMAIL_MAX = 254
ZONE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,49}$"
_ZONE = re.compile(ZONE_PATTERN)


class ApiUsers:
    def __init__(self, database: Database, settings: AuthSettings, clock: Callable[[], datetime] = utcnow,
                 passwords: LoginPasswords | None = None):
        self.database = database
        self.settings = settings
        self.clock = clock
        self.passwords = passwords or LoginPasswords()

    def create(self, name: str, role: str = Role.USER, *, actor: str, profile: dict | None = None,
               **quota: int | None) -> ApiUser:
        """A new user; a `password` in the profile is stored as its hash."""
        profile = self._hashed(profile or {})
        with self.database.write() as session:
            return self.add(session, name, role, actor=actor, profile=profile, **quota)

    def add(self, session: Session, name: str, role: str = Role.USER, *, actor: str, profile: dict,
            **quota: int | None) -> ApiUser:
        """create() in the caller's transaction (a registration spends its invite in the same one)."""
        check_name(name)
        _check_role(role)
        _check_quota(quota)
        _check_profile(session, profile)
        if session.scalar(select(ApiUser.id).where(ApiUser.name == name)) is not None:
            raise Conflict(f"user {name} exists", code="user_exists", name=name)
        user = ApiUser(name=name, role=role, created_at=self.clock(), **quota, **profile)
        session.add(user)
        session.flush()
        events.record(session, "user_created", actor, at=self.clock(),
                      detail={"name": name, "role": role, **quota, **_shown(profile)})
        return user

    def update(self, name: str, *, actor: str, **changes) -> ApiUser:
        """Change a user's role, quota or profile (a quota set to None goes back to the default)."""
        role = changes.pop("role", None)
        if role is not None:
            _check_role(role)
        profile = self._hashed({field: changes.pop(field) for field in (*PROFILE_FIELDS, "password")
                                if field in changes})
        _check_quota(changes)
        with self.database.write() as session:
            user = get_or_404(session, ApiUser, "user", "user_not_found", name=name)
            _check_profile(session, profile, user.id)
            if role is not None:
                user.role = role
            for field, value in {**changes, **profile}.items():
                setattr(user, field, value)
            # A new password or a deactivation ends the user's logins (the API tokens an admin
            # made stay: a deactivated user's are refused until they are active again).
            ended = 0
            if "password_hash" in profile or profile.get("is_active") is False:
                ended = session.execute(update(ApiToken).where(
                    ApiToken.user_id == user.id, ApiToken.kind.in_([TokenKind.ACCESS, TokenKind.REFRESH]),
                    ApiToken.revoked_at.is_(None)).values(revoked_at=self.clock())
                    .execution_options(synchronize_session=False)).rowcount
            events.record(session, "user_changed", actor, at=self.clock(), detail={
                "name": name, **({"role": role} if role else {}), **changes, **_shown(profile),
                **({"logins_ended": ended} if ended else {})})
        return user

    def _hashed(self, profile: dict) -> dict:
        """The profile with its `password` (if any) replaced by the hash: hashed before any
        transaction opens (it takes a fifth of a second)."""
        if "password" not in profile:
            return profile
        password = profile.pop("password")
        return {**profile, "password_hash": self.passwords.hash(password)}

    def find(self, ref: str) -> ApiUser:
        """A user by id (digits, seed 003's user_id) or by name."""
        with self.database.read() as session:
            if isinstance(ref, str) and ref.isascii() and ref.isdigit() and len(ref) <= 12:
                return get_or_404(session, ApiUser, "user", "user_not_found", id=int(ref))
            return get_or_404(session, ApiUser, "user", "user_not_found", name=ref)

    def page(self, *, limit: int, cursor: str | None) -> Page:
        with self.database.read() as session:
            return read_page(session, select(ApiUser), [ApiUser.name], limit=limit, cursor=cursor)

    def slice(self, skip: int, limit: int) -> list[ApiUser]:
        """Seed 003's paging: users by id, skipping `skip`."""
        with self.database.read() as session:
            return list(session.scalars(select(ApiUser).order_by(ApiUser.id).offset(skip).limit(limit)))

    def get(self, name: str) -> ApiUser:
        with self.database.read() as session:
            return get_or_404(session, ApiUser, "user", "user_not_found", name=name)

    def any_admin(self) -> bool:
        with self.database.read() as session:
            return session.scalar(select(ApiUser.id).where(ApiUser.role == Role.ADMIN).limit(1)) is not None


def check_name(name: object) -> None:
    if not isinstance(name, str) or not _API_USER_NAME.fullmatch(name):
        raise BadRequest("a user name is 1-64 characters: a lowercase letter, then lowercase letters, digits, "
                         "'_', '.' or '-'", code="invalid_name", field="name")


def check_grant(caller: Principal, current_role: str | None, new_role: str | None, *,
                target: str | None = None, deactivating: bool = False, quota: bool = False,
                team: bool = False) -> None:
    """A manager manages users and managers; only an admin makes, changes or grants admin, and
    only an admin sets a quota (a manager would raise their own). Nobody lowers their own role
    or deactivates themself (an admin cannot lock everyone out by mistake)."""
    if target == caller.name and (deactivating or (new_role is not None and new_role != current_role)):
        raise Forbidden("you may not change your own role or deactivate yourself: ask another admin",
                        code="not_yourself")
    if caller.is_admin:
        return
    if target == caller.name and team:  # a manager does not join a team to act as it
        raise Forbidden("you may not change your own team: ask an admin", code="not_yourself")
    if not caller.is_manager:
        raise Forbidden("this route is for admins and managers", code="managers_only")
    if Role.ADMIN in (current_role, new_role):
        raise Forbidden("only an admin makes, changes or grants admin", code="admin_only")
    if quota:
        raise Forbidden("only an admin sets a quota", code="admin_only")


def _check_profile(session: Session, profile: dict, user_id: int | None = None) -> None:
    for field in profile:
        if field not in PROFILE_FIELDS:
            raise BadRequest(f"unknown field {field}", code="invalid_field", field=field)
    email = profile.get("email")
    if email is not None:
        if not isinstance(email, str) or len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
            raise BadRequest("email must be an address such as someone@example.com", code="invalid_email",
                             field="email")
        taken = session.scalar(select(ApiUser.id).where(ApiUser.email == email))
        if taken is not None and taken != user_id:
            raise Conflict("another user has that email", code="email_exists", field="email")
    zone = profile.get("zone")
    if zone is not None and (not isinstance(zone, str) or not _ZONE.fullmatch(zone)):
        raise BadRequest("zone is 2-50 characters: letters, digits, '_', '.' or '-'", code="invalid_zone",
                         field="zone")
    if "is_active" in profile and not isinstance(profile["is_active"], bool):
        raise BadRequest("is_active is true or false", code="invalid_is_active", field="is_active")
    team_id = profile.get("team_id")
    if team_id is not None:
        check_team_id(team_id)
        get_or_404(session, Team, "team", "team_not_found", id=team_id)


def _shown(profile: dict) -> dict:
    """What the event log keeps of a profile change: never the password hash."""
    return {field: value for field, value in profile.items() if field != "password_hash"} | (
        {"password": "changed"} if profile.get("password_hash") else {})


def _check_role(role: object) -> None:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role", field="role")


def _check_quota(quota: dict) -> None:
    for field, value in quota.items():
        if field not in QUOTA_FIELDS:
            raise BadRequest(f"unknown field {field}", code="invalid_field", field=field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 1 <= value <= QUOTA_MAX):
            raise BadRequest(f"{field} must be a whole number from 1 to {QUOTA_MAX}, or null for the default",
                             code=f"invalid_{field}", field=field)
