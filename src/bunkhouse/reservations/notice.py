"""The notice before a lease ends: every terminal the account has open on its nodes gets a
line saying when the lease ends and the route that extends it (playbooks/account_notice.yml)."""

from __future__ import annotations

from sqlalchemy import select

from bunkhouse.core import events
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.models import ContainerState as S
from bunkhouse.reservations.models import Reservation
from bunkhouse.reservations.models import ReservationState as R
from bunkhouse.reservations.service import ReservationService
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.results import RunResult


def send_notice(service: ReservationService, runner: Runner, reservation_id: str,
                host_timeout: int) -> RunResult | None:
    """Tell the account's open sessions on every node when the lease ends and how to extend it."""
    with service.database.read() as session:
        reservation = session.get(Reservation, reservation_id)
        if reservation is None or reservation.state != R.ACTIVE:
            return None
        nodes = list(session.scalars(select(Container.name).where(Container.holder == reservation_id,
                                                                  Container.state == S.RESERVED)))
        username, ends_at = reservation.username, reservation.ends_at
    minutes = max(0, round((ends_at - service.clock()).total_seconds() / 60))
    message = (f"this lease ends at {ends_at.strftime('%H:%M')} UTC (in about {minutes} min): save your work."
               f" To extend: POST /api/v1/reservations/{reservation_id}/extend")
    notice = {"nodes": nodes, "user": username, "message": message}
    result = runner.run("account_notice.yml", {"bunkhouse_notice": notice, "bunkhouse_host_timeout": host_timeout},
                        purpose="notice")
    with service.database.write() as session:
        events.record(session, "notice_sent", "scheduler", lease_id=reservation_id, at=service.clock(),
                      detail={"nodes": nodes, "ok": result.ok, "ends_at": ends_at.isoformat()})
    return result
