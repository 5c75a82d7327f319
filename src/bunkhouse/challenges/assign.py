"""Seed 000's way in: /assign gives a team its own instance of a challenge from an allowed image
and answers its address once it runs (the same address again when it is already assigned);
/remove stops and removes it. A challenge_id seen first makes a challenge of its own (its ports
and health check from the image's allow-list entry), whose teams are whoever /assign names; one
made ahead (POST /api/v1/challenges with assign_id) may keep a pool of ready instances, and
/assign then takes one of them at once (pools.py)."""

from __future__ import annotations

import hashlib
import time
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bunkhouse.challenges.allocation import free_network, new_instance
from bunkhouse.challenges.models import Challenge, ChallengeInstance
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.challenges.pools import ChallengePools
from bunkhouse.challenges.service import ChallengeService
from bunkhouse.challenges.spec import config_of
from bunkhouse.challenges.views import access_url
from bunkhouse.core import events
from bunkhouse.core.errors import Conflict, NotFound, Unavailable

# An instance being made: /assign waits for it.
_ON_THE_WAY = (I.PENDING, I.STARTING)


class Assignments:
    def __init__(self, challenges: ChallengeService, wait_seconds: float, pools: ChallengePools):
        self.challenges = challenges
        self.wait_seconds = wait_seconds
        self.pools = pools

    def assign(self, team_id: str, challenge_id: str, image: str, *, actor: str) -> str:
        """The address of the team's running instance ("http://<host>:<port>"), made if needed."""
        challenges = self.challenges
        challenges.role.require_acting()
        entry = challenges.allow_list.get(image, field="image")
        for attempt in range(3):
            try:
                instance_id, challenge_key, start, pooled = self._claim(team_id, challenge_id, entry.image, actor)
                break
            except IntegrityError:  # another /assign made the same challenge or instance meanwhile (PostgreSQL)
                if attempt == 2:
                    raise
        if start:
            challenges.deployer.submit({instance_id: "started"})
        if pooled:  # the pool has one member fewer: another is made in the background
            self.pools.top_up(challenge_key)
        instance = self._wait(instance_id)
        if instance is None:  # its challenge was deleted meanwhile
            raise NotFound(f"challenge {challenge_id} was deleted meanwhile", code="challenge_not_found")
        if instance.status != I.RUNNING:
            raise Unavailable(f"the instance of {team_id} is {instance.status}"
                              + (f": {instance.error}" if instance.error else "") + "; ask again",
                              code="instance_not_ready", status_now=instance.status, challenge=challenge_key)
        return (access_url(instance, challenges.settings.public_host) or "").rstrip("/")

    def _claim(self, team_id: str, challenge_id: str, image: str, actor: str) -> tuple[str, str, bool, bool]:
        """The team's instance (from the challenge's pool, or made, and its challenge, when
        missing): its id, its challenge's, whether it must be started, whether it came from the pool."""
        challenges = self.challenges
        with challenges.database.write() as session:
            challenge = session.scalar(select(Challenge).where(Challenge.assign_key == challenge_id))
            if challenge is None:
                config = config_of({"image": image}, challenges.allow_list, challenges.settings)
                challenge = Challenge(id=uuid.uuid4().hex, name="assign-" + hashlib.sha256(
                    challenge_id.encode()).hexdigest()[:16], description=f"seed 000's challenge {challenge_id}",
                    config=config.stored(), total_teams=0, is_active=True, assign_key=challenge_id,
                    network_index=free_network(session, challenges.settings), created_by=actor)
                session.add(challenge)
                session.flush()
            elif not challenge.is_active:  # (a delete deactivates it first: nothing is made behind it)
                raise Conflict(f"challenge {challenge_id} is not active", code="challenge_inactive")
            elif challenge.config["image"] != image:
                raise Conflict(f"challenge {challenge_id} runs {challenge.config['image']}, not {image}",
                               code="other_image", field="image")
            instance = session.scalar(select(ChallengeInstance).where(
                ChallengeInstance.challenge_id == challenge.id, ChallengeInstance.team_id == team_id))
            if instance is None:
                pooled = self.pools.claim(session, challenge, team_id)
                if pooled is not None:
                    events.record(session, "challenge_assigned", actor, detail={
                        "challenge": challenge_id, "team": team_id, "from_pool": True})
                    return pooled, challenge.id, False, True
            made = instance is None
            if made:
                instance = new_instance(session, challenge, team_id, challenges.settings, challenges.box)
            # One on the way is another /assign's: this one waits for it too.
            start = made or instance.status not in (I.RUNNING, *_ON_THE_WAY)
            if start:
                instance.status = I.PENDING
                events.record(session, "challenge_assigned", actor, detail={"challenge": challenge_id,
                                                                            "team": team_id})
            return instance.id, challenge.id, start, False

    def remove(self, team_id: str, challenge_id: str, *, actor: str) -> str:
        """Stop and remove the team's instance; its container's name. A 404 if it has none."""
        challenges = self.challenges
        challenges.role.require_acting()
        with challenges.database.read() as session:
            row = session.execute(select(ChallengeInstance, Challenge).join(Challenge).where(
                Challenge.assign_key == challenge_id, ChallengeInstance.team_id == team_id,
                ChallengeInstance.status != I.REMOVED)).first()
        if row is None:
            raise NotFound(f"team {team_id} has no container for challenge {challenge_id}",
                           code="instance_not_found", team_id=team_id, challenge_id=challenge_id)
        instance, challenge = row
        settled = challenges.deployer.apply({instance.id: "absent"})
        if settled.get(instance.id) != I.REMOVED:
            raise Unavailable(f"removing the container of {team_id} failed; try again", code="removal_failed")
        with challenges.database.write() as session:
            events.record(session, "challenge_removed", actor, detail={"challenge": challenge_id, "team": team_id})
        return instance.container_of(challenge)

    def _wait(self, instance_id: str) -> ChallengeInstance | None:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            with self.challenges.database.read() as session:
                instance = session.get(ChallengeInstance, instance_id)
            if instance is None or instance.status not in _ON_THE_WAY or time.monotonic() >= deadline:
                return instance
            time.sleep(0.1)
