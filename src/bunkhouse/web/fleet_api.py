"""The fleet's nodes, for admins: list them, take one out, put it back (/api/v1/nodes)."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import Length
from flask import current_app

from bunkhouse.fleet import hands
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.models import Container
from bunkhouse.fleet.pool import Pool
from bunkhouse.web.access import admin_only, principal
from bunkhouse.web.views import iso

bp = APIBlueprint("fleet", __name__, url_prefix="/api/v1", tag="Nodes")


class NodeOut(Schema):
    name = String()
    state = String(metadata={"description": "free, reserving, reserved, releasing, quarantined or disabled"})
    reason = String(allow_none=True)
    host = String()
    port = Integer()
    reservation_id = String(allow_none=True, metadata={"description": "the lease that holds it"})
    host_key_fingerprints = Dict(keys=String(), values=String())
    stale = Boolean(metadata={"description": "made from an older ssh_node entry (other limits or image): recreated"
                                             " once free"})
    updated_at = String(metadata={"format": "date-time"})


class NodeDisableIn(Schema):
    reason = String(load_default="", validate=Length(0, 500),
                    metadata={"description": "why, for the event log and the node list"})


class NodeListOut(Schema):
    nodes = List(Nested(NodeOut))


def _fleet() -> Fleet:
    return current_app.extensions["bunkhouse.fleet"]


def node_view(node: Container, pool: Pool) -> dict:
    return {"name": node.name, "state": node.state, "reason": node.state_reason, "host": pool.public_host,
            "port": node.port, "reservation_id": node.holder, "host_key_fingerprints": node.host_keys or {},
            "stale": node.spec_digest not in (None, pool.digest), "updated_at": iso(node.updated_at)}


@bp.get("/nodes")
@admin_only
@bp.output(NodeListOut)
@bp.doc(summary="Every node of the pool and its state (admins)", responses={403: "Not an admin"})
def list_nodes():
    fleet = _fleet()
    return {"nodes": [node_view(node, fleet.pool) for node in fleet.members()]}


@bp.post("/nodes/<name>/disable")
@admin_only
@bp.input(NodeDisableIn, arg_name="body")
@bp.output(NodeOut)
@bp.doc(summary="Take a node out of service; it stays out whatever the monitor says (admins)",
        responses={403: "Not an admin", 404: "No such node", 409: "The node is in use"})
def disable_node(name: str, body):
    fleet = _fleet()
    return node_view(hands.disable(fleet, name, body["reason"], actor=principal().name), fleet.pool)


@bp.post("/nodes/<name>/enable")
@admin_only
@bp.output(NodeOut)
@bp.doc(summary="Put a disabled node back: it is recreated clean, then free (admins)",
        responses={403: "Not an admin", 404: "No such node"})
def enable_node(name: str):
    fleet = _fleet()
    return node_view(hands.enable(fleet, name, actor=principal().name), fleet.pool)
