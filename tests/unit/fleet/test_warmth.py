"""The warmth rules: which change the round wants for a named container, by pool and state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bunkhouse.core.model import utcnow
from bunkhouse.fleet.catalog import parse
from bunkhouse.fleet.models import Container, Power
from bunkhouse.fleet.warmth import RETRY_SECONDS, wanted_change

CATALOG = parse({"pools": {"hot": {"ttl_seconds": 0}, "warm": {"ttl_seconds": 60}, "cold": {"ttl_seconds": 0}},
                 "containers": [{"name": pool, "image": "i", "pool": pool} for pool in ("hot", "warm", "cold")]},
                None)
NOW = utcnow()


def row(name, power, *, idle_seconds=0.0, digest=None, updated_seconds_ago=0.0):
    return Container(name=name, power=power, last_used_at=NOW - timedelta(seconds=idle_seconds),
                     spec_digest=digest or CATALOG.containers.get(name, CATALOG.containers["hot"]).digest,
                     updated_at=NOW - timedelta(seconds=updated_seconds_ago))


@pytest.mark.parametrize(("container", "held", "wanted"), [
    (row("hot", Power.ABSENT), False, "started"),
    (row("hot", Power.STOPPED), True, "started"),
    (row("hot", Power.RUNNING), False, None),
    (row("hot", Power.FAILED, updated_seconds_ago=1), False, None),  # tried again later
    (row("hot", Power.FAILED, updated_seconds_ago=RETRY_SECONDS), False, "started"),
    (row("hot", Power.STARTING), False, None),  # a run is on it
    (row("warm", Power.RUNNING, idle_seconds=59), False, None),
    (row("warm", Power.RUNNING, idle_seconds=60), False, "stopped"),
    (row("warm", Power.RUNNING, idle_seconds=3600), True, None),  # held: never stopped
    (row("warm", Power.FAILED, idle_seconds=60, updated_seconds_ago=1), False, "stopped"),
    (row("warm", Power.ABSENT), False, None),  # started on demand only
    (row("warm", Power.STOPPED), True, "started"),  # held, yet stopped: a stop crossed its prepare
    (row("cold", Power.FAILED, updated_seconds_ago=1), True, None),
    (row("cold", Power.RUNNING), False, "absent"),
    (row("cold", Power.RUNNING), True, None),
    (row("cold", Power.ABSENT), False, None),
    (row("gone", Power.RUNNING), False, "absent"),  # no longer in the file
    (row("gone", Power.RUNNING), True, None),
    (row("hot", Power.RUNNING, digest="old"), False, "recreated"),  # stale
    (row("hot", Power.RUNNING, digest="old"), True, None),  # stale, but held: as it is released
    (row("warm", Power.RUNNING, digest="old", idle_seconds=1), False, "stopped"),
])
def test_the_change_the_round_wants(container, held, wanted):
    assert wanted_change(container, CATALOG, held, NOW) == wanted
