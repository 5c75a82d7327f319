"""Request schemas of seed 004's routes, /api/v1/containers/..., with its field names."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Range


class PrepareIn(Schema):
    profile_id = String(required=True, metadata={"description": "A profile of the containers file",
                                                 "example": "red_team_operator"})
    force_restart = Boolean(load_default=False, metadata={"description": "Recreate the containers even if running"})
    lease_seconds = Integer(load_default=None, allow_none=True, strict=True, metadata={
        "description": "How long the lease holds them (default BUNKHOUSE_PREPARE_LEASE_SECONDS)", "minimum": 1})


class StartIn(Schema):
    container_name = String(required=True, metadata={"example": "ats_network_nmap"})
    wait_for_health = Boolean(load_default=True, metadata={"description": "Ready only once Docker says healthy"})
    timeout = Integer(load_default=None, allow_none=True, strict=True, validate=Range(min=1, max=3600),
                      metadata={"description": "Seconds the start, health included, may take (default: the"
                                               " entry's start_timeout_seconds)"})


class StopIn(Schema):
    container_name = String(required=True, metadata={"example": "ats_network_nmap"})
    force = Boolean(load_default=False, metadata={"description": "Stop it even while a lease holds it (admins)"})
    timeout = Integer(load_default=30, strict=True, validate=Range(min=0, max=600),
                      metadata={"description": "Seconds Docker waits for it to stop before killing it"})


class ExtendIn(Schema):
    seconds = Integer(required=True, strict=True, metadata={"description": "Seconds to add", "minimum": 1})


# ---- responses (seed 004's fields, and the lease bunkhouse adds) ------------------------------------

class LeaseOut(Schema):
    id = String()
    profile_id = String()
    owner = String(allow_none=True)
    containers = List(String())
    created_at = String()
    ends_at = String()
    ended_at = String(allow_none=True)
    end_reason = String(allow_none=True, metadata={"description": "released, expired"})


class LeaseListOut(Schema):
    leases = List(Nested(LeaseOut))


class PreparedContainerOut(Schema):
    status = String(metadata={"description": "ready, starting, or the container's power (failed, ...)"})
    healthy = Boolean()
    estimated_time = Integer(metadata={"description": "seconds until ready, from measured start times"})


class PrepareOut(Schema):
    profile_id = String()
    containers = Dict(keys=String(), values=Nested(PreparedContainerOut))
    all_ready = Boolean()
    estimated_wait_seconds = Integer()
    lease = Nested(LeaseOut)
    timestamp = String()


class ContainerStatusOut(Schema):
    container_name = String()
    status = String(metadata={"description": "absent, starting, running, stopping, stopped, removing, failed"})
    pool = String()
    healthy = Boolean()
    uptime_seconds = Float()
    last_used = String(allow_none=True)
    metrics = Raw(allow_none=True)
    addresses = Dict(keys=String(), values=String(), metadata={"description": "container port -> host:port"})


class StatusOut(Schema):
    profile_id = String()
    containers = Dict(keys=String(), values=Nested(ContainerStatusOut))
    ready = Boolean()
    timestamp = String()


class StartOut(Schema):
    message = String()
    container_name = String()
    wait_for_health = Boolean()
    estimated_time = Integer()


class StopOut(Schema):
    message = String()
    container_name = String()


class PoolOut(Schema):
    pool_type = String()
    description = String()
    containers = List(String())
    active_count = Integer()
    total_count = Integer()
    health_check_interval = Integer()
    ttl_seconds = Integer()


class MetricsOut(Schema):
    total_starts = Integer()
    total_stops = Integer()
    total_failures = Integer()
    average_startup_time = Float()
    active_containers = Integer()
    pool_distribution = Dict(keys=String(), values=Integer())
    timestamp = String()


class HealthOut(Schema):
    status = String()
    initialized = Boolean()
    cleanup_task_running = Boolean()
    active_containers = Integer()
    timestamp = String()


class ReloadOut(Schema):
    message = String()
    added = List(String())
    removed = List(String())
    changed = List(String())
    stale_nodes = List(String(), metadata={
        "description": "SSH nodes made from an older ssh_node entry (other limits): recreated once free, at"
                       " once with strategy immediate; a held one when its reservation ends"})
    strategy = String()
    timestamp = String()
