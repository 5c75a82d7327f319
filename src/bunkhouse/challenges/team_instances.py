"""What a team does with its own instance of a challenge: where it reaches it, the flag check,
a reset to a fresh one and, for a challenge with a lifetime, a renewal. api.py decides who may
(an admin any team, a user their own); this module decides when.

A user's team acts only on an active challenge, and resets only an instance that runs or
failed, before its hard end: what an admin stopped or removed stays so, and a lifetime that is
over is not begun again by the team (an admin's deploy begins a new one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.flags import SecretBox, same_flag
from bunkhouse.challenges.models import Challenge, ChallengeInstance
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.challenges.views import instance_access
from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.errors import Conflict, NotFound
from bunkhouse.core.model import utcnow
from bunkhouse.core.primary import Role


class TeamInstances:
    def __init__(self, database: Database, settings: ChallengeSettings, box: SecretBox, deployer: Deployer,
                 role: Role, *, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.settings = settings
        self.box = box
        self.deployer = deployer
        self.role = role
        self.clock = clock

    def access(self, challenge_id: str, team_id: str, *, by_team: bool = False) -> dict:
        """Seed 003's team access: host, access_url, ports, status (and the instance's end)."""
        with self.database.read() as session:
            challenge, instance = self._instance(session, challenge_id, team_id, by_team)
            return instance_access(instance, challenge, self.settings.public_host)

    def check_flag(self, challenge_id: str, team_id: str, flag: str, *, actor: str, by_team: bool = False) -> dict:
        """Whether `flag` is this team's, only while its instance runs; every try is logged."""
        with self.database.write() as session:
            _, instance = self._instance(session, challenge_id, team_id, by_team)
            if instance.status != I.RUNNING:
                raise _not_running(instance, "flags are checked while it runs")
            correct = same_flag(flag, self.box.open(instance.flag))
            events.record(session, "flag_checked", actor, detail={"challenge": challenge_id, "team": team_id,
                                                                 "correct": correct})
        return {"team_id": team_id, "correct": correct}

    def reset(self, challenge_id: str, team_id: str, *, actor: str, by_team: bool = False) -> dict:
        """The team's instance made anew from the image (its flag and address kept)."""
        self.role.require_acting()
        with self.database.write() as session:
            _, instance = self._instance(session, challenge_id, team_id, by_team)
            if by_team:
                self._refuse_team_reset(instance)
            instance.status = I.PENDING
            events.record(session, "challenge_instance_reset", actor,
                          detail={"challenge": challenge_id, "team": team_id})
            instance_id = instance.id
        self.deployer.submit({instance_id: "recreated"})
        return self.access(challenge_id, team_id)

    def renew(self, challenge_id: str, team_id: str, *, actor: str, by_team: bool = False) -> dict:
        """The instance's end moved a lifetime on from now, never past its hard end (idempotent:
        renewing again at once moves nothing)."""
        now = self.clock()
        with self.database.write() as session:
            challenge, instance = self._instance(session, challenge_id, team_id, by_team)
            lifetime = challenge.config.get("lifetime_minutes")
            if not lifetime:
                raise Conflict("this challenge gives its instances no lifetime: there is nothing to renew",
                               code="no_lifetime")
            if instance.status != I.RUNNING or instance.ends_at is None:
                raise _not_running(instance, "only a running one is renewed")
            until = max(min(now + timedelta(minutes=lifetime), instance.ends_at), instance.expires_at or now)
            # Conditional: the janitor may have taken it for removal since it was read.
            moved = session.execute(update(ChallengeInstance).where(
                ChallengeInstance.id == instance.id, ChallengeInstance.status == I.RUNNING)
                .values(expires_at=until).execution_options(synchronize_session=False)).rowcount
            if not moved:
                raise Conflict(f"the instance of {team_id} is ending", code="instance_not_running")
            events.record(session, "challenge_instance_renewed", actor, at=now,
                          detail={"challenge": challenge_id, "team": team_id, "until": until.isoformat()})
        return self.access(challenge_id, team_id)

    def _refuse_team_reset(self, instance: ChallengeInstance) -> None:
        if instance.status not in (I.RUNNING, I.FAILED):
            raise _not_running(instance, "a team resets a running or failed one (an admin deploys the others)")
        if instance.ends_at is not None and instance.ends_at <= self.clock():
            raise Conflict(f"the time of {instance.team_id}'s instance is over (its hard end passed): an admin may "
                           "deploy it again", code="lifetime_over")

    @staticmethod
    def _instance(session: Session, challenge_id: str, team_id: str, by_team: bool
                  ) -> tuple[Challenge, ChallengeInstance]:
        """The challenge and the team's instance; for a team, only of an active challenge."""
        challenge = session.get(Challenge, challenge_id)
        if challenge is None or (by_team and not challenge.is_active):
            raise NotFound(f"no challenge {challenge_id}", code="challenge_not_found", challenge_id=challenge_id)
        instance = session.scalar(select(ChallengeInstance).where(ChallengeInstance.challenge_id == challenge_id,
                                                                  ChallengeInstance.team_id == team_id))
        if instance is None:
            raise NotFound(f"team {team_id} has no instance of this challenge", code="instance_not_found",
                           team_id=team_id)
        return challenge, instance


def _not_running(instance: ChallengeInstance, why: str) -> Conflict:
    return Conflict(f"the instance of {instance.team_id} is {instance.status}: {why}", code="instance_not_running",
                    status_now=instance.status)
