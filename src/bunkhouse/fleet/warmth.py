"""How warm each named container is kept: the change the warmth round wants for it now.

hot: kept running (started again when it is not; a failed start is retried after a while).
held (by any pool): started when it is not running (a stop crossed the prepare that holds it).
warm: started on demand; stopped ttl_seconds after its last use once nobody holds it.
cold: created on demand; removed ttl_seconds after its last use once nobody holds it.
A container the file no longer lists (retired) is removed once nobody holds it; one whose
entry changed (stale) is recreated (hot), stopped (warm: its next start recreates it) or
removed (cold) once nobody holds it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bunkhouse.fleet.catalog import Catalog
from bunkhouse.fleet.models import POWER_IN_FLIGHT, Container, Power

# The pool column of a named container's row: "containers:<warmth>".
POOL_PREFIX = "containers:"
# A container the file no longer lists waits here for its holders to let go, then goes.
RETIRED = POOL_PREFIX + "retired"
# What a start may begin from.
STARTABLE = (Power.ABSENT, Power.STOPPED, Power.FAILED)
# A hot container whose start failed is tried again after this many seconds.
RETRY_SECONDS = 30


def wanted_change(row: Container, catalog: Catalog, held: bool, now: datetime) -> str | None:
    """The change a named container needs now (started, stopped, recreated, absent), or None."""
    if row.power in POWER_IN_FLIGHT:
        return None
    spec = catalog.containers.get(row.name)
    if spec is None:  # retired
        return None if held or row.power == Power.ABSENT else "absent"
    pool = catalog.pools[spec.pool]
    idle_since = row.last_used_at or row.started_at or row.updated_at
    idle = not held and idle_since is not None and now - idle_since >= timedelta(seconds=pool.ttl_seconds)
    if row.power == Power.RUNNING and not held and row.spec_digest not in (None, spec.digest):
        return "recreated" if spec.pool == "hot" else ("stopped" if spec.pool == "warm" else "absent")
    retry = row.power != Power.FAILED or now - row.updated_at >= timedelta(seconds=RETRY_SECONDS)
    if spec.pool == "hot" or held:  # held but not running: a stop or removal crossed its prepare
        return "started" if row.power in STARTABLE and retry else None
    if spec.pool == "warm" and row.power in (Power.RUNNING, Power.FAILED) and idle:
        return "stopped"  # a failed start may have left it running: stopped either way
    if spec.pool == "cold" and row.power in (Power.RUNNING, Power.STOPPED, Power.FAILED) and idle:
        return "absent"
    return None
