"""How many members a pool has: at least its min (Pool.size) kept, more made on demand up to its
max (Pool.max_size) when a claim finds too few free, and those beyond min removed once they have
been free for Pool.idle_seconds. Every change is one pool_provision.yml run for all the members
it makes or removes; a run that makes members makes them in parallel (each node is a host of it).

Members made from an older entry of the pool (other limits or image: Pool.digest) are recreated
once free: at most half of the free ones a round, so that claims still find members meanwhile
(claims take fresh ones first), or all at once (a reload with strategy "immediate"). A held one
waits for its release: its tenant's files live in it.

Only the primary process, once started, runs it (core/primary.py); the lock keeps two claims
short of members at once from both making them, and the idle removal from taking members made for
a claim before it claims them.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from bunkhouse.core import events
from bunkhouse.core.errors import Conflict, Unavailable
from bunkhouse.core.primary import RETRY_AFTER
from bunkhouse.fleet import transitions
from bunkhouse.fleet.fleet import Fleet, observe_starts
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.fleet.pool import index_of

log = logging.getLogger(__name__)

ACTOR = "pool"
# Why a stale free member is out while it is recreated, and how long the monitor leaves it be.
REFRESHING = "made from an older entry of the pool: being recreated"
REFRESH_GRACE = 600
_OUT = (S.QUARANTINED, S.DISABLED)


class PoolSizing:
    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        # Held by each change of the pool's size, and by a claim between making room and taking it.
        self._changing = threading.RLock()

    def held(self) -> threading.RLock:
        """`with sizing.held():` no member is made or removed by anyone else meanwhile."""
        return self._changing

    def make_room(self, count: int) -> list[str]:
        """Make members until `count` are free, in one run, and return the new ones' names (none
        when enough are free already). A 409 when the pool's max leaves no room for them, a 503
        when the run did not make them all."""
        fleet = self.fleet
        with self._changing:
            rows = self._rows()
            free = sum(1 for state in rows.values() if state == S.FREE)
            if free >= count:
                return []
            room = fleet.pool.max_size - len(rows)
            if count - free > room:
                raise Conflict(f"asked for {count} nodes, {free} free, and the pool is at {len(rows)} of its max"
                               f" {fleet.pool.max_size}", code="pool_exhausted", requested=count, free=free,
                               members=len(rows), max=fleet.pool.max_size)
            made = self._make(rows, count - free, purpose="grow")
            if len(made) < count - free:
                raise Unavailable(f"the pool could not make the {count - free} more nodes asked for (made"
                                  f" {len(made)}): nothing was reserved; try again later", code="pool_growth_failed",
                                  headers={"Retry-After": RETRY_AFTER}, made=made)
            return made

    def keep_size(self) -> dict[str, list[str]]:
        """The periodic job: make members up to the pool's min, remove idle ones beyond it."""
        fleet = self.fleet
        fleet.role.require_acting()
        with self._changing:
            rows = self._rows()
            # Quarantined and disabled members hold their numbers but serve nobody.
            usable = sum(1 for state in rows.values() if state not in _OUT)
            wanted = min(fleet.pool.size - usable, fleet.pool.max_size - len(rows))
            made = self._make(rows, wanted, purpose="top_up") if wanted > 0 else []
            removed = self._remove_idle(usable - fleet.pool.size) if usable > fleet.pool.size else []
            refreshed = self._refresh(all_at_once=False)
        return {"made": made, "removed": removed, "refreshed": refreshed}

    def refresh(self, all_at_once: bool = False) -> list[str]:
        """Recreate free members made from an older entry; returns those recreated and free."""
        self.fleet.role.require_acting()
        with self._changing:
            return self._refresh(all_at_once=all_at_once)

    # ---- helpers ------------------------------------------------------------------------

    def _rows(self) -> dict[str, str]:
        with self.fleet.database.read() as session:
            return dict(session.execute(select(Container.name, Container.state)
                                        .where(Container.pool == self.fleet.pool.name)).all())

    def _make(self, rows: dict[str, str], wanted: int, *, purpose: str) -> list[str]:
        """Make `wanted` members at the lowest free numbers; record those that came up free. They
        are made as new containers (recreated): a number without a row is nobody's, and a
        container left there (a removal that failed) is not trusted."""
        fleet = self.fleet
        used = {index_of(name) for name in rows}
        indexes = [index for index in range(1, fleet.pool.max_size + 1) if index not in used][:wanted]
        if not indexes:
            return []
        names = [fleet.pool.member_name(index) for index in indexes]
        try:
            result = fleet.change_members(names, "recreated", purpose=purpose)
        except RuntimeError as error:  # the runner refuses new runs: the service is stopping
            raise Unavailable(f"{error}: nothing was reserved", code="stopping",
                              headers={"Retry-After": RETRY_AFTER}) from None
        made = [name for name in names if fleet.remade(result, name)]
        observe_starts(result, names, made)
        if len(made) < len(names):
            log.warning("making nodes %s failed: %s", sorted(set(names) - set(made)),
                        "; ".join(result.host_errors.values()) or result.status)
        added = fleet.adopt(made)
        if added:
            with fleet.database.write() as session:
                events.record(session, "pool_grown", ACTOR, detail={"nodes": added, "purpose": purpose})
        return added

    def _remove_idle(self, extra: int) -> list[str]:
        """Remove up to `extra` members that have been free idle_seconds, highest numbers first."""
        fleet = self.fleet
        pool = fleet.pool
        free_since = fleet.clock() - timedelta(seconds=pool.idle_seconds)
        with fleet.database.read() as session:
            # Only the idle ones: a free node in use again and again does not shield idle ones.
            idle = session.scalars(select(Container.name).where(
                Container.pool == pool.name, Container.state == S.FREE, Container.updated_at <= free_since)).all()
        candidates = sorted(idle, key=index_of, reverse=True)[:extra]
        if not candidates:
            return []
        with fleet.database.write() as session:
            gone = transitions.retire(session, candidates, actor=ACTOR, free_since=free_since)
        if gone:
            result = fleet.change_members(gone, "absent", purpose="shrink")
            if not result.ok:
                # Their rows are gone, so nobody is handed them; the next start's sync finds them.
                log.warning("removing idle nodes %s failed (run %s %s)", gone, result.ident, result.status)
        return gone

    def _refresh(self, *, all_at_once: bool) -> list[str]:
        fleet = self.fleet
        digest = fleet.pool.digest
        with fleet.database.read() as session:
            free = session.execute(select(Container.name, Container.spec_digest).where(
                Container.pool == fleet.pool.name, Container.state == S.FREE)).all()
        stale = sorted((name for name, made_from in free if made_from not in (None, digest)), key=index_of)
        if not all_at_once:
            stale = stale[:max(1, len(free) // 2)]
        if not stale:
            return []
        # Out of the free ones while Ansible recreates them; the monitor keeps off them meanwhile,
        # and recreates any whose recreation failed (or was cut short by a restart) later.
        with fleet.database.write() as session:
            taken = transitions.quarantine(session, stale, REFRESHING, holder=None, states=[S.FREE], actor=ACTOR,
                                           probe_at=fleet.clock() + timedelta(seconds=REFRESH_GRACE))
        recreated: list[str] = []
        try:
            recreated = fleet.recreate_all(taken, actor=ACTOR, purpose="refresh")
        finally:  # failed, or cut short (the service stopping): the monitor tries them at its next round
            with fleet.database.write() as session:
                for name in sorted(set(taken) - set(recreated)):
                    transitions.note_probes(session, name, 1, next_probe_at=fleet.clock())
                events.record(session, "pool_refreshed", ACTOR, detail={"nodes": recreated,
                                                                       "failed": sorted(set(taken) - set(recreated))})
        return recreated
