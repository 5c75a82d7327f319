"""The containers of every pool, and their states.

States (DESIGN.md): free -> reserving -> reserved -> releasing -> free, read as claimed and
held for every product, plus quarantined (failed a run or a check; never handed out) and
disabled (an operator took it out). Every change of state is in transitions.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bunkhouse.core.model import Base, JSONText, UTCDateTime, utcnow


class ContainerState(StrEnum):
    FREE = "free"
    RESERVING = "reserving"
    RESERVED = "reserved"
    RELEASING = "releasing"
    QUARANTINED = "quarantined"
    DISABLED = "disabled"


# In use by a holder: an Ansible run or a lease is on it.
IN_USE = (ContainerState.RESERVING, ContainerState.RESERVED, ContainerState.RELEASING)


class Power(StrEnum):
    """Whether a named container of the containers file exists and runs (SSH nodes: None,
    they are kept running). starting, stopping and removing: an Ansible run is on it."""

    ABSENT = "absent"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    REMOVING = "removing"
    FAILED = "failed"  # its last start or stop failed; the next demand tries again


# An Ansible run is changing it.
POWER_IN_FLIGHT = (Power.STARTING, Power.STOPPING, Power.REMOVING)


class Container(Base):
    __tablename__ = "containers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    pool: Mapped[str] = mapped_column(String(64))
    # The template it was made from, and the engine that hosts it.
    template: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(64))
    # Its published main port (sshd for an SSH node).
    port: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=ContainerState.FREE, index=True)
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The lease that holds it (a reservation's id): opaque to the fleet.
    holder: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # SHA256 fingerprints of its SSH host keys by type ({"ED25519": "SHA256:..."}).
    host_keys: Mapped[dict | None] = mapped_column(JSONText, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Probes failed in a row, and when a quarantined container is next tried (backoff).
    failed_probes: Mapped[int] = mapped_column(Integer, default=0)
    next_probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Named containers of the containers file only (None for SSH nodes) --------------------
    power: Mapped[str | None] = mapped_column(String(16), default=None)
    # Docker's health status when it has a health check: None while unknown or without one.
    healthy: Mapped[bool | None] = mapped_column(Boolean, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When its last hold ended (or it was last started): a warm one stops ttl after it.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The digest of the entry it was made from: another digest in the file means it is stale.
    spec_digest: Mapped[str | None] = mapped_column(String(32), default=None)
    # Its published ports: {"8080": 49153}.
    endpoints: Mapped[dict | None] = mapped_column(JSONText, default=None)
    # Seconds its starts take, a moving average of the measured ones (None before the first).
    start_seconds: Mapped[float | None] = mapped_column(Float, default=None)


class ContainerHold(Base):
    """A shared hold on a named container: a lease (a prepared profile) that needs it running.
    Several leases can hold one container; it is stopped or removed only when none does."""

    __tablename__ = "container_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    container: Mapped[str] = mapped_column(String(128), index=True)
    holder: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
