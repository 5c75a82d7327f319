"""Request and response schemas of the JSON API: requests are validated from these, and the
OpenAPI document at /openapi.json is generated from the same schemas."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp

from bunkhouse.auth import ROLES, USER_NAME_PATTERN
from bunkhouse.validation import USERNAME_PATTERN


class ReservationIn(Schema):
    username = String(required=True, validate=[Length(1, 32), Regexp(USERNAME_PATTERN)],
                      metadata={"description": "Linux user name created on every node", "example": "alice"})
    password = String(required=True, validate=Length(1, 1024),
                      metadata={"description": "Password of the account (bounds: BUNKHOUSE_PASSWORD_*_LENGTH)",
                                "example": "correct-horse"})
    count = Integer(load_default=1, strict=True, validate=Range(min=1),
                    metadata={"description": "How many nodes (at most the pool size)"})
    duration_minutes = Integer(load_default=None, strict=True, validate=Range(min=1),
                               metadata={"description": "Lease length in minutes (default BUNKHOUSE_DEFAULT_DURATION)"})


class ExtendIn(Schema):
    minutes = Integer(required=True, strict=True, validate=Range(min=1),
                      metadata={"description": "Minutes to add (at most BUNKHOUSE_EXTENSION_MAX)"})


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


class NodeOut(Schema):
    name = String()
    state = String(metadata={"description": "free, reserving, reserved, releasing, quarantined or disabled"})
    reason = String(allow_none=True)
    host = String()
    port = Integer()
    reservation_id = String(allow_none=True)
    host_key_fingerprints = Dict(keys=String(), values=String())
    updated_at = String(metadata={"format": "date-time"})


class NodeDisableIn(Schema):
    reason = String(load_default="", validate=Length(0, 500),
                    metadata={"description": "why, for the event log and the node list"})


class NodeListOut(Schema):
    nodes = List(Nested(NodeOut))


# The one error shape (errors.py), as the OpenAPI document describes every error response.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer", "description": "the HTTP status code"},
                "code": {"type": "string", "description": "what went wrong, for programs: pool_exhausted, ..."},
                "message": {"type": "string", "description": "what went wrong, for people"},
                "field": {"type": "string", "description": "the request field at fault, when there is one"},
                "fields": {"type": "object", "description": "schema validation errors by location and field"},
            },
            "additionalProperties": True,
        },
    },
}


class UserIn(Schema):
    name = String(required=True, validate=[Length(1, 64), Regexp(USER_NAME_PATTERN)],
                  metadata={"description": "API user name", "example": "alice"})
    role = String(load_default="user", validate=OneOf(ROLES))
    max_nodes = Integer(load_default=None, allow_none=True, strict=True, validate=Range(1, 100000),
                        metadata={"description": "nodes held at once (null: BUNKHOUSE_USER_MAX_NODES)"})
    max_duration_minutes = Integer(load_default=None, allow_none=True, strict=True, validate=Range(1, 100000),
                                   metadata={"description": "longest lease asked for (null: the default)"})
    max_lease_minutes = Integer(load_default=None, allow_none=True, strict=True, validate=Range(1, 100000),
                                metadata={"description": "longest lease with extensions (null: the default)"})


class UserPatchIn(Schema):
    role = String(validate=OneOf(ROLES))
    max_nodes = Integer(allow_none=True, strict=True, validate=Range(1, 100000))
    max_duration_minutes = Integer(allow_none=True, strict=True, validate=Range(1, 100000))
    max_lease_minutes = Integer(allow_none=True, strict=True, validate=Range(1, 100000))


class QuotaOut(Schema):
    max_nodes = Integer(allow_none=True)
    max_duration_minutes = Integer(allow_none=True)
    max_lease_minutes = Integer(allow_none=True)


class UserOut(Schema):
    name = String()
    role = String()
    created_at = String(metadata={"format": "date-time"})
    quota = Nested(QuotaOut, metadata={"description": "what applies: the user's own values or the defaults"})
    overrides = Nested(QuotaOut, metadata={"description": "the user's own values (null: the default)"})


class UserListOut(Schema):
    users = List(Nested(UserOut))


class TokenIn(Schema):
    label = String(load_default="", validate=Length(0, 128))
    expires_in_days = Integer(load_default=None, allow_none=True, strict=True, validate=Range(1, 3650))


class TokenOut(Schema):
    id = String()
    user = String()
    label = String()
    created_at = String(metadata={"format": "date-time"})
    expires_at = String(allow_none=True, metadata={"format": "date-time"})
    revoked_at = String(allow_none=True, metadata={"format": "date-time"})
    token = String(metadata={"description": "the token itself: only in the answer that made it"})


class TokenListOut(Schema):
    tokens = List(Nested(TokenOut))


class MeOut(Schema):
    name = String()
    role = String()
    quota = Nested(QuotaOut)
    auth = String(metadata={"description": "on, or off (then everyone is an anonymous admin)"})


class EventOut(Schema):
    id = Integer()
    at = String(metadata={"format": "date-time"})
    kind = String()
    actor = String()
    reservation_id = String(allow_none=True)
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


class ReleasedOut(Schema):
    released = List(String(), metadata={"description": "the reservations released"})
