"""Every error becomes the one JSON shape of core/errors.py, with the right status:
bunkhouse's own errors, schema validation errors, 404/405 and the like, a body over
BUNKHOUSE_MAX_BODY_BYTES (413 body_too_large), the rate limit's, and a unique key that two
requests at once collided on (409 concurrent_change).

A request body that breaks the schema on one field answers that field's rule code,
`invalid_<field>` (the code the service's own check of that field answers too: one rule, one
code); on several fields, `validation_error` with every field's messages. The routes of a
seed document add that seed's own top-level fields beside "error" (seed_error_fields).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import current_app, request
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from bunkhouse.core.errors import ApiError, Conflict, PayloadTooLarge, error_body
from bunkhouse.web.ratelimit import too_many_requests

# Blueprint name -> its seed document's own fields for an error body.
_SEED_FIELDS: dict[str, Callable[[dict], dict]] = {}


def seed_error_fields(blueprint: str, fields: Callable[[dict], dict]) -> None:
    """Errors of this blueprint's routes also carry fields(error) at the top level."""
    _SEED_FIELDS[blueprint] = fields


def init_errors(app: APIFlask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return _with_seed_fields(error.body()), error.status, error.headers or {}

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(_error: RateLimitExceeded):
        return _api_error(too_many_requests())

    @app.errorhandler(IntegrityError)
    def _collided(_error: IntegrityError):
        # The checks before a write read first; two requests at once on PostgreSQL may both pass
        # them and the database's unique key refuses the second: a 409, nothing written.
        return _api_error(Conflict("another request made or changed the same thing at the same moment: look, and "
                                   "try again if it is still needed", code="concurrent_change"))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_error: RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return _api_error(PayloadTooLarge(f"the request body is larger than {limit} bytes (BUNKHOUSE_MAX_BODY_BYTES)",
                                          limit_bytes=limit))

    @app.error_processor
    def _http_error(error: HTTPError):
        if error.status_code == 400 and error.detail:
            body = validation_body(error.detail)
        else:
            code = re.sub(r"[^a-z0-9]+", "_", (error.message or "error").lower()).strip("_")
            body = error_body(error.status_code, code, error.message or "error")
        return _with_seed_fields(body), error.status_code, error.headers


def validation_body(detail: dict) -> dict:
    """The error for a request that breaks its schema: {"json": {"count": ["Not a valid integer."]}}."""
    faults = [(field, messages) for fields in detail.values() if isinstance(fields, dict)
              for field, messages in fields.items()]
    if len(faults) == 1:
        field, messages = faults[0]
        text = "; ".join(messages) if isinstance(messages, list) else str(messages)
        code = "unknown_field" if "Unknown field" in text else f"invalid_{field}"
        return error_body(400, code, f"{field}: {text}", field=field, fields=detail)
    return error_body(400, "validation_error", "the request does not match the API schema", fields=detail)


def _with_seed_fields(body: dict) -> dict:
    fields = _SEED_FIELDS.get(request.blueprint or "")
    return {**fields(body["error"]), **body} if fields else body
