"""Request and response schemas of /api/v1/reservations: requests are read from these, and
the OpenAPI document describes the same schemas. The schemas check shapes and types; the
rules on values (rules.py) are checked once, by the service, with one code each."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, Raw, String

from bunkhouse.reservations.rules import ACCOUNT_NAME_PATTERN
from bunkhouse.web.schemas import PageQuery, next_cursor


class ReservationIn(Schema):
    username = String(required=True, metadata={"description": "Linux user name created on every node",
                                               "example": "alice", "pattern": ACCOUNT_NAME_PATTERN,
                                               "maxLength": 32})
    password = String(required=True, metadata={"description": "Password of the account (bounds: "
                                                              "BUNKHOUSE_PASSWORD_*_LENGTH)",
                                               "example": "correct-horse"})
    count = Integer(load_default=1, strict=True,
                    metadata={"description": "How many nodes (at most the pool size)", "minimum": 1})
    # Raw: whatever it holds goes to the duration rule, which answers invalid_duration here as
    # seed 002's route does for its `duration`.
    duration_minutes = Raw(load_default=None, allow_none=True, metadata={
        "type": "integer", "minimum": 1, "description": "Lease length in minutes (default BUNKHOUSE_DEFAULT_DURATION)"})


class ExtendIn(Schema):
    minutes = Integer(required=True, strict=True,
                      metadata={"description": "Minutes to add (at most BUNKHOUSE_EXTENSION_MAX)", "minimum": 1})


class ReservationListQuery(PageQuery):
    all = Boolean(load_default=False, metadata={"description": "ended reservations too"})


class NodeAccessOut(Schema):
    name = String()
    host = String()
    port = Integer()
    ssh_command = String()
    host_key_fingerprints = Dict(keys=String(), values=String())
    state = String(metadata={"description": "reserving, reserved, releasing, lost (died under this reservation) "
                                            "or returned"})
    lost_reason = String(allow_none=True, metadata={"description": "why the node was lost"})
    replaced_by = String(allow_none=True, metadata={"description": "the node that replaced it, if one was free"})


class ReservationOut(Schema):
    id = String()
    username = String()
    state = String(metadata={"description": "provisioning, active, releasing, released, expired or failed"})
    count = Integer()
    created_at = String(metadata={"format": "date-time"})
    starts_at = String(metadata={"format": "date-time"})
    ends_at = String(metadata={"format": "date-time"})
    ended_at = String(allow_none=True, metadata={"format": "date-time"})
    seconds_remaining = Integer()
    extended_minutes = Integer()
    error = String(allow_none=True)
    nodes = List(Nested(NodeAccessOut))


class ReservationListOut(Schema):
    reservations = List(Nested(ReservationOut))
    next = next_cursor()


class ReleasedOut(Schema):
    released = List(String(), metadata={"description": "the reservations released"})
