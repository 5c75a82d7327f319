"""Seed 004's routes (../shared/seeds/004_*.txt), /api/v1/containers/..., with its request and
response fields, and the leases a prepare makes. Errors carry seed 004's `detail` beside
bunkhouse's `error`, so the seed's own clients read them."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, request

from bunkhouse.core.errors import BadRequest, Forbidden, Unavailable
from bunkhouse.fleet.named import NamedContainers
from bunkhouse.profiles.schemas import (
    ExtendIn,
    HealthOut,
    LeaseListOut,
    LeaseOut,
    MetricsOut,
    PoolOut,
    PrepareIn,
    PrepareOut,
    ReloadOut,
    StartIn,
    StartOut,
    StatusOut,
    StopIn,
    StopOut,
)
from bunkhouse.profiles.service import ProfileService, iso
from bunkhouse.web.access import admin_only, owner_filter, owner_of_new, principal, require_owner
from bunkhouse.web.errors import seed_error_fields

bp = APIBlueprint("containers", __name__, url_prefix="/api/v1/containers", tag="Containers and profiles")
seed_error_fields("containers", lambda error: {"detail": error["message"]})


def service() -> ProfileService:
    return current_app.extensions["bunkhouse.profiles"]


def named() -> NamedContainers:
    return service().named


@bp.post("/prepare")
@bp.input(PrepareIn, arg_name="body")
@bp.output(PrepareOut)
@bp.doc(summary="Prepare the containers of a profile", description="Holds them with a lease (its id is in `lease`)"
        " and starts those not running; poll /status/{profile_id} until `ready`.",
        responses={200: "Held; all_ready says whether they are ready now", 404: "No such profile",
                   503: "bunkhouse is starting, or this process only serves reads"})
def prepare(body):
    if body["force_restart"] and not principal().is_admin:
        raise Forbidden("only an admin may recreate containers other leases may hold (force_restart)",
                        code="admin_only", field="force_restart")
    return service().prepare(body["profile_id"], force_restart=body["force_restart"], owner=owner_of_new(),
                             seconds=body["lease_seconds"])


@bp.get("/status/<profile_id>")
@bp.output(StatusOut)
@bp.doc(summary="The containers of a profile, and whether all are ready", responses={200: "Its containers",
                                                                                      404: "No such profile"})
def status(profile_id):
    return service().status(profile_id)


@bp.post("/start")
@bp.input(StartIn, arg_name="body")
@bp.output(StartOut, status_code=202)
@bp.doc(summary="Start one container (202: poll the status)", responses={
    202: "Starting (or already running)", 404: "No such container", 503: "bunkhouse is starting"})
def start(body):
    name = body["container_name"]
    service().role.require_acting()
    spec = named().spec(name)
    named().start(name, wait_for_health=body["wait_for_health"], timeout=body["timeout"])
    row = named().rows([name]).get(name)
    return {"message": f"Container {name} is starting" if not named().is_ready(row) else f"Container {name} is running",
            "container_name": name, "wait_for_health": body["wait_for_health"],
            "estimated_time": named().estimate(row) if row else spec.start_timeout_seconds}, 202


@bp.post("/stop")
@bp.input(StopIn, arg_name="body")
@bp.output(StopOut)
@bp.doc(summary="Stop one container", description="409 while a lease holds it, unless `force` (admins).",
        responses={200: "Stopped", 403: "force is for admins", 404: "No such container",
                   409: "A lease holds it (named)", 503: "It did not stop, or bunkhouse is starting"})
def stop(body):
    name = body["container_name"]
    if body["force"] and not principal().is_admin:
        raise Forbidden("only an admin may stop a container a lease may hold (force)", code="admin_only")
    service().role.require_acting()
    named().spec(name)
    if not named().stop(name, force=body["force"], timeout=body["timeout"]):
        row = named().rows([name]).get(name)
        raise Unavailable(f"container {name} did not stop: {row.state_reason if row else 'unknown'}",
                          code="container_stop_failed", container=name)
    return {"message": f"Container {name} stopped successfully", "container_name": name}


@bp.get("/pools/<pool_type>")
@bp.output(PoolOut)
@bp.doc(summary="The containers of a pool (hot, warm or cold)", responses={200: "The pool", 404: "No such pool"})
def pool(pool_type):
    return service().pool(pool_type)


@bp.get("/metrics")
@bp.output(MetricsOut)
@bp.doc(summary="Counters of starts, stops and failures, and what runs now")
def metrics():
    return service().metrics()


@bp.get("/health")
@bp.output(HealthOut)
@bp.doc(summary="Whether the containers' orchestration works (open, like /healthz)", security=[],
        responses={200: "Healthy",
                   503: "Not started yet, the engine does not answer, or the containers file failed to load"})
def health():
    problem = service().problem()
    if problem:
        raise Unavailable(problem, code="containers_unhealthy")
    return {"status": "healthy", "initialized": True, "cleanup_task_running": service().jobs_running(),
            "active_containers": service().metrics()["active_containers"], "timestamp": iso(service().clock())}


@bp.post("/reload-config")
@admin_only
@bp.output(ReloadOut)
@bp.doc(summary="Apply a changed containers file without a restart (admins)",
        responses={200: "In force", 400: "The file (or the strategy) is invalid: nothing changed",
                   403: "For admins", 503: "bunkhouse is starting"},
        description="Body (optional, as seed 004 sends none): {\"strategy\": \"on_release\" | \"immediate\"}."
                    " on_release: a removed or changed container goes or is recreated once no lease holds it;"
                    " immediate: now. SSH nodes made from an older ssh_node entry (stale_nodes) are recreated once"
                    " free: a few each pool round (on_release) or all at once (immediate); a held node when its"
                    " reservation ends. An invalid file is refused (400, naming the entry and field) and the"
                    " running one stays.")
def reload_config():
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object, or empty", code="invalid_body")
    strategy = body.get("strategy", "on_release")
    if strategy not in ("on_release", "immediate"):
        raise BadRequest("strategy must be on_release or immediate", code="invalid_strategy", field="strategy")
    change = service().reload(strategy)
    return {"message": "Configuration reloaded successfully", "added": change.added, "removed": change.removed,
            "changed": change.changed, "stale_nodes": current_app.extensions["bunkhouse.fleet"].stale_members(),
            "strategy": change.strategy, "timestamp": iso(service().clock())}


# ---- the leases a prepare makes --------------------------------------------------------------------

def _owned(lease_id: str):
    lease = service().lease(lease_id)
    require_owner(lease.owner, "profile lease")
    return lease


@bp.get("/leases")
@bp.output(LeaseListOut)
@bp.doc(summary="Your current profile leases (an admin's: everyone's)")
def leases():
    return {"leases": [service().lease_view(lease) for lease in service().leases(owner_filter())]}


@bp.get("/leases/<lease_id>")
@bp.output(LeaseOut)
@bp.doc(summary="One profile lease", responses={200: "The lease", 403: "Someone else's", 404: "No such lease"})
def lease(lease_id):
    return service().lease_view(_owned(lease_id))


@bp.post("/leases/<lease_id>/extend")
@bp.input(ExtendIn, arg_name="body")
@bp.output(LeaseOut)
@bp.doc(summary="Extend a profile lease", responses={200: "Extended", 400: "Beyond its longest",
                                                     403: "Someone else's", 404: "No such lease",
                                                     409: "It has ended"})
def extend(lease_id, body):
    _owned(lease_id)
    return service().lease_view(service().extend(lease_id, body["seconds"]))


@bp.delete("/leases/<lease_id>")
@bp.output(LeaseOut)
@bp.doc(summary="Release a profile lease now (idempotent)", responses={200: "Released", 403: "Someone else's",
                                                                        404: "No such lease"})
def release(lease_id):
    _owned(lease_id)
    return service().lease_view(service().release(lease_id))

