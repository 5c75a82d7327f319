"""The access log (logger bunkhouse.access): method, path, query, status and time of every
request, with the value of every secret in the query replaced.

The query logged is rebuilt from the parsed query (request.args), never the raw query string:
a key is judged by its name as the application reads it, after URL-decoding, so
`pass%77ord=...` is a password too. A key is secret when its name, in any case, contains
password, passwd, pass, token, secret or key; every value of it is replaced.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from flask import Flask, g, request
from werkzeug.datastructures import MultiDict

from bunkhouse.core.metrics import HTTP_REQUEST_DURATION

access_log = logging.getLogger("bunkhouse.access")

SECRET_WORDS = ("password", "passwd", "pass", "token", "secret", "key")
REDACTED = "[REDACTED]"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_query(args: MultiDict) -> str:
    """A query safe to log, from the parsed query: the value of every secret key is replaced."""
    return urlencode([(name, REDACTED if is_secret(name) else value) for name, values in args.lists()
                      for value in values], safe="[]")


def init_access_log(app: Flask) -> None:
    # Werkzeug's own request log prints the raw query string, passwords included.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    @app.before_request
    def _started():
        g.started = time.monotonic()

    @app.after_request
    def _log(response):
        query = redact_query(request.args)
        elapsed = time.monotonic() - g.get("started", time.monotonic())
        access_log.info("%s %s%s %s %.3fs", request.method, request.path, f"?{query}" if query else "",
                        response.status_code, elapsed)
        # By route (the rule, not the path: one series per route, whatever ids it carries).
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        # Any client can send any method: only the standard ones get series of their own.
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUEST_DURATION.labels(method, route, str(response.status_code)).observe(elapsed)
        return response
