"""The scheduler: APScheduler in the background, in the primary process only (core/primary.py).

Products and the fleet register their jobs here: interval jobs (the expiry sweep, the monitor,
the periodic reconcile) and jobs at an exact time (a lease's end, its notice). A job that
missed its time (the process was busy or down) runs once, late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)
# APScheduler logs every run of every job at INFO (the warmth round runs every few seconds):
# only its warnings and errors reach the service's log.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


class Scheduler:
    def __init__(self):
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def every(self, job_id: str, func: Callable[[], object], seconds: int, *, now: bool = False) -> None:
        """Run func every `seconds` (the first time at once with now=True, else after one interval)."""
        self._scheduler.add_job(func, "interval", seconds=seconds, id=job_id, replace_existing=True,
                                **({"next_run_time": datetime.now(UTC)} if now else {}))

    def at(self, job_id: str, when: datetime, func: Callable[..., object], *args) -> None:
        """Run func(*args) once at `when` (replacing an earlier job of that id)."""
        self._scheduler.add_job(func, "date", run_date=when, args=list(args), id=job_id, replace_existing=True)

    def cancel(self, *job_ids: str) -> None:
        for job_id in job_ids:
            try:
                self._scheduler.remove_job(job_id)
            except JobLookupError:
                pass

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
