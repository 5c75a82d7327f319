"""Reads of a unit app's node pool, and its containers file with an ssh_node entry."""

from __future__ import annotations

import yaml

from bunkhouse.fleet.sizing import PoolSizing


def rows(app) -> dict[str, str]:
    return {row.name: row.state for row in app.extensions["bunkhouse.fleet"].members()}


def sizing(app) -> PoolSizing:
    return app.extensions["bunkhouse.reservations"].sizing


def node_pool_file(path, **entry) -> str:
    path.write_text(yaml.safe_dump({"pools": {"hot": {"ttl_seconds": 0}},
                                    "containers": [{"name": "unit", "kind": "ssh_node", "pool": "hot", **entry}]}))
    return str(path)
