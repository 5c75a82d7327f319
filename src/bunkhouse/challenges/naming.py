"""The names a challenge's things have on the engine, from its network number: its network,
bridge and firewall chains, and each team's container; and the subnet of that number."""

from __future__ import annotations

import ipaddress

from bunkhouse.config.challenges import ChallengeSettings


def network_name(index: int) -> str:
    return f"bunkhouse-ch-{index}"


def bridge_name(index: int) -> str:
    """At most 15 characters (Linux), bh- first (roles/pool_node's chains are BH-<the rest>)."""
    return f"bh-ch{index}"


def container_name(index: int, team_id: str) -> str:
    return f"bunkhouse-ch-{index}-{team_id}"


def team_ids(count: int) -> list[str]:
    """Seed 003's team ids: team-001 .. team-NNN."""
    return [f"team-{number:03d}" for number in range(1, count + 1)]


def subnet_count(settings: ChallengeSettings) -> int:
    network = ipaddress.ip_network(settings.subnets)
    return 2 ** (settings.subnet_prefix - network.prefixlen)


def subnet_of(index: int, settings: ChallengeSettings) -> str:
    """The index-th subnet of BUNKHOUSE_CHALLENGE_SUBNETS (1 is the first)."""
    network = ipaddress.ip_network(settings.subnets)
    size = 2 ** (32 - settings.subnet_prefix)
    return str(ipaddress.ip_network((int(network.network_address) + (index - 1) * size, settings.subnet_prefix)))
