"""How a challenge and its instances are shown, with seed 003's fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bunkhouse.challenges import naming
from bunkhouse.challenges.models import Challenge, ChallengeInstance
from bunkhouse.challenges.models import InstanceStatus as I


@dataclass(frozen=True)
class Scope:
    """Whose instances a caller sees: every team's (admins and managers), or one team's (a
    user: their team's, none without a team; and only active challenges)."""

    everyone: bool = True
    team_id: str | None = None

    def sees(self, team_id: str) -> bool:
        return self.everyone or team_id == self.team_id

    def of(self, view: dict) -> dict:
        """A challenge's view with only the instances this scope sees (its status theirs, and
        without who made it)."""
        if self.everyone:
            return view
        seen = [row for row in view["instances"] if self.sees(row["team_id"])]
        return {**view, "instances": seen, "status": challenge_status({row["status"] for row in seen}),
                "created_by": None}


EVERYONE = Scope()


def iso_utc(moment: datetime | None) -> str | None:
    """Seed 003's times: 2025-10-20T06:00:00Z."""
    return None if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def challenge_status(statuses: set[str]) -> str:
    """A challenge's status from its instances' statuses."""
    if not statuses:
        return "pending"
    if statuses & {I.PENDING, I.STARTING}:
        return "deploying"
    if statuses == {I.RUNNING}:
        return "running"
    if statuses <= {I.STOPPED, I.REMOVED, I.STOPPING, I.REMOVING}:
        return "stopped"
    if statuses == {I.FAILED}:
        return "failed"
    return "partial"


def access_url(instance: ChallengeInstance, host: str) -> str | None:
    """http://host:port/ of the instance's first port (the one its health check asks)."""
    if not instance.ports:
        return None
    first = instance.ports[min(instance.ports, key=int)]
    return f"http://{host}:{first}/"


def instance_view(instance: ChallengeInstance, challenge: Challenge, host: str, flag: str | None = None) -> dict:
    view = {"team_id": instance.team_id, "instance_id": instance.id, "public_ip": host,
            "access_url": access_url(instance, host), "ports": dict(instance.ports), "status": instance.status,
            "error": instance.error, "container_name": instance.container_of(challenge),
            "network": naming.network_name(challenge.network_index), "created_at": iso_utc(instance.created_at),
            "pooled": instance.pooled, **_lifetime(instance)}
    if flag is not None:
        view["flag"] = flag
    return view


def instance_access(instance: ChallengeInstance, challenge: Challenge, host: str) -> dict:
    """Seed 003's team access answer."""
    return {"team_id": instance.team_id, "public_ip": host, "access_url": access_url(instance, host),
            "ports": sorted(instance.ports.values()), "status": instance.status,
            "created_at": iso_utc(instance.created_at), **_lifetime(instance)}


def _lifetime(instance: ChallengeInstance) -> dict:
    """When the janitor ends it (renewals move it) and its hard end; null without a lifetime."""
    return {"expires_at": iso_utc(instance.expires_at), "ends_at": iso_utc(instance.ends_at)}


def challenge_view(challenge: Challenge, instances: list[ChallengeInstance], host: str,
                   flags: dict[str, str] | None = None) -> dict:
    config = dict(challenge.config)
    return {"id": challenge.id, "name": challenge.name, "description": challenge.description, "config": config,
            "total_teams": challenge.total_teams, "is_active": challenge.is_active,
            "status": challenge_status({row.status for row in instances}),
            "instances": [instance_view(row, challenge, host, (flags or {}).get(row.id)) for row in instances],
            "created_at": iso_utc(challenge.created_at), "updated_at": iso_utc(challenge.updated_at),
            "created_by": challenge.created_by, "assign_id": challenge.assign_key}
