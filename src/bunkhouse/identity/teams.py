"""Teams of API users, and the one-time invites that register someone onto a team.

A team's id is the team id of challenge instances (team-001 .. team-NNN, as seed 003 deploys
them): a user of team-002 sees team-002's instance of every challenge. An invite code looks
like bki_<id>_<secret>; only its SHA-256 is stored, and registering with it spends it in the
same transaction that makes the user, so one code never makes two users."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Conflict, Forbidden, NotFound
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.model import utcnow
from bunkhouse.identity.models import ApiUser, Team, TeamInvite

TEAM_ID_PATTERN = r"^team-[0-9]{3,4}$"
_TEAM_ID = re.compile(TEAM_ID_PATTERN)
TEAM_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"
_TEAM_NAME = re.compile(TEAM_NAME_PATTERN)
_INVITE = re.compile(r"^bki_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{20,100})$")
_INVITE_ID = re.compile(r"^[0-9a-f]{16}$")


def check_team_id(team_id: object, field: str = "team_id") -> None:
    if not isinstance(team_id, str) or not _TEAM_ID.fullmatch(team_id):
        raise BadRequest(f"{field} must be a team id such as team-001", code=f"invalid_{field}", field=field)


class Teams:
    def __init__(self, database: Database, invite_hours: int, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.invite_hours = invite_hours
        self.clock = clock

    def create(self, name: str, *, team_id: str | None = None, actor: str) -> dict:
        if not isinstance(name, str) or not _TEAM_NAME.fullmatch(name):
            raise BadRequest("a team name is 1-64 characters: letters, digits, spaces, '_', '.' or '-', starting "
                             "with a letter or digit", code="invalid_name", field="name")
        if team_id is not None:
            check_team_id(team_id, "id")
        with self.database.write() as session:
            if session.scalar(select(Team.id).where(Team.name == name)) is not None:
                raise Conflict(f"a team named {name} exists", code="team_exists", name=name)
            team_id = team_id or _next_id(session)
            if session.get(Team, team_id) is not None:
                raise Conflict(f"team {team_id} exists", code="team_exists", id=team_id)
            team = Team(id=team_id, name=name, created_at=self.clock())
            session.add(team)
            events.record(session, "team_created", actor, detail={"team_id": team_id, "name": name}, at=self.clock())
            return self._view(session, team)

    def list(self) -> list[dict]:
        with self.database.read() as session:
            return [self._view(session, team) for team in session.scalars(select(Team).order_by(Team.id))]

    def get(self, team_id: str) -> dict:
        check_team_id(team_id)
        with self.database.read() as session:
            return self._view(session, get_or_404(session, Team, "team", "team_not_found", id=team_id))

    def delete(self, team_id: str, *, actor: str) -> None:
        """Delete an empty team (its members must be moved or deleted first), with its invites."""
        check_team_id(team_id)
        with self.database.write() as session:
            team = get_or_404(session, Team, "team", "team_not_found", id=team_id)
            members = session.scalar(select(func.count()).select_from(ApiUser).where(ApiUser.team_id == team_id))
            if members:
                raise Conflict(f"team {team_id} has {members} members: move them to another team first",
                               code="team_not_empty", members=members)
            for invite in session.scalars(select(TeamInvite).where(TeamInvite.team_id == team_id)):
                session.delete(invite)
            session.delete(team)
            events.record(session, "team_deleted", actor, detail={"team_id": team_id}, at=self.clock())

    def invite(self, team_id: str, *, actor: str) -> dict:
        """A one-time code that registers its holder onto this team (shown once)."""
        check_team_id(team_id)
        now = self.clock()
        invite_id = secrets.token_hex(8)
        code = f"bki_{invite_id}_{secrets.token_urlsafe(24)}"
        with self.database.write() as session:
            get_or_404(session, Team, "team", "team_not_found", id=team_id)
            invite = TeamInvite(id=invite_id, team_id=team_id, code_hash=_hash(code), created_by=actor,
                                created_at=now, expires_at=now + timedelta(hours=self.invite_hours))
            session.add(invite)
            events.record(session, "invite_created", actor, detail={"team_id": team_id, "invite_id": invite_id},
                          at=now)
        return {"id": invite_id, "team_id": team_id, "code": code, "expires_at": invite.expires_at}

    def invites(self, team_id: str) -> list[dict]:
        """The team's invites, newest first, without their codes (never stored)."""
        check_team_id(team_id)
        with self.database.read() as session:
            get_or_404(session, Team, "team", "team_not_found", id=team_id)
            rows = session.scalars(select(TeamInvite).where(TeamInvite.team_id == team_id)
                                   .order_by(TeamInvite.created_at.desc(), TeamInvite.id))
            return [{"id": row.id, "team_id": row.team_id, "created_by": row.created_by, "created_at": row.created_at,
                     "expires_at": row.expires_at, "used_at": row.used_at, "used_by": row.used_by} for row in rows]

    def revoke_invite(self, team_id: str, invite_id: str, *, actor: str) -> None:
        """An unused invite deleted (its code registers nobody); a used one is kept as a record (409)."""
        check_team_id(team_id)
        with self.database.write() as session:
            invite = session.get(TeamInvite, invite_id) if _INVITE_ID.fullmatch(invite_id) else None
            if invite is None or invite.team_id != team_id:
                raise NotFound(f"team {team_id} has no invite {invite_id[:32]}", code="invite_not_found")
            if invite.used_at is not None:
                raise Conflict(f"invite {invite_id} was used by {invite.used_by}: it is kept", code="invite_used")
            session.delete(invite)
            events.record(session, "invite_revoked", actor, detail={"team_id": team_id, "invite_id": invite_id},
                          at=self.clock())

    def check_invite(self, code: object) -> None:
        """Refuse an unknown, used or expired invite (cheaply, before a password is hashed)."""
        with self.database.read() as session:
            self._usable(session, code)

    def spend_invite(self, session: Session, code: object, user_name: str) -> str:
        """The team of an unused, unexpired invite, spent on this user in the caller's transaction."""
        invite = self._usable(session, code)
        # A conditional update, not a read then a write: of two registrations racing with one
        # code, one changes the row and the other finds it used.
        spent = session.execute(update(TeamInvite).where(TeamInvite.id == invite.id, TeamInvite.used_at.is_(None))
                                .values(used_at=self.clock(), used_by=user_name))
        if spent.rowcount != 1:
            raise Forbidden("that invite was used already", code="invite_used", field="invite")
        return invite.team_id

    def _usable(self, session: Session, code: object) -> TeamInvite:
        match = _INVITE.fullmatch(code) if isinstance(code, str) else None
        invite = session.get(TeamInvite, match["id"]) if match else None
        if invite is None or not hmac.compare_digest(invite.code_hash, _hash(code)):
            raise Forbidden("that invite is not known", code="invite_invalid", field="invite")
        if invite.used_at is not None:
            raise Forbidden("that invite was used already", code="invite_used", field="invite")
        if invite.expires_at <= self.clock():
            raise Forbidden("that invite has expired", code="invite_expired", field="invite")
        return invite

    @staticmethod
    def _view(session: Session, team: Team) -> dict:
        members = session.scalars(select(ApiUser.name).where(ApiUser.team_id == team.id).order_by(ApiUser.name))
        return {"id": team.id, "name": team.name, "created_at": team.created_at, "members": list(members)}


def _next_id(session: Session) -> str:
    numbers = [int(team_id.removeprefix("team-")) for team_id in session.scalars(select(Team.id))]
    return f"team-{max(numbers, default=0) + 1:03d}"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
