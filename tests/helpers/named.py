"""Named containers (the containers file's) for the tests and benches: an entry of the example
tool image, and their removal by hand with pool_member.yml, as an operator would."""

from __future__ import annotations

from helpers.service import PROJECT_DIR, run_by_hand

HEALTH = {"command": ["test", "-f", "/tmp/ready"], "interval_seconds": 1}


def tool(name: str, pool: str, memory: str = "96m") -> dict:
    """A containers file entry: the example tool (built from images/tool), answering its name on 8080."""
    return {"name": name, "image": "bunkhouse/tool:latest", "build": str(PROJECT_DIR / "images" / "tool"),
            "pool": pool, "ports": [8080], "environment": {"TOOL_NAME": name}, "health_check": HEALTH,
            "limits": {"cpus": 0.25, "memory": memory, "pids": 48}}


def remove_named_containers(names) -> None:
    """pool_member.yml by hand: every container named here absent."""
    run_by_hand("pool_member.yml", {"pool_member_containers": [{"name": name, "state": "absent"} for name in names]})
