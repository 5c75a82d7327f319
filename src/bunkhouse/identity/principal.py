"""Who is calling, and what they may hold."""

from __future__ import annotations

from dataclasses import dataclass

from bunkhouse.config import AuthSettings
from bunkhouse.identity.models import ApiUser, Role

QUOTA_FIELDS = ("max_nodes", "max_duration_minutes", "max_lease_minutes")


@dataclass(frozen=True)
class Quota:
    """What one user may hold; None: no per-user limit (the global settings still apply)."""

    max_nodes: int | None
    max_duration_minutes: int | None
    max_lease_minutes: int | None

    def as_dict(self) -> dict[str, int | None]:
        return {field: getattr(self, field) for field in QUOTA_FIELDS}


NO_QUOTA = Quota(None, None, None)


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    quota: Quota
    token_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None  # the login the token came from (None: an API token)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        """Manages users and teams, sees every team's instances: an admin or a manager."""
        return self.role in (Role.ADMIN, Role.MANAGER)


# Authentication off (BUNKHOUSE_AUTH=off): every caller is this, with every right.
ANONYMOUS = Principal("anonymous", Role.ADMIN, NO_QUOTA)


def quota_of(user: ApiUser, settings: AuthSettings) -> Quota:
    """A user's quota: their own values, else the configured defaults (admins: no default)."""
    defaults = (
        Quota(settings.user_max_nodes, settings.user_max_duration_minutes, settings.user_max_lease_minutes)
        if user.role != Role.ADMIN else NO_QUOTA
    )
    return Quota(*(getattr(user, field) if getattr(user, field) is not None else getattr(defaults, field)
                   for field in QUOTA_FIELDS))
