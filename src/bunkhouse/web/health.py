"""/healthz: the service's own health (database, Docker engine, scheduler, this process's
role, start-up), each reported; 200 when it can serve, 503 with what is wrong otherwise. And
seed 003's /health: healthy or not, with the time. Open to anyone (access.PUBLIC). What they
report comes from the app (lifecycle.py), asked at most once every
BUNKHOUSE_HEALTH_CACHE_SECONDS (each answer asks the database and the engine: a flood of
/healthz must not become a flood on them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Nested, String
from flask import Flask, current_app

bp = APIBlueprint("health", __name__, tag="Health")

Status = Callable[[], tuple[dict, bool]]


class HealthCache:
    """The last answer of a status function, reused for `seconds` (0: always asked afresh).
    Callers that come while it is being asked wait for that answer instead of asking again."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[dict, bool] | None = None
        self._until = 0.0

    def get(self, status: Status) -> tuple[dict, bool]:
        if not self.seconds:
            return status()
        with self._lock:
            if self._answer is None or self.clock() >= self._until:
                self._answer = status()
                self._until = self.clock() + self.seconds
            return self._answer


def init_health(app: Flask, cache_seconds: float) -> None:
    app.extensions["bunkhouse.health_cache"] = HealthCache(cache_seconds)


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
    nodes = Nested(CheckOut, metadata={"description": "no engine had most of its nodes fail the same monitor round"
                                                      " (primary only)"})
    detail = Dict()


@bp.get("/healthz")
@bp.output(HealthOut)
@bp.doc(summary="Database, Docker engine, scheduler, start-up and this process's role, each reported",
        responses={503: {"description": "Starting, stopping, or something it needs does not answer (each check "
                                        "says)", "content": {"application/json": {"schema": HealthOut}}}})
def healthz():
    body, healthy = _status()
    return body, 200 if healthy else 503


def _status() -> tuple[dict, bool]:
    extensions = current_app.extensions
    cache = extensions.get("bunkhouse.health_cache") or HealthCache(0)
    return cache.get(extensions["bunkhouse.status"])


class SeedHealthOut(Schema):
    status = String(metadata={"description": "healthy, or unhealthy (then 503)"})
    timestamp = String(metadata={"format": "date-time", "example": "2025-10-20T06:00:00Z"})


@bp.get("/health")
@bp.output(SeedHealthOut)
@bp.doc(summary="Seed 003's health: healthy or not, and the time (the detail is at /healthz)",
        responses={503: {"description": "Not healthy (/healthz says why)",
                         "content": {"application/json": {"schema": SeedHealthOut}}}})
def seed_health():
    _, healthy = _status()
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"status": "healthy" if healthy else "unhealthy", "timestamp": now}, 200 if healthy else 503
