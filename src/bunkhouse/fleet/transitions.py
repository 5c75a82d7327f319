"""Every change of a container's state: each one SQL statement guarded by the state (and the
holder) it expects, `UPDATE ... WHERE state = ...`, run in the caller's transaction, which
commits it before any Ansible run starts. Each returns the names it really changed: a
container that moved on meanwhile (claimed, released, quarantined by someone else) is left
as it is, and the caller learns it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import case, delete, exists, func, select, update
from sqlalchemy.orm import Session

from bunkhouse.core import events
from bunkhouse.core.errors import Conflict
from bunkhouse.core.model import utcnow
from bunkhouse.fleet.models import Container, ContainerHold
from bunkhouse.fleet.models import ContainerState as S

# How often a claim retries when another transaction took some of the members it picked.
_CLAIM_ATTEMPTS = 5


def _move(session: Session, where: Sequence, **values) -> list[str]:
    statement = (update(Container).where(*where).values(updated_at=utcnow(), **values)
                 .returning(Container.name).execution_options(synchronize_session=False))
    return sorted(session.execute(statement).scalars())


def _holder_is(holder: str | None):
    return Container.holder.is_(None) if holder is None else Container.holder == holder


def claim(session: Session, pool: str, count: int, holder: str, *, fresh: str | None = None) -> list[Container]:
    """free -> reserving for `holder`: `count` members of the pool, lowest ids first (those made
    from the entry whose digest is `fresh` before stale ones), or a 409 naming how many are free
    (and nothing claimed)."""
    order = [case((Container.spec_digest.is_(None) | (Container.spec_digest == fresh), 0), else_=1)] if fresh else []
    for _ in range(_CLAIM_ATTEMPTS):
        candidates = session.scalars(
            select(Container.id).where(Container.pool == pool, Container.state == S.FREE)
            .order_by(*order, Container.id).limit(count)
        ).all()
        if len(candidates) < count:
            break
        taken = _move(session, [Container.id.in_(candidates), Container.state == S.FREE],
                      state=S.RESERVING, holder=holder, state_reason=None)
        if len(taken) == count:
            return list(session.scalars(select(Container).where(Container.id.in_(candidates))
                                        .order_by(Container.id)).all())
        # Another transaction took some between our read and our write (possible on
        # PostgreSQL; SQLite's write transactions are serialised): put ours back and retry.
        _move(session, [Container.id.in_(candidates), Container.holder == holder, Container.state == S.RESERVING],
              state=S.FREE, holder=None)
    free = session.scalar(select(func.count()).where(Container.pool == pool, Container.state == S.FREE))
    raise Conflict(f"asked for {count} nodes, {free} free", code="pool_exhausted", requested=count, free=free)


def hold(session: Session, holder: str, names: Collection[str] | None = None) -> list[str]:
    """reserving -> reserved: the holder's work on them is done."""
    where = [Container.holder == holder, Container.state == S.RESERVING]
    return _move(session, where + ([Container.name.in_(names)] if names is not None else []), state=S.RESERVED)


def start_release(session: Session, holder: str, names: Collection[str] | None = None, *,
                  from_states: Collection[str] = (S.RESERVED,)) -> list[str]:
    """reserved (or the states given) -> releasing: the holder's work on them is being undone.
    Returns every container of the holder now releasing, those already releasing included."""
    where = [Container.holder == holder] + ([Container.name.in_(names)] if names is not None else [])
    _move(session, where + [Container.state.in_(list(from_states))], state=S.RELEASING)
    return sorted(session.scalars(select(Container.name).where(*where, Container.state == S.RELEASING)))


def free(session: Session, holder: str, names: Collection[str], *,
         from_states: Collection[str] = (S.RELEASING,)) -> list[str]:
    """releasing -> free: undone and clean, handed out again. (reserving -> free: the node
    refused the holder's input before changing anything.)"""
    return _move(session, [Container.name.in_(names), Container.holder == holder,
                           Container.state.in_(list(from_states))],
                 state=S.FREE, holder=None, state_reason=None)


def renewed(session: Session, name: str, holder: str, host_keys: dict[str, str]) -> bool:
    """releasing, and now recreated from the image: its new host keys and a clean probe record.
    It stays releasing: the holder frees it with the rest of its release (free())."""
    return bool(_move(session, [Container.name == name, Container.holder == holder, Container.state == S.RELEASING],
                      host_keys=host_keys, failed_probes=0, next_probe_at=None))


def quarantine(session: Session, names: Collection[str], reason: str, *, holder: str | None,
               states: Collection[str], actor: str, probe_at: datetime | None = None) -> list[str]:
    """(one of `states`, held by `holder`) -> quarantined: never handed out until recovered
    (probe_at: not tried by the monitor before then). A container that moved on since the
    caller looked is not touched."""
    taken = _move(session, [Container.name.in_(names), _holder_is(holder), Container.state.in_(list(states))],
                  state=S.QUARANTINED, holder=None, state_reason=reason,
                  **({"next_probe_at": probe_at} if probe_at is not None else {}))
    for name in taken:
        events.record(session, "quarantined", actor, lease_id=holder, container=name, detail={"reason": reason})
    return taken


def recover(session: Session, name: str, host_keys: dict[str, str], *, actor: str) -> bool:
    """quarantined -> free, recreated clean (new host keys, no failed probes)."""
    if not _move(session, [Container.name == name, Container.state == S.QUARANTINED], state=S.FREE,
                 state_reason=None, host_keys=host_keys, failed_probes=0, next_probe_at=None):
        return False
    events.record(session, "recovered", actor, container=name, detail={"recreated": True})
    return True


def disable(session: Session, name: str, reason: str, *, actor: str) -> bool:
    """free or quarantined -> disabled: an operator took it out, whatever its checks say."""
    if not _move(session, [Container.name == name, Container.state.in_([S.FREE, S.QUARANTINED])],
                 state=S.DISABLED, state_reason=reason):
        return False
    events.record(session, "disabled", actor, container=name, detail={"reason": reason})
    return True


def enable(session: Session, name: str, *, actor: str) -> bool:
    """disabled -> quarantined: it comes back through a recreation, clean."""
    if not _move(session, [Container.name == name, Container.state == S.DISABLED], state=S.QUARANTINED,
                 state_reason="enabled by an admin; being recreated", next_probe_at=None):
        return False
    events.record(session, "enabled", actor, container=name, detail={})
    return True


def release_from_quarantine(session: Session, name: str, reasons: Collection[str]) -> bool:
    """quarantined (for one of `reasons` only) -> free: what was wrong is gone by itself (the
    sync finds its container running again)."""
    return bool(_move(session, [Container.name == name, Container.state == S.QUARANTINED,
                                Container.state_reason.in_(list(reasons))], state=S.FREE, state_reason=None))


def note_probes(session: Session, name: str, failures: int, *, next_probe_at: datetime | None = None,
                reason: str | None = None) -> None:
    """The monitor's count of failed probes (and, for a quarantined container, why and when next)."""
    values: dict = {"failed_probes": failures}
    if next_probe_at is not None:
        values["next_probe_at"] = next_probe_at
    session.execute(update(Container).where(Container.name == name).values(**values)
                    .execution_options(synchronize_session=False))
    if reason:
        session.execute(update(Container).where(Container.name == name, Container.state == S.QUARANTINED)
                        .values(state_reason=reason).execution_options(synchronize_session=False))


# ---- named containers of the containers file: power and shared holds ------------------------

def power(session: Session, names: Collection[str], to: str, *, expected: Collection[str], unheld: bool = False,
          **values) -> list[str]:
    """A named container's power, from one of `expected` to `to` (absent, stopped or failed ->
    starting; starting -> running ...), with any other columns given. With unheld, only if no
    lease holds it at that moment (checked in the same statement: a prepare that got in first wins)."""
    where = [Container.name.in_(names), Container.power.in_(list(expected))]
    if unheld:
        where.append(~exists().where(ContainerHold.container == Container.name, ContainerHold.released_at.is_(None)))
    return _move(session, where, power=to, **values)


def add_holds(session: Session, names: Collection[str], holder: str) -> None:
    """`holder` now needs these named containers running (several holders may share one)."""
    session.add_all(ContainerHold(container=name, holder=holder, created_at=utcnow()) for name in names)


def end_holds(session: Session, holder: str | None, *, names: Collection[str] | None = None,
              at: datetime | None = None) -> list[str]:
    """The holder (or, with None, every holder) no longer needs its containers (or these
    only): its holds end, and each container's last use is now (a warm one stops ttl after
    it). Returns the containers it held."""
    at = at or utcnow()
    where = [ContainerHold.released_at.is_(None)]
    if holder is not None:
        where.append(ContainerHold.holder == holder)
    if names is not None:
        where.append(ContainerHold.container.in_(list(names)))
    held = sorted(set(session.scalars(select(ContainerHold.container).where(*where))))
    if held:
        session.execute(update(ContainerHold).where(*where).values(released_at=at)
                        .execution_options(synchronize_session=False))
        _move(session, [Container.name.in_(held)], last_used_at=at)
    return held


def active_holders(session: Session, names: Collection[str]) -> dict[str, list[str]]:
    """{container: [holder, ...]} of the holds not yet ended on these containers."""
    found: dict[str, list[str]] = {}
    rows = session.execute(select(ContainerHold.container, ContainerHold.holder).where(
        ContainerHold.container.in_(list(names)), ContainerHold.released_at.is_(None)).order_by(ContainerHold.id))
    for container, holder in rows:
        found.setdefault(container, []).append(holder)
    return found


def retire(session: Session, names: Collection[str], *, free_since: datetime, actor: str) -> list[str]:
    """free (since free_since or before) -> gone: the rows of members a pool no longer needs are
    deleted before their containers are removed, so nobody claims one meanwhile. A member
    claimed, or freed again, since the caller looked stays."""
    statement = (delete(Container).where(Container.name.in_(list(names)), Container.state == S.FREE,
                                         Container.updated_at <= free_since)
                 .returning(Container.name).execution_options(synchronize_session=False))
    gone = sorted(session.execute(statement).scalars())
    for name in gone:
        events.record(session, "retired", actor, container=name, detail={"reason": "idle beyond the pool's min"})
    return gone
