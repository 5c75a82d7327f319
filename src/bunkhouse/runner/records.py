"""The record of every Ansible run (table runs): written by the Runner's recorder, one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Integer, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from bunkhouse.core.db import Database
from bunkhouse.core.metrics import ANSIBLE_RUN_DURATION
from bunkhouse.core.model import Base, JSONText, UTCDateTime, utcnow
from bunkhouse.runner.results import RunResult


class Run(Base):
    """One ansible-runner invocation."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ident: Mapped[str] = mapped_column(String(128))
    playbook: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    rc: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float]
    hosts: Mapped[list[str]] = mapped_column(JSONText, default=list)
    failed_hosts: Mapped[list[str]] = mapped_column(JSONText, default=list)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def recorder(database: Database) -> Callable[[RunResult, str], None]:
    """The Runner's recorder: one row per run, in its own transaction, and its duration in the
    metrics."""
    def record(result: RunResult, purpose: str) -> None:
        ANSIBLE_RUN_DURATION.labels(Path(result.playbook).name, result.status).observe(result.duration)
        with database.write() as session:
            session.add(Run(ident=result.ident, playbook=result.playbook, purpose=purpose[:64],
                            status=result.status, rc=result.rc, duration=result.duration,
                            hosts=sorted(set(result.ok_hosts) | set(result.failed_hosts)),
                            failed_hosts=list(result.failed_hosts)))
    return record


def prune_runs(session: Session, before: datetime) -> int:
    """Delete the records of runs that finished before `before`. Returns how many went."""
    statement = delete(Run).where(Run.finished_at < before).execution_options(synchronize_session=False)
    return session.execute(statement).rowcount or 0
