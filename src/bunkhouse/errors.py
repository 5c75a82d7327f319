"""The one JSON error shape of the HTTP API: {"error": {"status": 404, "code": "not_found", "message": "..."}}."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


def error_response(status: int, code: str, message: str, **details):
    body = {"error": {"status": status, "code": code, "message": message, **details}}
    return jsonify(body), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)
