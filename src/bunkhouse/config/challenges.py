"""The settings of challenge instances (behaviour 2): where their images may come from, the
ports and subnets they get, and the most a challenge may ask for."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from bunkhouse.config.environment import ConfigError, Environment

_MEMORY = re.compile(r"^[1-9][0-9]*[kmg]$")


@dataclass(frozen=True)
class ChallengeSettings:
    # The allow-list of challenge images (a YAML file; relative to the project folder): no other
    # image is started, whatever a caller names.
    images_file: str = "config/challenge-images.yml"
    # Host ports the instances' ports are published on, one per instance port, kept per team;
    # below the kernel's ephemeral range (32768 and up), where outgoing connections take ports.
    port_first: int = 23000
    port_last: int = 24999
    # Address they are published on, and the host teams are told (public_ip, access_url).
    bind_address: str = "127.0.0.1"
    host: str = ""
    # Each challenge's network gets the next subnet of this size from this range.
    subnets: str = "10.213.0.0/16"
    subnet_prefix: int = 24
    # The most one instance may use (requests above are a 400), and what it gets when it says nothing.
    max_cpus: float = 1.0
    max_memory: str = "1g"
    default_cpus: float = 0.5
    default_memory: str = "256m"
    pids: int = 128
    max_teams: int = 200
    # The most instances a challenge may keep ready in its pool (config.pool_min).
    max_pool: int = 50
    # Instances in one Ansible run, one run at a time (BUNKHOUSE_ANSIBLE_FORKS of them at once).
    max_starting: int = 50
    # Seconds an instance has to answer its health check before it is failed.
    start_timeout: int = 120
    # Instances may open connections beyond this machine.
    outbound: bool = False
    # The longest hard end a challenge may give its instances (lifetime plus renewals), and how
    # often the janitor ends the instances whose time is up.
    max_lifetime_minutes: int = 1440
    janitor_seconds: int = 10

    @property
    def public_host(self) -> str:
        return self.host or ("127.0.0.1" if self.bind_address in ("0.0.0.0", "::") else self.bind_address)

    def images_path(self, project_dir: Path) -> Path:
        return (project_dir / self.images_file).resolve()

    @classmethod
    def read(cls, env: Environment) -> ChallengeSettings:
        settings = cls(
            images_file=env.text("BUNKHOUSE_CHALLENGE_IMAGES", cls.images_file),
            port_first=env.integer("BUNKHOUSE_CHALLENGE_PORT_FIRST", cls.port_first, 1),
            port_last=env.integer("BUNKHOUSE_CHALLENGE_PORT_LAST", cls.port_last, 1),
            bind_address=env.text("BUNKHOUSE_CHALLENGE_BIND_ADDRESS", cls.bind_address),
            host=env.text("BUNKHOUSE_CHALLENGE_HOST", cls.host),
            subnets=env.text("BUNKHOUSE_CHALLENGE_SUBNETS", cls.subnets),
            subnet_prefix=env.integer("BUNKHOUSE_CHALLENGE_SUBNET_PREFIX", cls.subnet_prefix, 16),
            max_cpus=env.decimal("BUNKHOUSE_CHALLENGE_MAX_CPUS", cls.max_cpus, 0.01),
            max_memory=env.text("BUNKHOUSE_CHALLENGE_MAX_MEMORY", cls.max_memory).lower(),
            default_cpus=env.decimal("BUNKHOUSE_CHALLENGE_CPUS", cls.default_cpus, 0.01),
            default_memory=env.text("BUNKHOUSE_CHALLENGE_MEMORY", cls.default_memory).lower(),
            pids=env.integer("BUNKHOUSE_CHALLENGE_PIDS", cls.pids, 16),
            max_teams=env.integer("BUNKHOUSE_CHALLENGE_MAX_TEAMS", cls.max_teams, 1),
            max_pool=env.integer("BUNKHOUSE_CHALLENGE_MAX_POOL", cls.max_pool, 0),
            max_starting=env.integer("BUNKHOUSE_CHALLENGE_MAX_STARTING", cls.max_starting, 1),
            start_timeout=env.integer("BUNKHOUSE_CHALLENGE_START_TIMEOUT", cls.start_timeout, 5),
            outbound=env.switch("BUNKHOUSE_CHALLENGE_OUTBOUND", cls.outbound),
            max_lifetime_minutes=env.integer("BUNKHOUSE_CHALLENGE_MAX_LIFETIME", cls.max_lifetime_minutes, 1),
            janitor_seconds=env.integer("BUNKHOUSE_CHALLENGE_JANITOR_SECONDS", cls.janitor_seconds, 1),
        )
        for name, value in (("BUNKHOUSE_CHALLENGE_MAX_MEMORY", settings.max_memory),
                            ("BUNKHOUSE_CHALLENGE_MEMORY", settings.default_memory)):
            if not _MEMORY.match(value):
                raise ConfigError(f"{name} must be a size such as 512m or 1g, not {value!r}")
        if settings.port_last < settings.port_first or settings.port_last > 65535:
            raise ConfigError("BUNKHOUSE_CHALLENGE_PORT_FIRST..LAST must be a range of ports")
        try:
            network = ipaddress.ip_network(settings.subnets)
        except ValueError as error:
            raise ConfigError(f"BUNKHOUSE_CHALLENGE_SUBNETS: {error}") from None
        if network.version != 4 or not network.prefixlen <= settings.subnet_prefix <= 29:
            raise ConfigError("BUNKHOUSE_CHALLENGE_SUBNETS must be an IPv4 range that holds subnets of"
                              " BUNKHOUSE_CHALLENGE_SUBNET_PREFIX (at most /29)")
        if settings.default_cpus > settings.max_cpus:
            raise ConfigError("BUNKHOUSE_CHALLENGE_CPUS is above BUNKHOUSE_CHALLENGE_MAX_CPUS")
        return settings
