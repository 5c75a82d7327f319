"""The access log (logger bunkhouse.access): method, path, query, status and time of every
request, with the value of every password or token in the query replaced."""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, g, request

access_log = logging.getLogger("bunkhouse.access")

_SECRET_QUERY = re.compile(r"(?i)((?:^|&)(?:password|token)=)[^&]*")


def redact_query(query: str) -> str:
    """A query string safe to log: the value of every password or token is replaced."""
    return _SECRET_QUERY.sub(r"\1[REDACTED]", query)


def init_access_log(app: Flask) -> None:
    # Werkzeug's own request log prints the raw query string, passwords included.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    @app.before_request
    def _started():
        g.started = time.monotonic()

    @app.after_request
    def _log(response):
        query = redact_query(request.query_string.decode("utf-8", "replace"))
        access_log.info("%s %s%s %s %.3fs", request.method, request.path, f"?{query}" if query else "",
                        response.status_code, time.monotonic() - g.get("started", time.monotonic()))
        return response
