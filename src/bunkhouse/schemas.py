"""Request and response schemas of the JSON API: requests are validated from these, and the
OpenAPI document at /openapi.json is generated from the same schemas."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Dict, Integer, List, Nested, String
from apiflask.validators import Length, Range, Regexp

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
    state = String()


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
