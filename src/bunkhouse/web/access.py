"""Who may call what. Deny by default: every route needs a principal (a valid bearer token, or
anyone when BUNKHOUSE_AUTH is off) unless its endpoint is on the one allow-list, PUBLIC;
routes for admins only say so once, with @admin_only, and are refused before their request
body is even read. Product routes that act on one holder's things call require_owner().
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, request

from bunkhouse.core.errors import Forbidden, Unauthorized
from bunkhouse.identity.principal import ANONYMOUS, Principal
from bunkhouse.identity.tokens import Tokens

# The only endpoints anyone may call without a token: the service's health (and seed 004's
# health of the containers), the OpenAPI document and the docs that show it (and their assets).
# Later routes join by a setting.
# /metrics checks its own token (web/metrics.py).
PUBLIC = frozenset({"health.healthz", "containers.health", "metrics.metrics", "openapi.spec", "openapi.docs",
                    "docs.assets"})

_ADMIN_ONLY = "_bunkhouse_admin_only"


def admin_only(view: Callable) -> Callable:
    """Mark a view for admins only (the only place a route says so)."""
    setattr(view, _ADMIN_ONLY, True)
    return view


def is_admin_only(view: Callable) -> bool:
    while view is not None:
        if getattr(view, _ADMIN_ONLY, False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def init_access(app: Flask, tokens: Tokens, auth_enabled: bool, public: frozenset[str] = PUBLIC) -> None:
    app.extensions["bunkhouse.tokens"] = tokens
    app.extensions["bunkhouse.auth_enabled"] = auth_enabled

    @app.before_request
    def _authenticate():
        endpoint = request.endpoint
        # No endpoint: the route does not exist (or not for this method): the 404 or 405 that
        # follows says nothing about anything protected.
        if endpoint is None or endpoint in public:
            return
        caller = tokens.authenticate(request.headers.get("Authorization")) if auth_enabled else ANONYMOUS
        g.principal = caller
        if is_admin_only(app.view_functions[endpoint]) and not caller.is_admin:
            raise Forbidden("this route is for admins", code="admin_only")


def principal() -> Principal:
    """The caller of this request (a public route has none: asking for it there is refused)."""
    caller = g.get("principal")
    if caller is None:
        raise Unauthorized("this route needs a token: send Authorization: Bearer <token>", code="token_missing")
    return caller


def auth_enabled() -> bool:
    return current_app.extensions["bunkhouse.auth_enabled"]


def tokens() -> Tokens:
    return current_app.extensions["bunkhouse.tokens"]


def require_owner(owner: str | None, what: str) -> None:
    """Refuse the caller unless they are an admin or the owner of this `what`."""
    caller = principal()
    if not caller.is_admin and owner != caller.name:
        raise Forbidden(f"this {what} belongs to someone else", code="not_owner")


def owner_filter() -> str | None:
    """Whose things the caller may list: None for all (admins), else their own."""
    caller = principal()
    return None if caller.is_admin else caller.name


def owner_of_new() -> str | None:
    """The owner recorded on what the caller makes: the caller, or nobody with auth off."""
    return principal().name if auth_enabled() else None
