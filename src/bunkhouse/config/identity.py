"""The settings of API users: tokens, quotas and the rate limit (AuthSettings), and logins
(seed 003's /auth routes: who may register, how long a login's tokens live, how many failed
logins are let through)."""

from __future__ import annotations

from dataclasses import dataclass

from bunkhouse.config.environment import Environment


@dataclass(frozen=True)
class AuthSettings:
    # Bearer tokens on every route but the open ones (off: anyone who reaches the port may do anything).
    enabled: bool = True
    # Per-user defaults for users of role "user" (an admin can set other values per user).
    user_max_nodes: int = 5
    user_max_duration_minutes: int = 240
    user_max_lease_minutes: int = 480
    # Reservation requests per minute per caller (user, or address when auth is off); 0: no limit.
    rate_limit_per_minute: int = 10
    # Where the rate limit's counters live (Flask-Limiter storage URL; several API processes
    # share a limit through redis://...).
    rate_limit_storage: str = "memory://"
    # With authentication off, listening beyond loopback is refused unless this is on.
    allow_open_without_auth: bool = False

    @classmethod
    def read(cls, env: Environment) -> AuthSettings:
        return cls(
            enabled=env.switch("BUNKHOUSE_AUTH", cls.enabled),
            user_max_nodes=env.integer("BUNKHOUSE_USER_MAX_NODES", cls.user_max_nodes, 1),
            user_max_duration_minutes=env.integer("BUNKHOUSE_USER_MAX_DURATION", cls.user_max_duration_minutes, 1),
            user_max_lease_minutes=env.integer("BUNKHOUSE_USER_MAX_LEASE", cls.user_max_lease_minutes, 1),
            rate_limit_per_minute=env.integer("BUNKHOUSE_RATE_LIMIT", cls.rate_limit_per_minute, 0),
            rate_limit_storage=env.text("BUNKHOUSE_RATE_LIMIT_STORAGE", cls.rate_limit_storage),
            allow_open_without_auth=env.switch("BUNKHOUSE_ALLOW_OPEN_WITHOUT_AUTH", cls.allow_open_without_auth),
        )


@dataclass(frozen=True)
class LoginSettings:
    # Anyone who reaches the API may register (role User, no team). Off: only an admin or a
    # manager registers users, or a caller with a team invite.
    self_registration: bool = False
    # An access token from a login works this long; its refresh token trades itself for a new
    # pair until this long after the login (then log in again).
    access_token_minutes: int = 15
    refresh_token_hours: int = 168
    # A team invite is good for one registration within this long.
    invite_hours: int = 72
    # Failed logins let through in any 60 seconds, per user name from one client address (ten
    # times that per user name from anywhere) and per client address.
    failures_per_user: int = 5
    failures_per_address: int = 20

    @classmethod
    def read(cls, env: Environment) -> LoginSettings:
        return cls(
            self_registration=env.switch("BUNKHOUSE_SELF_REGISTRATION", cls.self_registration),
            access_token_minutes=env.integer("BUNKHOUSE_ACCESS_TOKEN_MINUTES", cls.access_token_minutes, 1),
            refresh_token_hours=env.integer("BUNKHOUSE_REFRESH_TOKEN_HOURS", cls.refresh_token_hours, 1),
            invite_hours=env.integer("BUNKHOUSE_INVITE_HOURS", cls.invite_hours, 1),
            failures_per_user=env.integer("BUNKHOUSE_LOGIN_FAILURES_PER_USER", cls.failures_per_user, 1),
            failures_per_address=env.integer("BUNKHOUSE_LOGIN_FAILURES_PER_ADDRESS", cls.failures_per_address, 1),
        )
