"""Challenges and their per-team instances.

An instance is one team's lease on its own container of the challenge: it keeps its published
ports (the team's address) and its flag (encrypted, flags.py) from its first deploy until the
challenge is deleted, so a redeploy or a restart of bunkhouse gives the team the same address.
Statuses: pending -> starting -> running (its health check passed) or failed; stopping ->
stopped (its container kept, stopped); removing -> removed (its container gone, its address and
flag kept for the next deploy). Deleting the challenge deletes its instances.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bunkhouse.challenges import naming
from bunkhouse.core.model import Base, JSONText, UTCDateTime, utcnow


class InstanceStatus(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    REMOVING = "removing"
    REMOVED = "removed"


# An Ansible run is on it (or was, when the service stopped: the next start finishes it).
IN_FLIGHT = (InstanceStatus.PENDING, InstanceStatus.STARTING, InstanceStatus.STOPPING, InstanceStatus.REMOVING)


class Challenge(Base):
    __tablename__ = "challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text)
    # Seed 003's config without environment_vars (those may be secrets: environment below).
    config: Mapped[dict] = mapped_column(JSONText)
    # environment_vars, encrypted (flags.py's key).
    environment: Mapped[str | None] = mapped_column(Text, default=None)
    total_teams: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Its network's number: subnet, bridge and container names follow from it.
    network_index: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    # Seed 000's challenge_id, for a challenge /assign made (its teams are whoever /assign names).
    assign_key: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)


class ChallengeInstance(Base):
    __tablename__ = "challenge_instances"
    __table_args__ = (UniqueConstraint("challenge_id", "team_id", name="uq_challenge_instances_team"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    team_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=InstanceStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # {container port: published host port}, kept from the first deploy on.
    ports: Mapped[dict] = mapped_column(JSONText)
    # The team's flag, encrypted.
    flag: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A challenge with a lifetime: when the janitor ends this instance (renewals move it), and
    # the hard end no renewal passes (from its start; a start after it begins a new one).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Its container's name when it is not the team's (a pool member's, kept when a team claims it).
    container: Mapped[str | None] = mapped_column(String(63), default=None)

    @property
    def pooled(self) -> bool:
        """A pool member no team has claimed yet (pools.py)."""
        return self.team_id.startswith(POOL_PREFIX)

    def container_of(self, challenge: Challenge) -> str:
        return self.container or naming.container_name(challenge.network_index, self.team_id)


# A pool member's team_id until a team claims it: a "." no team id has (seed 003's team-NNN,
# seed 000's letters, digits, "_" and "-").
POOL_PREFIX = "pool."


def lifetime_stamp(instance: ChallengeInstance, challenge: Challenge, now: datetime) -> dict:
    """expires_at and ends_at for an instance that has just started running (a pool member's
    time begins when a team claims it: pools.py)."""
    if instance.pooled:
        return {"expires_at": None, "ends_at": None}
    return lifetime_from(challenge, now, instance.ends_at)


def lifetime_from(challenge: Challenge, now: datetime, ends_at: datetime | None = None) -> dict:
    """expires_at and ends_at from now (a hard end still ahead is kept: a restart is no new time)."""
    lifetime, most = challenge.config.get("lifetime_minutes"), challenge.config.get("max_lifetime_minutes")
    if not lifetime:
        return {"expires_at": None, "ends_at": None}
    ends = ends_at if ends_at is not None and ends_at > now else now + timedelta(minutes=most or lifetime)
    return {"expires_at": min(now + timedelta(minutes=lifetime), ends), "ends_at": ends}


class PublishedPort(Base):
    """A host port given to an instance's container port: the primary key makes two instances
    taking one port impossible, whatever two requests do at once."""

    __tablename__ = "challenge_ports"

    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("challenge_instances.id"), index=True)
