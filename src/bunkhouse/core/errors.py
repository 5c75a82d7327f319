"""The one JSON error shape of bunkhouse, and the exceptions that produce it:

    {"error": {"status": 409, "code": "pool_exhausted", "message": "...", ...details}}

The web shell (web/errors.py) turns these into responses; the routes of a seed document add
that seed's own top-level fields beside "error" (web/errors.py), so its clients read what
they expect.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] | None = None  # extra response headers (Retry-After, WWW-Authenticate)

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None,
                 **details):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if headers:
            self.headers = {**(self.headers or {}), **headers}
        self.details = details

    @property
    def field(self) -> str | None:
        return self.details.get("field")

    def renamed(self, fields: dict[str, str]) -> ApiError:
        """The same error naming the request field as another interface calls it (a seed
        route's `duration` is the JSON API's `duration_minutes`)."""
        if self.field in fields:
            self.details = {**self.details, "field": fields[self.field]}
        return self

    def body(self) -> dict:
        return error_body(self.status, self.code, self.message, **self.details)


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="bunkhouse"'}


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "body_too_large"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


def error_body(status: int, code: str, message: str, **details) -> dict:
    return {"error": {"status": status, "code": code, "message": message, **details}}
