"""The containers of every pool, and their states.

States (DESIGN.md): free -> reserving -> reserved -> releasing -> free, read as claimed and
held for every product, plus quarantined (failed a run or a check; never handed out) and
disabled (an operator took it out). Every change of state is in transitions.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String, Text
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
