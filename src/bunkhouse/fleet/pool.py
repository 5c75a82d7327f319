"""A pool: the members of one template on the fleet, named bunkhouse-<pool>-<n> with their
main port published at port_first + n - 1, and how Ansible makes them (pool_provision.yml's
variables). The SSH node pool of reservations is the first pool, of the first template.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace

from bunkhouse.config import NodeLimits, PoolSettings
from bunkhouse.fleet.catalog import NodePoolSpec


@dataclass(frozen=True)
class Template:
    """How a container is made."""

    name: str
    image: str
    # The container port published for each member: the one people and probes use.
    port: int
    # What each member may use; every container has limits.
    limits: NodeLimits = field(default_factory=NodeLimits)


SSH_NODE = Template(name="ssh-node", image="bunkhouse/node:latest", port=22)


@dataclass(frozen=True)
class Pool:
    name: str
    template: Template
    size: int
    port_first: int
    port_last: int
    bind_address: str
    # The host name people are told to connect to.
    public_host: str
    # It grows on demand up to max_size members; one beyond `size` (its min) that has been free
    # idle_seconds is removed.
    max_size: int = 0
    idle_seconds: int = 600
    # Member N's container is <prefix>N; empty: bunkhouse-<name>- (roles/pool_node's default).
    name_prefix: str = ""
    # Its tenants get sudo (their nodes then run without no-new-privileges) ...
    sudo: bool = False
    # ... and each released member is recreated from the image before it is handed out again,
    # not only cleaned of its account (the default with sudo: root can change anything).
    recreate_on_release: bool = False

    @classmethod
    def of_settings(cls, settings: PoolSettings, template: Template = SSH_NODE) -> Pool:
        return cls(settings.name, replace(template, limits=settings.limits), settings.size, settings.ssh_port_first,
                   settings.ssh_port_last, settings.ssh_bind_address, settings.ssh_host, max_size=settings.max_size,
                   idle_seconds=settings.idle_seconds, sudo=settings.sudo,
                   recreate_on_release=settings.recreate_on_release)

    def __post_init__(self):
        if self.max_size < self.size:
            object.__setattr__(self, "max_size", self.size)

    def with_entry(self, entry: NodePoolSpec | None) -> Pool:
        """This pool (made of the settings) as the containers file's ssh_node entry says; what
        the entry leaves out keeps the settings' value."""
        if entry is None:
            return self
        size = entry.min if entry.min is not None else self.size
        limits = self.template.limits
        limits = replace(limits, cpus=entry.cpus if entry.cpus is not None else limits.cpus,
                         memory=entry.memory or limits.memory, pids=entry.pids or limits.pids)
        return replace(self, template=replace(self.template, limits=limits), size=size,
                       max_size=entry.max if entry.max is not None else self.max_size,  # at least size: __post_init__
                       idle_seconds=entry.idle_seconds if entry.idle_seconds is not None else self.idle_seconds)

    @property
    def digest(self) -> str:
        """What each member's container is made of (image, limits, sudo), as its label
        bunkhouse.digest: a member labelled with another digest is stale, made from an older entry."""
        limits = self.template.limits
        made_of = {"image": self.template.image, "cpus": limits.cpus, "memory": limits.memory, "pids": limits.pids,
                   "tmp": limits.tmp_size, "home": limits.home_size, "sudo": self.sudo}
        return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def probe_host(self) -> str:
        """Where this machine reaches the members' published ports."""
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::", "") else self.bind_address

    def variables(self, **overrides) -> dict:
        """pool_provision.yml's variables that place this pool's members on an engine."""
        template = self.template
        variables = {
            "pool_node_pool": self.name,
            "pool_node_name_prefix": self.prefix,
            "pool_node_image": template.image,
            "pool_node_count": self.size,
            "pool_node_ssh_port_first": self.port_first,
            "pool_node_ssh_port_last": self.port_last,
            "pool_node_ssh_bind_address": self.bind_address,
            "pool_node_sudo": self.sudo,
            "pool_node_labels": {"bunkhouse.digest": self.digest},
        }
        limits = template.limits
        variables.update({
            "pool_node_cpus": limits.cpus, "pool_node_memory": limits.memory, "pool_node_pids_limit": limits.pids,
            # /var/tmp and /dev/shm keep the role's sizes; /run/lock holds lock files only.
            "pool_node_tmpfs": {"/tmp": limits.tmp_size, "/var/tmp": "64m", "/dev/shm": "64m",
                                "/home": limits.home_size, "/run/lock": "1m"},
            "pool_node_outbound": limits.outbound,
            "pool_node_firewall": limits.firewall,
        })
        return {**variables, **overrides}

    @property
    def prefix(self) -> str:
        return self.name_prefix or f"bunkhouse-{self.name}-"

    def member_name(self, index: int) -> str:
        return f"{self.prefix}{index}"

    def some_members(self, names: list[str], state: str, *, engine_checked: bool = False) -> dict:
        """pool_provision.yml's variables for these members only, wherever they are in the pool.
        engine_checked: a run of this process made the engine ready for the pool (image,
        network, firewall) since it last answered again: this run skips checking it, about 5 s."""
        return self.variables(pool_node_state=state, pool_node_indexes=sorted(index_of(name) for name in names),
                              pool_node_network_ready=engine_checked, node_image_ready=engine_checked)


def index_of(name: str) -> int:
    """A member's number in its pool: the digits that end its name (bunkhouse-<pool>-<index>)."""
    match = re.search(r"-(\d+)$", name)
    if match is None:
        raise ValueError(f"{name} does not end with a member number")
    return int(match.group(1))


def natural_key(name: str) -> list:
    """Sort key that puts node-2 before node-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
