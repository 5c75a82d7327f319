"""The background jobs. Node health: every BUNKHOUSE_HEALTH_INTERVAL seconds (node_health.py).
Expiry: a sweep every minute (catches anything missed: a restart, a clock jump) plus one job
at each reservation's exact end, so an account goes within seconds of its end.

Exactly one process per deployment may run this (APScheduler FAQ): `just run` serves with a
single gunicorn worker; BUNKHOUSE_SCHEDULER=off turns it off in any other process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from bunkhouse.models import ACTIVE
from bunkhouse.service import ReservationService

log = logging.getLogger(__name__)


class ExpiryScheduler:
    def __init__(self, service: ReservationService, sweep_interval_seconds: int,
                 health_check: Callable[[], object] | None = None, health_interval_seconds: int = 0):
        self.service = service
        self.sweep_interval_seconds = sweep_interval_seconds
        self.health_check = health_check
        self.health_interval_seconds = health_interval_seconds
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            # A job that missed its time (the process was busy or down) runs once, late.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def start(self) -> None:
        self._scheduler.add_job(self.service.expire_due, "interval", seconds=self.sweep_interval_seconds,
                                id="sweep", replace_existing=True, next_run_time=datetime.now(UTC))
        if self.health_check is not None and self.health_interval_seconds:
            # First round one interval after start: the pool was just provisioned and synced.
            self._scheduler.add_job(self.health_check, "interval", seconds=self.health_interval_seconds,
                                    id="health", replace_existing=True)
        for reservation in self.service.reservations(states=(ACTIVE,)):
            self.schedule(reservation.id, reservation.ends_at)
        self.service.on_lease_change = self.schedule
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, reservation_id: str, ends_at: datetime | None) -> None:
        """Expire the reservation exactly at ends_at, with a notice to its sessions a while
        before (BUNKHOUSE_NOTICE_SECONDS); None cancels both. An extension moves them."""
        job_id, notice_id = f"expire-{reservation_id}", f"notice-{reservation_id}"
        if ends_at is None:
            for job in (job_id, notice_id):
                try:
                    self._scheduler.remove_job(job)
                except JobLookupError:
                    pass
            return
        self._scheduler.add_job(self.service.expire, "date", run_date=ends_at, args=[reservation_id],
                                id=job_id, replace_existing=True)
        notice_seconds = self.service.config.notice_seconds
        if notice_seconds:
            notice_at = ends_at - timedelta(seconds=notice_seconds)
            if notice_at > datetime.now(UTC):
                self._scheduler.add_job(self.service.send_notice, "date", run_date=notice_at,
                                        args=[reservation_id], id=notice_id, replace_existing=True)
            else:
                try:
                    self._scheduler.remove_job(notice_id)
                except JobLookupError:
                    pass
