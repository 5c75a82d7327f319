"""The event log, for admins: GET /api/v1/events, filtered, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from apiflask import APIBlueprint, Schema
from apiflask.fields import DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, Range
from flask import current_app

from bunkhouse.core import events
from bunkhouse.core.db import Database
from bunkhouse.web.access import admin_only
from bunkhouse.web.views import iso

bp = APIBlueprint("events", __name__, url_prefix="/api/v1", tag="Audit")


class EventOut(Schema):
    id = Integer()
    at = String(metadata={"format": "date-time"})
    kind = String()
    actor = String()
    reservation_id = String(allow_none=True, metadata={"description": "the lease it concerns"})
    node = String(allow_none=True)
    detail = Dict(allow_none=True)


class EventListOut(Schema):
    events = List(Nested(EventOut))
    next_after_id = Integer(allow_none=True, metadata={"description": "pass as after_id for the next page"})


class EventQuery(Schema):
    kind = String(validate=Length(1, 32))
    actor = String(validate=Length(1, 64))
    reservation_id = String(validate=Length(1, 32))
    node = String(validate=Length(1, 128))
    since = DateTime(metadata={"description": "ISO 8601 time; events at or after it"})
    until = DateTime(metadata={"description": "ISO 8601 time; events before it"})
    # Bounded to the id column (INTEGER: 32 bits on PostgreSQL): a bigger number is no event id,
    # and the database cannot even compare it.
    after_id = Integer(strict=False, validate=Range(min=0, max=2**31 - 1))
    limit = Integer(load_default=100, strict=False, validate=Range(1, 1000))


@bp.get("/events")
@admin_only
@bp.input(EventQuery, location="query", arg_name="query")
@bp.output(EventListOut)
@bp.doc(summary="The audit log, oldest first, filtered (admins)", responses={403: "Not an admin"})
def list_events(query):
    wanted = events.EventFilter(
        kind=query.get("kind"), actor=query.get("actor"), lease_id=query.get("reservation_id"),
        container=query.get("node"), since=_aware(query.get("since")), until=_aware(query.get("until")),
        after_id=query.get("after_id"))
    database: Database = current_app.extensions["bunkhouse.database"]
    with database.read() as session:
        found, next_after_id = events.find(session, wanted, query["limit"])
    return {
        "events": [{"id": event.id, "at": iso(event.at), "kind": event.kind, "actor": event.actor,
                    "reservation_id": event.lease_id, "node": event.container, "detail": event.detail}
                   for event in found],
        "next_after_id": next_after_id,
    }


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)
