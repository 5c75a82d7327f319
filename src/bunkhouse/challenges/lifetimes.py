"""The janitor of challenge lifetimes: a challenge with `lifetime_minutes` gives each instance an
end (`expires_at`, models.lifetime_stamp) when it starts running; its team renews it
(team_instances.py), never past its hard end (`ends_at`). A scheduler job of the primary
(challenges/jobs.py) removes the instances whose end has come, like /remove: the container
goes, the team's address and flag stay. The request path never ends anything.

An instance is taken for removal by a conditional update (still past its end, still in a
settled status), so a renewal that comes first keeps it, and one that comes after finds it
no longer running (409)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update

from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.models import ChallengeInstance
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.model import utcnow

log = logging.getLogger(__name__)

# The statuses the janitor ends (one in a run is left for the next round).
SETTLED = (I.RUNNING, I.STOPPED, I.FAILED)


class Lifetimes:
    def __init__(self, database: Database, deployer: Deployer, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.deployer = deployer
        self.clock = clock

    def end_expired(self) -> list[str]:
        """The janitor's round: every settled instance past its end removed, in one run. Their ids."""
        now = self.clock()
        ended = []
        with self.database.write() as session:
            due = session.execute(select(ChallengeInstance.id, ChallengeInstance.challenge_id,
                                         ChallengeInstance.team_id)
                                  .where(ChallengeInstance.expires_at <= now,
                                         ChallengeInstance.status.in_(list(SETTLED)))).all()
            for instance_id, challenge_id, team_id in due:
                taken = session.execute(update(ChallengeInstance).where(
                    ChallengeInstance.id == instance_id, ChallengeInstance.expires_at <= now,
                    ChallengeInstance.status.in_(list(SETTLED))).values(status=I.REMOVING)
                    .execution_options(synchronize_session=False)).rowcount
                if taken:
                    ended.append(instance_id)
                    events.record(session, "challenge_instance_expired", "janitor", at=now,
                                  detail={"challenge": challenge_id, "team": team_id})
        if ended:
            log.info("challenge instances whose lifetime ended are removed: %d", len(ended))
            changes = {instance_id: "absent" for instance_id in ended}
            try:  # removing, so that a restart finishes the removal if this run is cut short
                self.deployer.apply(changes)
            except Exception as error:  # noqa: BLE001 - failed, not stuck: the next round takes them again
                log.exception("removing the expired challenge instances failed")
                self.deployer.fail(changes, f"the removal at the end of its lifetime failed: {error}")
        return ended
