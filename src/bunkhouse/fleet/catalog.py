"""The containers file (BUNKHOUSE_CONTAINERS_FILE): the named containers bunkhouse keeps ready,
the pools that say how warm each is kept, and the profiles that group them (seed 004).

    pools:
      warm: {description: "On demand, stopped when idle", ttl_seconds: 1800, health_check_interval: 60}
    containers:
      - {name: ats_network_nmap, image: bunkhouse/tool:latest, pool: warm, ports: [8080]}
    profile_mappings:
      red_team_operator: [ats_network_nmap]

A pool's name is its warmth: hot (kept running), warm (started on demand, stopped ttl_seconds
after its last use), cold (created on demand, removed ttl_seconds after its last use). The file
is validated whole on load; an error names the file, the entry and the field, and a file that
does not load changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

WARMTHS = ("hot", "warm", "cold")
# Seed 004's descriptions, used when the file gives none.
_DESCRIPTIONS = {"hot": "Hot pool - always running core services",
                 "warm": "Warm pool - started on demand, stopped after ttl_seconds idle",
                 "cold": "Cold pool - created when needed, removed after use"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SIZE = re.compile(r"^[1-9][0-9]*[kmg]$")


class CatalogError(ValueError):
    """The containers file cannot be used; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Limits:
    cpus: float = 0.5
    memory: str = "256m"
    pids: int = 128


@dataclass(frozen=True)
class HealthCheck:
    # Run inside the container by Docker; ready means Docker says healthy.
    command: tuple[str, ...]
    interval_seconds: float = 2.0
    timeout_seconds: float = 3.0
    retries: int = 3
    start_period_seconds: float = 0.0


@dataclass(frozen=True)
class ContainerSpec:
    """One named container: a template of exactly one member, shared by the leases that hold it."""

    name: str
    image: str
    pool: str
    command: tuple[str, ...] | None = None
    # Container ports (TCP), each published on the bind address at a port the engine picks.
    ports: tuple[int, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    health_check: HealthCheck | None = None
    # A folder (relative to the file) the image is built from when it is missing or changed.
    build: str | None = None
    # Seconds a start may take, health included, before it counts as failed.
    start_timeout_seconds: int = 120

    @property
    def digest(self) -> str:
        """Changes whenever anything that makes the container changes: a running member with
        another digest is stale."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class NodePoolSpec:
    """The entry of kind ssh_node: the SSH node pool of reservations, whose members are
    exclusive (one lease each). What it leaves out keeps the pool's settings (BUNKHOUSE_POOL_SIZE,
    BUNKHOUSE_POOL_MAX, BUNKHOUSE_POOL_IDLE_SECONDS, BUNKHOUSE_NODE_CPUS/MEMORY/PIDS)."""

    name: str
    pool: str
    min: int | None = None
    max: int | None = None
    idle_seconds: int | None = None
    cpus: float | None = None
    memory: str | None = None
    pids: int | None = None


@dataclass(frozen=True)
class NodeBounds:
    """What the settings allow the ssh_node entry: its name (BUNKHOUSE_POOL) and the most members
    the SSH port range holds."""

    name: str
    max_members: int
    # The pool's min when the entry gives none (BUNKHOUSE_POOL_SIZE).
    default_min: int = 1


@dataclass(frozen=True)
class PoolSpec:
    warmth: str
    description: str
    ttl_seconds: int
    health_check_interval: int


@dataclass(frozen=True)
class Catalog:
    path: Path | None
    containers: dict[str, ContainerSpec]
    pools: dict[str, PoolSpec]
    profiles: dict[str, tuple[str, ...]]
    node_pool: NodePoolSpec | None = None

    @classmethod
    def empty(cls) -> Catalog:
        return cls(None, {}, {}, {})

    def in_pool(self, warmth: str) -> list[ContainerSpec]:
        return [spec for spec in self.containers.values() if spec.pool == warmth]


# ---- the schema of one entry -----------------------------------------------------------------

class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Command(fields.Field):
    """A command: a list of words, or one string run by /bin/sh -c."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip():
            return ("/bin/sh", "-c", value)
        if isinstance(value, list) and value and all(isinstance(word, str) for word in value):
            return tuple(value)
        raise ValidationError("must be a non-empty string or a list of strings")


class _LimitsSchema(_Strict):
    cpus = fields.Float(validate=validate.Range(min=0.01, max=64))
    memory = fields.String(validate=validate.Regexp(_SIZE, error="must be a size such as 256m or 1g"))
    pids = fields.Integer(validate=validate.Range(min=16, max=65536))


class _HealthSchema(_Strict):
    command = _Command(required=True)
    interval_seconds = fields.Float(validate=validate.Range(min=0.5))
    timeout_seconds = fields.Float(validate=validate.Range(min=0.5))
    retries = fields.Integer(validate=validate.Range(min=1))
    start_period_seconds = fields.Float(validate=validate.Range(min=0))

    @post_load
    def make(self, data, **_kwargs):
        return HealthCheck(**data)


class _ContainerSchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(
        NAME, error="must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"))
    image = fields.String(required=True, validate=validate.Length(min=1, max=255))
    pool = fields.String(required=True)
    command = _Command()
    ports = fields.List(fields.Integer(validate=validate.Range(min=1, max=65535)))
    environment = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$")),
                              values=fields.String())
    limits = fields.Nested(_LimitsSchema)
    health_check = fields.Nested(_HealthSchema)
    build = fields.String(validate=validate.Length(min=1))
    start_timeout_seconds = fields.Integer(validate=validate.Range(min=1, max=3600))


class _NodePoolSchema(_Strict):
    kind = fields.String(required=True)
    name = fields.String(required=True)
    pool = fields.String(required=True)
    min = fields.Integer(validate=validate.Range(min=1))
    max = fields.Integer(validate=validate.Range(min=1))
    idle_seconds = fields.Integer(validate=validate.Range(min=0))
    limits = fields.Nested(_LimitsSchema)


class _PoolSchema(_Strict):
    description = fields.String()
    ttl_seconds = fields.Integer(required=True, validate=validate.Range(min=0))
    health_check_interval = fields.Integer(load_default=60, validate=validate.Range(min=1))


# ---- loading -----------------------------------------------------------------------------------

def load(path: Path, nodes: NodeBounds | None = None) -> Catalog:
    """The catalog of this file, or a CatalogError naming the place of the first faults."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise CatalogError(f"{path}: cannot be read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise CatalogError(f"{path}: is not valid YAML ({error})") from None
    return parse(document, path, nodes)


def parse(document, path: Path, nodes: NodeBounds | None = None) -> Catalog:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise CatalogError(f"{path}: must be a mapping with pools, containers and profile_mappings")
    unknown = sorted(set(document) - {"pools", "containers", "profile_mappings"})
    if unknown:
        raise CatalogError(f"{path}: unknown section {unknown[0]!r} (the sections are pools, containers,"
                           " profile_mappings)")
    pools = _pools(document.get("pools") or {}, path)
    section = document.get("containers") or []
    if not isinstance(section, list):
        raise CatalogError(f"{path}: containers must be a list of entries, each with a name")
    node_pool = _node_pool(section, pools, path, nodes)
    containers = _containers(section, pools, path)
    profiles = _profiles(document.get("profile_mappings") or {}, containers, path)
    return Catalog(path, containers, pools, profiles, node_pool)


def _pools(section, path: Path) -> dict[str, PoolSpec]:
    if not isinstance(section, dict):
        raise CatalogError(f"{path}: pools must be a mapping of hot, warm and cold")
    pools = {}
    for warmth, entry in section.items():
        if warmth not in WARMTHS:
            raise CatalogError(f"{path}: pools.{warmth}: unknown pool (the pools are hot, warm and cold)")
        data = _load_entry(_PoolSchema(), entry, f"{path}: pools.{warmth}")
        pools[warmth] = PoolSpec(warmth, data.get("description") or _DESCRIPTIONS[warmth], data["ttl_seconds"],
                                 data["health_check_interval"])
    return pools


def _place(path: Path, index: int, entry) -> str:
    label = (entry.get("name") if isinstance(entry, dict) else None) or "?"
    return f"{path}: containers[{index}] ({label})"


def _is_node_pool(entry) -> bool:
    return isinstance(entry, dict) and "kind" in entry


def _node_pool(section: list, pools: dict[str, PoolSpec], path: Path, nodes: NodeBounds | None) -> NodePoolSpec | None:
    """The one entry of kind ssh_node, checked against what the settings allow."""
    found = None
    for index, entry in enumerate(section):
        if not _is_node_pool(entry):
            continue
        place = _place(path, index, entry)
        data = _load_entry(_NodePoolSchema(), entry, place)
        if data["kind"] != "ssh_node":
            raise CatalogError(f"{place}: kind: unknown kind {data['kind']!r} (the one kind is ssh_node, the SSH node"
                               " pool of reservations; a named container has no kind)")
        if found is not None:
            raise CatalogError(f"{place}: kind: a second ssh_node entry (there is one SSH node pool)")
        if nodes is not None and data["name"] != nodes.name:
            raise CatalogError(f"{place}: name: the SSH node pool is {nodes.name!r} (BUNKHOUSE_POOL)")
        if data["pool"] != "hot" or "hot" not in pools:
            raise CatalogError(f"{place}: pool: the SSH node pool is hot (its min is kept running): add pools.hot")
        low, high = data.get("min"), data.get("max")
        if low is not None and high is not None and low > high:
            raise CatalogError(f"{place}: min: {low} is above max {high}")
        if nodes is not None and high is not None and high < (low or nodes.default_min):
            raise CatalogError(f"{place}: max: {high} is below the pool's min {low or nodes.default_min}"
                               + ("" if low else " (BUNKHOUSE_POOL_SIZE)"))
        if nodes is not None and (high or low or 0) > nodes.max_members:
            raise CatalogError(f"{place}: max: the SSH port range (BUNKHOUSE_SSH_PORT_FIRST..LAST) holds"
                               f" {nodes.max_members} nodes")
        limits = data.get("limits") or {}
        found = NodePoolSpec(data["name"], data["pool"], low, high, data.get("idle_seconds"), limits.get("cpus"),
                             limits.get("memory"), limits.get("pids"))
    return found


def _containers(section: list, pools: dict[str, PoolSpec], path: Path) -> dict[str, ContainerSpec]:
    found: dict[str, ContainerSpec] = {}
    for index, entry in enumerate(section):
        if _is_node_pool(entry):
            continue
        place = _place(path, index, entry)
        exclusive = sorted({"min", "max"} & set(entry)) if isinstance(entry, dict) else []
        if exclusive:
            raise CatalogError(f"{place}: {exclusive[0]}: min and max are for exclusive members, the entry of kind"
                               " ssh_node; a named container is one member that its leases share")
        data = _load_entry(_ContainerSchema(), entry, place)
        if "limits" in data:
            data["limits"] = Limits(**data["limits"])
        if data["pool"] not in pools:
            known = ", ".join(pools) or "none: add a pools section"
            raise CatalogError(f"{place}: pool: unknown pool {data['pool']!r} (the file's pools: {known})")
        if data["name"] in found:
            raise CatalogError(f"{place}: name: {data['name']!r} is already the name of an earlier entry")
        if "ports" in data:
            if len(set(data["ports"])) != len(data["ports"]):
                raise CatalogError(f"{place}: ports: a port is listed twice")
            data["ports"] = tuple(data["ports"])
        if "build" in data:
            folder = (path.parent / data["build"]).resolve()
            if not folder.is_dir():
                raise CatalogError(f"{place}: build: {folder} is not a folder")
            data["build"] = str(folder)
        found[data["name"]] = ContainerSpec(**data)
    return found


def _profiles(section, containers: dict[str, ContainerSpec], path: Path) -> dict[str, tuple[str, ...]]:
    if not isinstance(section, dict):
        raise CatalogError(f"{path}: profile_mappings must map each profile id to a list of container names")
    profiles = {}
    for profile, names in section.items():
        place = f"{path}: profile_mappings.{profile}"
        if not isinstance(profile, str) or not NAME.match(profile):
            raise CatalogError(f"{place}: a profile id is 1-63 letters, digits, '_', '.' or '-'")
        if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
            raise CatalogError(f"{place}: must be a non-empty list of container names")
        for name in names:
            if name not in containers:
                raise CatalogError(f"{place}: unknown container {name!r}")
        if len(set(names)) != len(names):
            raise CatalogError(f"{place}: a container is listed twice")
        profiles[profile] = tuple(names)
    return profiles


def _load_entry(schema: Schema, entry, place: str) -> dict:
    if not isinstance(entry, dict):
        raise CatalogError(f"{place}: must be a mapping")
    try:
        return schema.load(entry)
    except ValidationError as error:
        raise CatalogError(f"{place}: {_first_fault(error.normalized_messages())}") from None


def _first_fault(messages, prefix: str = "") -> str:
    """marshmallow's nested messages as 'limits.memory: must be a size such as 256m or 1g'."""
    if isinstance(messages, dict):
        key = sorted(messages, key=str)[0]
        inner = messages[key]
        label = "unknown field" if inner == ["Unknown field."] else None
        if label:
            return f"{prefix}{key}: unknown field"
        return _first_fault(inner, f"{prefix}{key}." if isinstance(inner, dict) else f"{prefix}{key}: ")
    if isinstance(messages, list):
        return prefix + "; ".join(str(message) for message in messages)
    return prefix + str(messages)
