"""Challenges (admin): create, list, get, update, delete; deploy one instance per team, stop,
stats. What a team does with its own instance is team_instances.py. No Flask here: api.py
presents both.

Every instance keeps its ports and flag from its first deploy until its challenge is deleted
(or total_teams lowered past it): a redeploy, a stop or a restart of bunkhouse gives the team
the same address. Deploys answer at once; the Deployer's runs make the instances."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bunkhouse.challenges import naming
from bunkhouse.challenges.allocation import free_network, new_instance
from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.flags import SecretBox, make_flag
from bunkhouse.challenges.images import AllowList
from bunkhouse.challenges.models import Challenge, ChallengeInstance, PublishedPort
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.challenges.spec import config_of
from bunkhouse.challenges.views import challenge_view
from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import BadRequest, Conflict, Unavailable
from bunkhouse.core.lookup import get_or_404
from bunkhouse.core.model import utcnow
from bunkhouse.core.primary import Role
from bunkhouse.fleet.pool import natural_key

log = logging.getLogger(__name__)


class ChallengeService:
    def __init__(self, database: Database, settings: ChallengeSettings, allow_list: AllowList, box: SecretBox,
                 deployer: Deployer, role: Role, *, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.settings = settings
        self.allow_list = allow_list
        self.box = box
        self.deployer = deployer
        self.role = role
        self.clock = clock

    # ---- challenges --------------------------------------------------------------------------

    def create(self, body: dict[str, Any], *, created_by: str | None) -> dict:
        config = config_of(body["config"], self.allow_list, self.settings)
        self._check_teams(body["total_teams"])
        try:
            return self._create(body, config, created_by)
        except IntegrityError:  # another create took the name or the network number meanwhile (PostgreSQL)
            raise Conflict("another challenge was created at the same moment with this name or network; try again",
                           code="challenge_exists", field="name") from None

    def _create(self, body: dict[str, Any], config, created_by: str | None) -> dict:
        with self.database.write() as session:
            if session.scalar(select(Challenge.id).where(Challenge.name == body["name"])):
                raise Conflict(f"a challenge named {body['name']} exists", code="challenge_exists", field="name")
            if body.get("assign_id") and session.scalar(select(Challenge.id).where(
                    Challenge.assign_key == body["assign_id"])):
                raise Conflict(f"a challenge has assign_id {body['assign_id']}", code="challenge_exists",
                               field="assign_id")
            challenge = Challenge(id=uuid.uuid4().hex, name=body["name"], description=body["description"],
                                  config=config.stored(), total_teams=body["total_teams"],
                                  is_active=body["is_active"], network_index=free_network(session, self.settings),
                                  environment=self.box.seal(json.dumps(config.environment))
                                  if config.environment else None, created_by=created_by,
                                  assign_key=body.get("assign_id"))
            session.add(challenge)
            events.record(session, "challenge_created", created_by or "anonymous",
                          detail={"challenge": challenge.id, "name": challenge.name})
            session.flush()
            return self._view(session, challenge)

    def list(self, skip: int, limit: int, *, active_only: bool = False) -> dict:
        shown = select(Challenge).where(Challenge.is_active.is_(True)) if active_only else select(Challenge)
        with self.database.read() as session:
            rows = session.scalars(shown.order_by(Challenge.created_at, Challenge.id).offset(skip).limit(limit)).all()
            total = session.scalar(select(func.count()).select_from(shown.subquery()))
            return {"challenges": [self._view(session, row) for row in rows], "total": total}

    def get(self, challenge_id: str, *, with_flags: bool = False) -> dict:
        with self.database.read() as session:
            return self._view(session, self._challenge(session, challenge_id), with_flags=with_flags)

    def update(self, challenge_id: str, body: dict[str, Any], *, actor: str) -> dict:
        """description, is_active, total_teams: raised, the new teams' instances are deployed if
        the challenge runs; lowered, the highest team ids go. Checked before anything changes."""
        teams = "total_teams" in body
        if teams:
            self._check_teams(body["total_teams"])
            self.role.require_acting()
        with self.database.write() as session:
            challenge = self._challenge(session, challenge_id)
            if teams:
                refuse_assigned(challenge)
            for field in ("description", "is_active"):
                if field in body:
                    setattr(challenge, field, body[field])
            running = any(row.status in (I.RUNNING, I.STARTING, I.PENDING)
                          for row in self._instances(session, challenge_id))
            if teams:
                challenge.total_teams = body["total_teams"]
            active = challenge.is_active
        if teams:
            self._remove_beyond(challenge_id, body["total_teams"])
            if running and active:
                self._deploy_new(challenge_id, actor=actor)
        return self.get(challenge_id)

    def _deploy_new(self, challenge_id: str, *, actor: str) -> None:
        """Instances for the teams that have none; the others are left as they are."""
        with self.database.write() as session:
            challenge = self._challenge(session, challenge_id)
            known = {row.team_id for row in self._instances(session, challenge_id)}
            changes = {new_instance(session, challenge, team_id, self.settings, self.box).id: "started"
                       for team_id in naming.team_ids(challenge.total_teams) if team_id not in known}
            events.record(session, "challenge_deployed", actor, detail={"challenge": challenge_id,
                                                                       "instances": len(changes)})
        self.deployer.submit(changes)

    def delete(self, challenge_id: str, *, actor: str) -> None:
        """Every instance removed (and the network), then the challenge; a 503 naming the
        instances whose removal failed, the challenge kept (inactive)."""
        self.role.require_acting()
        with self.database.write() as session:  # inactive first: its pool (pools.py) makes no new member
            self._challenge(session, challenge_id).is_active = False
        settled = {}
        for attempt in range(2):  # again for a member a pool round made meanwhile
            with self.database.read() as session:
                ids = [row.id for row in self._instances(session, challenge_id) if settled.get(row.id) != I.REMOVED]
            if attempt == 0 or ids:
                settled.update(self.deployer.apply({instance_id: "absent" for instance_id in ids},
                                                   drop_networks=[challenge_id]))
        failed = sorted(instance_id for instance_id, status in settled.items() if status != I.REMOVED)
        if failed:
            raise Unavailable(f"removing {len(failed)} instance(s) failed: the challenge is kept (inactive); try again",
                              code="removal_failed", instances=failed)
        with self.database.write() as session:
            left = set(session.scalars(select(ChallengeInstance.id).where(
                ChallengeInstance.challenge_id == challenge_id))) - set(settled)
            if left:  # made after the removal began (a pool round, an /assign): removed first, next time
                raise Unavailable(f"{len(left)} instance(s) were made while the challenge was being deleted: the "
                                  "challenge is kept (inactive); try again", code="removal_failed",
                                  instances=sorted(left))
            session.execute(delete(PublishedPort).where(PublishedPort.instance_id.in_(
                select(ChallengeInstance.id).where(ChallengeInstance.challenge_id == challenge_id))))
            session.execute(delete(ChallengeInstance).where(ChallengeInstance.challenge_id == challenge_id))
            session.execute(delete(Challenge).where(Challenge.id == challenge_id))
            events.record(session, "challenge_deleted", actor, detail={"challenge": challenge_id})

    # ---- instances ---------------------------------------------------------------------------

    def deploy(self, challenge_id: str, *, force_redeploy: bool = False, new_flags: bool = False,
               actor: str) -> dict:
        """One instance per team: made for teams without one, started where not running (all
        recreated with force_redeploy, their flags kept unless new_flags). Answers at once."""
        self.role.require_acting()
        for attempt in range(3):
            try:
                changes = self._plan_deploy(challenge_id, force_redeploy, new_flags, actor)
                break
            except IntegrityError:  # another request took a port meanwhile (PostgreSQL): pick again
                if attempt == 2:
                    raise
        self.deployer.submit(changes)
        return self.get(challenge_id)

    def _plan_deploy(self, challenge_id: str, force_redeploy: bool, new_flags: bool, actor: str) -> dict[str, str]:
        with self.database.write() as session:
            challenge = self._challenge(session, challenge_id)
            if not challenge.is_active:
                raise Conflict(f"challenge {challenge.name} is not active", code="challenge_inactive")
            refuse_assigned(challenge)
            existing = {row.team_id: row for row in self._instances(session, challenge_id)}
            changes = {}
            for team_id in naming.team_ids(challenge.total_teams):
                instance = existing.get(team_id)
                if instance is None:
                    instance = new_instance(session, challenge, team_id, self.settings, self.box)
                    changes[instance.id] = "started"
                elif force_redeploy:
                    if new_flags:
                        instance.flag = self.box.seal(make_flag(challenge.config["flag_format"]))
                    changes[instance.id] = "recreated"
                elif instance.status not in (I.RUNNING, I.STARTING, I.PENDING):
                    changes[instance.id] = "started"
                if instance.id in changes:
                    instance.status = I.PENDING
            events.record(session, "challenge_deployed", actor, detail={
                "challenge": challenge_id, "instances": len(changes), "force_redeploy": force_redeploy})
        return changes

    def stop(self, challenge_id: str, *, remove_instances: bool, actor: str) -> dict:
        """Every instance stopped (kept), or removed with its network (remove_instances): their
        addresses and flags are kept for the next deploy."""
        self.role.require_acting()
        with self.database.read() as session:
            self._challenge(session, challenge_id)
            ids = [row.id for row in self._instances(session, challenge_id) if row.status != I.REMOVED]
        change = "absent" if remove_instances else "stopped"
        self.deployer.apply({instance_id: change for instance_id in ids},
                            drop_networks=[challenge_id] if remove_instances else ())
        with self.database.write() as session:
            events.record(session, "challenge_stopped", actor, detail={"challenge": challenge_id,
                                                                      "removed": remove_instances})
        return self.get(challenge_id)

    # ---- reads -------------------------------------------------------------------------------

    def stats(self, challenge_id: str) -> dict:
        with self.database.read() as session:
            challenge = self._challenge(session, challenge_id)
            instances = self._instances(session, challenge_id)
        host = self.settings.public_host
        return {"total_instances": len(instances),
                "running_instances": sum(1 for row in instances if row.status == I.RUNNING),
                "failed_instances": sum(1 for row in instances if row.status == I.FAILED),
                "total_teams": challenge.total_teams,
                "ip_allocation": {row.team_id: f"{host}:{min(row.ports.values())}" for row in instances}}

    # ---- helpers -----------------------------------------------------------------------------

    def _check_teams(self, count: int) -> None:
        if count > self.settings.max_teams:
            raise BadRequest(f"total_teams is at most {self.settings.max_teams} (BUNKHOUSE_CHALLENGE_MAX_TEAMS)",
                             code="invalid_total_teams", field="total_teams")

    def _challenge(self, session: Session, challenge_id: str) -> Challenge:
        return get_or_404(session, Challenge, "challenge", "challenge_not_found", id=challenge_id)

    @staticmethod
    def _instances(session: Session, challenge_id: str) -> list[ChallengeInstance]:
        return list(session.scalars(select(ChallengeInstance).where(ChallengeInstance.challenge_id == challenge_id)
                                    .order_by(ChallengeInstance.team_id)))

    def _remove_beyond(self, challenge_id: str, count: int) -> None:
        """The instances of teams past `count` (the highest ids first) removed, rows and all."""
        keep = set(naming.team_ids(count))
        with self.database.read() as session:
            # The highest team numbers first (team-1000 after team-999).
            rows = sorted(self._instances(session, challenge_id), key=lambda row: natural_key(row.team_id))
            beyond = [row.id for row in reversed(rows) if row.team_id not in keep]
        if not beyond:
            return
        self.role.require_acting()
        settled = self.deployer.apply({instance_id: "absent" for instance_id in beyond})
        gone = [instance_id for instance_id, status in settled.items() if status == I.REMOVED]
        with self.database.write() as session:
            session.execute(delete(PublishedPort).where(PublishedPort.instance_id.in_(gone)))
            session.execute(delete(ChallengeInstance).where(ChallengeInstance.id.in_(gone)))

    def _view(self, session: Session, challenge: Challenge, *, with_flags: bool = False) -> dict:
        instances = self._instances(session, challenge.id)
        flags = {row.id: self.box.open(row.flag) for row in instances} if with_flags else None
        return challenge_view(challenge, instances, self.settings.public_host, flags)


def refuse_assigned(challenge: Challenge) -> None:
    """A challenge /assign made has the teams /assign names, not team-001 .. team-NNN."""
    if challenge.assign_key is not None:
        raise Conflict(f"challenge {challenge.name} is seed 000's {challenge.assign_key!r}: its teams come and go"
                       " with /assign and /remove", code="assigned_challenge")
