"""Who may call what. Deny by default: every route needs a principal (a valid bearer token, or
anyone when BUNKHOUSE_AUTH is off) unless its endpoint is on the one allow-list, PUBLIC;
routes for admins only say so once, with @admin_only (for admins and managers: @managers_only),
and are refused before their request body is even read. Product routes that act on one
holder's things call require_owner().
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, request

from bunkhouse.core.errors import Forbidden, Unauthorized
from bunkhouse.identity.principal import ANONYMOUS, Principal
from bunkhouse.identity.tokens import Tokens

# The only endpoints anyone may call without a token: the service's health (and seed 004's
# health of the containers), the OpenAPI document and the docs that show it (and their assets).
# Seed 003's health, and the routes that get a token: register, login, refresh (register reads
# a token itself when one is sent). /metrics checks its own token (web/metrics.py).
PUBLIC = frozenset({"health.healthz", "health.seed_health", "containers.health", "metrics.metrics", "openapi.spec",
                    "openapi.docs", "docs.assets", "auth.register", "auth.login", "auth.refresh"})

_ADMIN_ONLY = "_bunkhouse_admin_only"
_MANAGERS_ONLY = "_bunkhouse_managers_only"


def admin_only(view: Callable) -> Callable:
    """Mark a view for admins only (the only place a route says so)."""
    setattr(view, _ADMIN_ONLY, True)
    return view


def managers_only(view: Callable) -> Callable:
    """Mark a view for admins and managers (seed 003's Master and Admin)."""
    setattr(view, _MANAGERS_ONLY, True)
    return view


def _marked(view: Callable | None, mark: str) -> bool:
    while view is not None:
        if getattr(view, mark, False):
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def is_admin_only(view: Callable) -> bool:
    return _marked(view, _ADMIN_ONLY)


def is_managers_only(view: Callable) -> bool:
    return _marked(view, _MANAGERS_ONLY)


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
        view = app.view_functions[endpoint]
        if is_admin_only(view) and not caller.is_admin:
            raise Forbidden("this route is for admins", code="admin_only")
        if is_managers_only(view) and not caller.is_manager:
            raise Forbidden("this route is for admins and managers", code="managers_only")


def refuse_without_auth(blueprint, allowed: frozenset[str] = frozenset()) -> None:
    """With BUNKHOUSE_AUTH off, this blueprint's routes (but `allowed`) answer 403 auth_off:
    users, teams and logins mean nothing while every caller is an anonymous admin."""

    @blueprint.before_request
    def _refuse():
        if not auth_enabled() and request.endpoint not in allowed:
            raise Forbidden("authentication is off (BUNKHOUSE_AUTH=off): users, teams, tokens and logins mean "
                            "nothing while it is, every caller is an admin and no token is asked for; turn it on "
                            "to use them", code="auth_off")


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
