"""What the database keeps, and for how long (BUNKHOUSE_RETENTION_DAYS, BUNKHOUSE_AUDIT_RETENTION_DAYS).

A daily job (registered with the reservations' jobs, run once at start too):
- clears the password hash of every reservation that has ended (it ends without one, see
  models.clear_secrets; this catches the ones that ended before that, or by another path);
- deletes the reservations that ended more than RETENTION_DAYS ago, with the nodes they held
  and their events, and the records of runs older than that;
- deletes every event older than AUDIT_RETENTION_DAYS: the audit of users and tokens (events
  of no lease) is kept that long.
A setting of 0 keeps that kind forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from bunkhouse.config import RetentionSettings
from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.core.model import utcnow
from bunkhouse.reservations.models import ENDED, HeldNode, Reservation
from bunkhouse.runner.records import prune_runs

log = logging.getLogger(__name__)

# Seconds between two rounds of the job.
INTERVAL_SECONDS = 24 * 3600
# Reservations deleted per transaction (a first round after a long time may find many).
_BATCH = 500


class Retention:
    def __init__(self, database: Database, settings: RetentionSettings, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self.settings = settings
        self.clock = clock

    def run(self) -> dict[str, int]:
        """One round: what it cleared and deleted, by kind."""
        now = self.clock()
        done = {"hashes_cleared": self.clear_ended_secrets(), "reservations": 0, "runs": 0, "events": 0}
        if self.settings.days:
            cutoff = now - timedelta(days=self.settings.days)
            done["reservations"], done["events"] = self._prune_reservations(cutoff)
            with self.database.write() as session:
                done["runs"] = prune_runs(session, cutoff)
        if self.settings.audit_days:
            with self.database.write() as session:
                done["events"] += events.prune(session, before=now - timedelta(days=self.settings.audit_days))
        if any(done.values()):
            log.info("retention: %s", done)
        return done

    def clear_ended_secrets(self) -> int:
        """Clear the password hash of every reservation that has ended."""
        with self.database.write() as session:
            statement = (update(Reservation).where(Reservation.state.in_(ENDED), Reservation.password_hash != "")
                         .values(password_hash="").execution_options(synchronize_session=False))
            return session.execute(statement).rowcount or 0

    def _prune_reservations(self, cutoff: datetime) -> tuple[int, int]:
        """Delete the reservations that ended before `cutoff`, their held nodes and events."""
        reservations = pruned_events = 0
        # A reservation ended before ended_at was kept has its end (ends_at) to go by.
        ended = func.coalesce(Reservation.ended_at, Reservation.ends_at)
        while True:
            with self.database.write() as session:
                ids = list(session.scalars(select(Reservation.id).where(Reservation.state.in_(ENDED), ended < cutoff)
                                           .order_by(Reservation.id).limit(_BATCH)))
                if not ids:
                    return reservations, pruned_events
                session.execute(delete(HeldNode).where(HeldNode.reservation_id.in_(ids))
                                .execution_options(synchronize_session=False))
                pruned_events += events.prune(session, lease_ids=ids)
                session.execute(delete(Reservation).where(Reservation.id.in_(ids))
                                .execution_options(synchronize_session=False))
                reservations += len(ids)
