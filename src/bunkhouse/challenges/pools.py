"""Pools of ready challenge instances, for seed 000's /assign: a challenge made ahead with an
`assign_id` and `config.pool_min` keeps that many instances started and healthy before any team
asks. Each member is an instance like any other (its own ports, its own flag in its flag file,
made with it), whose team_id is a placeholder (`pool.<hex>`, a "." no team id has) and whose
container keeps the name it was made with. /assign claims the oldest running member for the
team by one conditional update (two claims at once never take the same member): the member's
flag becomes the team's and its time begins, no Ansible runs, and the answer is at once. The
pool is topped up after each claim and by the janitor's round (jobs.py), in the background.

A pool member is made for nobody: the demo challenge's page names no team, and a challenge that
wants the flag in its environment is never pooled (spec.py)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bunkhouse.challenges import naming
from bunkhouse.challenges.allocation import new_instance
from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.flags import SecretBox
from bunkhouse.challenges.models import POOL_PREFIX, Challenge, ChallengeInstance, lifetime_from
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core.db import Database
from bunkhouse.core.errors import ApiError
from bunkhouse.core.model import utcnow

log = logging.getLogger(__name__)

# A member on its way or ready counts toward the pool's min.
LIVE = (I.PENDING, I.STARTING, I.RUNNING)
# A member that failed is made anew only this long after its failure (a broken image does not
# make a run every round).
RETRY_AFTER = timedelta(seconds=60)


class ChallengePools:
    def __init__(self, database: Database, settings: ChallengeSettings, box: SecretBox, deployer: Deployer,
                 clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.settings = settings
        self.box = box
        self.deployer = deployer
        self.clock = clock

    def top_up(self, challenge_id: str | None = None) -> dict[str, str]:
        """Each active challenge with a pool (or only this one) gets members until pool_min are
        ready or on the way; the changes queued, {instance id: change}. Upkeep in the background
        of a claim, a create, the start and the janitor's round: it never fails them (logged)."""
        try:
            return self._top_up_all(challenge_id)
        except Exception:  # noqa: BLE001 - the next round tries again
            log.exception("the challenge pools could not be topped up")
            return {}

    def _top_up_all(self, challenge_id: str | None) -> dict[str, str]:
        now = self.clock()
        changes: dict[str, str] = {}
        with self.database.write() as session:
            pooled = select(Challenge).where(Challenge.is_active.is_(True), Challenge.assign_key.is_not(None))
            if challenge_id is not None:
                pooled = pooled.where(Challenge.id == challenge_id)
            for challenge in session.scalars(pooled).all():
                try:
                    with session.begin_nested():  # one pool that cannot grow leaves the others be
                        changes.update(self._top_up(session, challenge, now))
                except ApiError as error:  # no free port left, say: the pool stays short, and says so
                    log.warning("the pool of challenge %s cannot be topped up: %s", challenge.name, error)
        if changes:
            log.info("challenge pools: %d member(s) on their way", len(changes))
            self.deployer.submit(changes)
        return changes

    def _top_up(self, session: Session, challenge: Challenge, now: datetime) -> dict[str, str]:
        want = challenge.config.get("pool_min") or 0
        if not want:
            return {}
        members = session.scalars(select(ChallengeInstance).where(
            ChallengeInstance.challenge_id == challenge.id, ChallengeInstance.team_id.startswith(POOL_PREFIX))
            .order_by(ChallengeInstance.created_at)).all()
        missing = want - sum(1 for member in members if member.status in LIVE)
        changes = {}
        # Members that failed or were stopped are made anew before any new one is made, so a pool
        # never holds more than pool_min rows (and ports); one that changed within RETRY_AFTER
        # still counts as the pool's, so a broken image is not retried every round.
        for member in (member for member in members if member.status not in LIVE):
            if missing <= 0:
                break
            missing -= 1
            if member.updated_at <= now - RETRY_AFTER:
                member.status = I.PENDING
                changes[member.id] = "recreated"
        for _ in range(max(0, missing)):
            placeholder = POOL_PREFIX + secrets.token_hex(8)
            member = new_instance(session, challenge, placeholder, self.settings, self.box)
            member.container = naming.container_name(challenge.network_index, placeholder)
            changes[member.id] = "started"
        return changes

    def claim(self, session: Session, challenge: Challenge, team_id: str) -> str | None:
        """The id of a running member now the team's (in the caller's transaction), or None
        when none is ready."""
        now = self.clock()
        ready = session.scalars(select(ChallengeInstance).where(
            ChallengeInstance.challenge_id == challenge.id, ChallengeInstance.team_id.startswith(POOL_PREFIX),
            ChallengeInstance.status == I.RUNNING).order_by(ChallengeInstance.created_at).limit(8)).all()
        for member in ready:
            taken = session.execute(update(ChallengeInstance).where(
                ChallengeInstance.id == member.id, ChallengeInstance.team_id == member.team_id,
                ChallengeInstance.status == I.RUNNING)
                .values(team_id=team_id, **lifetime_from(challenge, now)).execution_options(synchronize_session=False)
            ).rowcount
            if taken:
                session.expire(member)
                return member.id
        return None
