"""API users: create, change, list. Every change is in the event log with its actor."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from bunkhouse.config import AuthSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Conflict
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.model import utcnow
from bunkhouse.core.paging import Page, read_page
from bunkhouse.identity.models import ROLES, ApiUser, Role
from bunkhouse.identity.principal import QUOTA_FIELDS

# An API user's name (not a Linux account name: those are the reservations' rules). Matched
# whole (fullmatch): `$` alone would also accept the name with a newline after it.
API_USER_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
_API_USER_NAME = re.compile(API_USER_NAME_PATTERN)
QUOTA_MAX = 100000


class ApiUsers:
    def __init__(self, database: Database, settings: AuthSettings, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.settings = settings
        self.clock = clock

    def create(self, name: str, role: str = Role.USER, *, actor: str, **quota: int | None) -> ApiUser:
        check_name(name)
        _check_role(role)
        _check_quota(quota)
        with self.database.write() as session:
            if session.scalar(select(ApiUser.id).where(ApiUser.name == name)) is not None:
                raise Conflict(f"user {name} exists", code="user_exists", name=name)
            user = ApiUser(name=name, role=role, created_at=self.clock(), **quota)
            session.add(user)
            events.record(session, "user_created", actor, detail={"name": name, "role": role, **quota},
                          at=self.clock())
        return user

    def update(self, name: str, *, actor: str, **changes) -> ApiUser:
        """Change a user's role or quota (a quota set to None goes back to the default)."""
        role = changes.pop("role", None)
        if role is not None:
            _check_role(role)
        _check_quota(changes)
        with self.database.write() as session:
            user = get_or_404(session, ApiUser, "user", "user_not_found", name=name)
            if role is not None:
                user.role = role
            for field, value in changes.items():
                setattr(user, field, value)
            events.record(session, "user_changed", actor,
                          detail={"name": name, **({"role": role} if role else {}), **changes}, at=self.clock())
        return user

    def page(self, *, limit: int, cursor: str | None) -> Page:
        with self.database.read() as session:
            return read_page(session, select(ApiUser), [ApiUser.name], limit=limit, cursor=cursor)

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
