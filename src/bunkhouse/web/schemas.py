"""Schemas every part of the API shares: the error shape (as the OpenAPI document describes
every error response) and the paging of lists."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Integer, String

from bunkhouse.core.paging import DEFAULT_LIMIT, MAX_LIMIT

# The one error shape (core/errors.py).
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


class PageQuery(Schema):
    """?limit=N&cursor=C: a page of a list, and the next one from its answer's `next`."""

    limit = Integer(load_default=DEFAULT_LIMIT, strict=False,
                    metadata={"description": f"rows per page, 1 to {MAX_LIMIT}", "minimum": 1, "maximum": MAX_LIMIT})
    cursor = String(load_default=None, metadata={"description": "the `next` of the previous page"})


def next_cursor() -> String:
    """The `next` field of a page: a fresh field for each schema that has one."""
    return String(allow_none=True,
                  metadata={"description": "cursor of the next page (pass as ?cursor=); null: the last"})
