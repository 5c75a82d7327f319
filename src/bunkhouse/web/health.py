"""/healthz: the service's own health (database, Docker engine, scheduler, this process's
role, start-up), each reported; 200 when it can serve, 503 with what is wrong otherwise.
Open to anyone (access.PUBLIC). What it reports comes from the app (lifecycle.py)."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Nested, String
from flask import current_app

bp = APIBlueprint("health", __name__, tag="Health")


class CheckOut(Schema):
    ok = Boolean()
    error = String(metadata={"description": "why not, when it is not"})
    version = String(allow_none=True)
    running = Boolean()
    enabled = Boolean()


class HealthOut(Schema):
    status = String(metadata={"description": "ok, starting, degraded or stopping"})
    version = String()
    role = String(metadata={"description": "primary (runs the jobs and Ansible) or secondary (serves reads)"})
    waiting_for = String(metadata={"description": "while starting: what it waits for"})
    database = Nested(CheckOut)
    docker = Nested(CheckOut)
    scheduler = Nested(CheckOut)
    primary_lock = Nested(CheckOut, metadata={"description": "the primary's lock is still its own (primary only)"})
    detail = Dict()


@bp.get("/healthz")
@bp.output(HealthOut)
@bp.doc(summary="Database, Docker engine, scheduler, start-up and this process's role, each reported",
        responses={503: {"description": "Starting, stopping, or something it needs does not answer (each check "
                                        "says)", "content": {"application/json": {"schema": HealthOut}}}})
def healthz():
    body, healthy = current_app.extensions["bunkhouse.status"]()
    return body, 200 if healthy else 503
