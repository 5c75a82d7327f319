"""The one JSON error shape of the HTTP API, and the exceptions that produce it:

    {"error": {"status": 409, "code": "pool_exhausted", "message": "...", ...details}}
"""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] | None = None  # extra response headers (Retry-After, WWW-Authenticate)

    def __init__(self, message: str, *, code: str | None = None, **details):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

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


class Unavailable(ApiError):
    status, code = 503, "unavailable"


def error_body(status: int, code: str, message: str, **details) -> dict:
    return {"error": {"status": status, "code": code, "message": message, **details}}
