"""A challenge's config as it is kept and run: the caller's seed 003 config (already checked for
types by schemas.py) checked against what the operator allows (the image allow-list, the
resource maxima), with the allow-list entry's ports and health check where the caller gives none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bunkhouse.challenges.images import AllowList
from bunkhouse.challenges.resources import Resources, resources_of
from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core.errors import BadRequest


@dataclass(frozen=True)
class ChallengeConfig:
    challenge_type: str
    image: str
    ports: tuple[int, ...]
    health_check_path: str | None
    flag_format: str
    flag_in_environment: bool
    resources: Resources
    # As given: kept encrypted apart from the rest (they may be secrets).
    environment: dict[str, str]
    # Minutes an instance lives from its start or renewal, and its hard end from its start (None: no end).
    lifetime_minutes: int | None = None
    max_lifetime_minutes: int | None = None
    # Instances kept started and ready for /assign (pools.py).
    pool_min: int = 0

    def stored(self) -> dict[str, Any]:
        """What the challenges table keeps in `config` (no environment values)."""
        resources = self.resources
        return {"challenge_type": self.challenge_type, "image": self.image, "ports": list(self.ports),
                "health_check_path": self.health_check_path, "flag_format": self.flag_format,
                "flag_in_environment": self.flag_in_environment, "lifetime_minutes": self.lifetime_minutes,
                "max_lifetime_minutes": self.max_lifetime_minutes, "pool_min": self.pool_min,
                "resources": {"cpus": resources.cpus, "memory": resources.memory, "cpu_shares": resources.cpu_shares,
                              "memory_reservation": resources.memory_reservation}}

    @classmethod
    def of_stored(cls, stored: dict[str, Any], environment: dict[str, str]) -> ChallengeConfig:
        return cls(stored["challenge_type"], stored["image"], tuple(stored["ports"]), stored["health_check_path"],
                   stored["flag_format"], stored["flag_in_environment"], Resources(**stored["resources"]),
                   environment, stored.get("lifetime_minutes"), stored.get("max_lifetime_minutes"),
                   stored.get("pool_min", 0))


def config_of(given: dict[str, Any], allow_list: AllowList, settings: ChallengeSettings) -> ChallengeConfig:
    """The checked config of a create request (schemas.ConfigIn's output)."""
    entry = allow_list.get(given["image"])
    ports = tuple(given["ports"]) if given.get("ports") else entry.ports
    if not ports:
        raise BadRequest("config.ports: the image's allow-list entry names no port, so the challenge must",
                         code="invalid_ports", field="config.ports")
    if len(set(ports)) != len(ports):
        raise BadRequest("config.ports lists a port twice", code="invalid_ports", field="config.ports")
    environment = dict(given.get("environment_vars") or {})
    # Seed 003 writes FLAG into environment_vars: it asks for the flag in the environment; each
    # team gets its own there, never the one value written here.
    flag_in_environment = bool(given.get("flag_in_environment")) or "FLAG" in environment
    environment.pop("FLAG", None)
    health = given.get("health_check_path")
    return ChallengeConfig(given.get("challenge_type") or "web", entry.image, ports,
                           health if health is not None else entry.health_check_path,
                           given.get("flag_format") or "CTF{}", flag_in_environment,
                           resources_of(given.get("resources"), settings), environment,
                           *_lifetime_of(given.get("lifetime_minutes"), given.get("max_lifetime_minutes"), settings),
                           _pool_of(given.get("pool_min") or 0, flag_in_environment, settings))


def _pool_of(pool_min: int, flag_in_environment: bool, settings: ChallengeSettings) -> int:
    """A pool's members are started before any team is known: their flags are files (bound at
    the claim), never in an environment made before it."""
    if pool_min > settings.max_pool:
        raise BadRequest(f"config.pool_min is at most {settings.max_pool} (BUNKHOUSE_CHALLENGE_MAX_POOL)",
                         code="invalid_pool", field="config.pool_min")
    if pool_min and flag_in_environment:
        raise BadRequest("config.pool_min: a challenge with the flag in the environment is never pooled (its "
                         "instances are made for their team)", code="invalid_pool", field="config.pool_min")
    return pool_min


def _lifetime_of(lifetime: int | None, hard_end: int | None, settings: ChallengeSettings
                 ) -> tuple[int | None, int | None]:
    """(lifetime, hard end) in minutes: a hard end needs a lifetime, is at least one, and at most
    BUNKHOUSE_CHALLENGE_MAX_LIFETIME (4 lifetimes when not given, within that maximum)."""
    most = settings.max_lifetime_minutes
    if lifetime is None:
        if hard_end is not None:
            raise BadRequest("config.max_lifetime_minutes needs a config.lifetime_minutes", code="invalid_lifetime",
                             field="config.max_lifetime_minutes")
        return None, None
    if lifetime > most:
        raise BadRequest(f"config.lifetime_minutes is at most {most} (BUNKHOUSE_CHALLENGE_MAX_LIFETIME)",
                         code="invalid_lifetime", field="config.lifetime_minutes")
    if hard_end is None:
        return lifetime, min(4 * lifetime, most)
    if not lifetime <= hard_end <= most:
        raise BadRequest(f"config.max_lifetime_minutes is from lifetime_minutes ({lifetime}) to {most} "
                         "(BUNKHOUSE_CHALLENGE_MAX_LIFETIME)", code="invalid_lifetime",
                         field="config.max_lifetime_minutes")
    return lifetime, hard_end
