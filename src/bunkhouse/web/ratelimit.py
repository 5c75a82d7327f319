"""The rate limit of requests that make things (reservations), per caller, through
Flask-Limiter: at most BUNKHOUSE_RATE_LIMIT requests in any 60 seconds (its moving-window
strategy), counted in the storage BUNKHOUSE_RATE_LIMIT_STORAGE names (memory:// by default;
redis://... lets several API processes share one limit); flag checks, per team of a
challenge; a team's own resets, per team; and failed logins, per user name from one address,
per user name and per client address (only failures count: a user who types their password
right is never slowed). Over it: 429 with Retry-After.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter

from bunkhouse.config import AuthSettings, LoginSettings
from bunkhouse.core.errors import TooManyRequests
from bunkhouse.web.access import auth_enabled, principal


def _caller() -> str:
    return principal().name if auth_enabled() else f"address:{request.remote_addr}"


def _per_minute() -> int:
    return current_app.extensions["bunkhouse.rate_limit"]


limiter = Limiter(key_func=_caller, strategy="moving-window", headers_enabled=False)

# One budget per caller, shared by every route that makes a reservation (JSON API and seed 002).
reservation_requests = limiter.shared_limit(lambda: f"{_per_minute()} per minute", scope="reservation-requests",
                                            exempt_when=lambda: _per_minute() == 0)


# Flag checks: at most this many a minute for one team of one challenge, per caller.
FLAG_CHECKS_PER_MINUTE = 10
_FLAG_SCOPE = "flag-checks"


def _team() -> str:
    """One budget per team of a challenge and caller: one caller's guesses never lock a team out."""
    args = request.view_args or {}
    return f"team:{args.get('challenge_id')}:{args.get('team_id')}:{_caller()}"


flag_checks = limiter.shared_limit(f"{FLAG_CHECKS_PER_MINUTE} per minute", scope=_FLAG_SCOPE, key_func=_team)

# A team's own resets: each makes a container anew, so a member may not make them without end.
RESETS_PER_MINUTE = 3
_RESET_SCOPE = "team-resets"
resets = limiter.shared_limit(f"{RESETS_PER_MINUTE} per minute", scope=_RESET_SCOPE, key_func=_team,
                              exempt_when=lambda: not auth_enabled() or principal().is_admin)


_LOGIN_SCOPE = "login-failures"


def _login_name() -> str:
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return f"login-user:{name[:64] if isinstance(name, str) else ''}"


def _login_limit(kind: str, times: int = 1) -> str:
    settings: LoginSettings = current_app.extensions["bunkhouse.login_limits"]
    return f"{getattr(settings, kind) * times} per minute"


def _failed(response) -> bool:
    return response.status_code == 401


# A user name from one address at BUNKHOUSE_LOGIN_FAILURES_PER_USER: someone guessing elsewhere
# does not lock the real user out; from everywhere at ten times that, which slows guessing
# spread over many addresses (and would lock the name out only at that rate).
login_failures_per_user = limiter.shared_limit(
    lambda: _login_limit("failures_per_user"), scope=f"{_LOGIN_SCOPE}-user",
    key_func=lambda: f"{_login_name()}:{request.remote_addr}", deduct_when=_failed)
login_failures_per_name = limiter.shared_limit(
    lambda: _login_limit("failures_per_user", 10), scope=f"{_LOGIN_SCOPE}-name", key_func=_login_name,
    deduct_when=_failed)
login_failures_per_address = limiter.shared_limit(
    lambda: _login_limit("failures_per_address"), scope=f"{_LOGIN_SCOPE}-address",
    key_func=lambda: f"login-address:{request.remote_addr}", deduct_when=_failed)


def init_rate_limit(app: Flask, settings: AuthSettings, logins: LoginSettings | None = None) -> None:
    app.extensions["bunkhouse.rate_limit"] = settings.rate_limit_per_minute
    app.extensions["bunkhouse.login_limits"] = logins or LoginSettings()
    app.config["RATELIMIT_STORAGE_URI"] = settings.rate_limit_storage
    limiter.init_app(app)


def too_many_requests() -> TooManyRequests:
    """The 429 for the limit this request broke, with the seconds until it may try again."""
    current = limiter.current_limit
    retry_after = max(1, math.ceil(current.reset_at - time.time())) if current else 60
    if current is not None and _FLAG_SCOPE in current.key:
        return TooManyRequests(f"at most {FLAG_CHECKS_PER_MINUTE} flag checks a minute for this team; try again in"
                               f" {retry_after} s", headers={"Retry-After": str(retry_after)},
                               retry_after_seconds=retry_after, limit_per_minute=FLAG_CHECKS_PER_MINUTE)
    if current is not None and _RESET_SCOPE in current.key:
        return TooManyRequests(f"at most {RESETS_PER_MINUTE} resets a minute of this team's instance; try again in"
                               f" {retry_after} s", headers={"Retry-After": str(retry_after)},
                               retry_after_seconds=retry_after, limit_per_minute=RESETS_PER_MINUTE)
    if current is not None and _LOGIN_SCOPE in current.key:
        return TooManyRequests(f"too many failed logins for this user or from this address; try again in "
                               f"{retry_after} s", headers={"Retry-After": str(retry_after)},
                               retry_after_seconds=retry_after)
    per_minute = _per_minute()
    return TooManyRequests(f"at most {per_minute} reservation requests a minute; try again in {retry_after} s",
                           headers={"Retry-After": str(retry_after)}, retry_after_seconds=retry_after,
                           limit_per_minute=per_minute)
