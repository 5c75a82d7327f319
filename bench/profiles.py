"""Benchmark of profiles and named containers: `just bench-profiles` (and `just bench`).

Starts the real service (gunicorn) with a containers file of hot, warm and cold containers from
the example tool image, and measures:
- prepare of a profile whose containers are all running: p50 and p95 of the request, for
  profiles of 1, 3 and 6 containers (how it grows);
- prepare from warm (the container stopped, kept) and from cold (no container): seconds from
  the request until the status route says ready, median of several;
- a reservation of one SSH node claimed from the (hot) node pool: the request, median of several.
Prints a table and writes JSON (bench/results/profiles.json by default).

    python bench/profiles.py [--json PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_DIR / "src"), str(PROJECT_DIR / "tests")]

from report import percentile, report  # noqa: E402

from helpers.api import reserve  # noqa: E402
from helpers.named import remove_named_containers, tool  # noqa: E402
from helpers.nodes import remove_leftover_pools  # noqa: E402
from helpers.service import Server, remove_pool  # noqa: E402

HOT = [f"bench_hot_{index}" for index in range(1, 7)]


FILE = {
    "pools": {"hot": {"ttl_seconds": 0, "health_check_interval": 5},
              "warm": {"ttl_seconds": 1, "health_check_interval": 5},
              "cold": {"ttl_seconds": 0, "health_check_interval": 5}},
    "containers": [tool(name, "hot", "64m") for name in HOT] + [tool("bench_warm", "warm"), tool("bench_cold", "cold")],
    "profile_mappings": {"one": HOT[:1], "three": HOT[:3], "six": HOT, "warm": ["bench_warm"],
                         "cold": ["bench_cold"]},
}


class Bench:
    def __init__(self):
        self.instance = Path(tempfile.mkdtemp(prefix="bunkhouse-bench-profiles-"))
        (self.instance / "containers.yml").write_text(yaml.safe_dump(FILE))
        self.server = Server(self.instance, pool="benchprof", pool_size=3, ssh_port_first=24501,
                             BUNKHOUSE_CONTAINERS_FILE=str(self.instance / "containers.yml"),
                             BUNKHOUSE_CONTAINERS_ROUND_SECONDS="1", BUNKHOUSE_MONITOR_INTERVAL="0",
                             # Room for one node made on demand, removed as soon as it is free again.
                             BUNKHOUSE_POOL_MAX="4", BUNKHOUSE_POOL_IDLE_SECONDS="0", BUNKHOUSE_SWEEP_INTERVAL="1")
        self.api = self.server.api

    def __enter__(self) -> Bench:
        remove_named_containers(HOT + ["bench_warm", "bench_cold"])
        self.server.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.stop()
        remove_pool("benchprof")
        remove_named_containers(HOT + ["bench_warm", "bench_cold"])

    def ready(self, profile: str) -> bool:
        return self.api.get(f"/api/v1/containers/status/{profile}").body["ready"]

    def wait_ready(self, profile: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready(profile):
            if time.monotonic() > deadline:
                raise AssertionError(f"profile {profile} not ready after {timeout} s")
            time.sleep(0.02)

    def prepare(self, profile: str) -> tuple[float, dict]:
        started = time.monotonic()
        answer = self.api.post("/api/v1/containers/prepare", {"profile_id": profile})
        elapsed = time.monotonic() - started
        assert answer.status == 200, answer.body
        return elapsed, answer.body

    def release(self, body: dict) -> None:
        assert self.api.delete(f"/api/v1/containers/leases/{body['lease']['id']}").status == 200

    def prepare_ready(self, profile: str, repeat: int) -> list[float]:
        self.wait_ready(profile)
        latencies = []
        for _ in range(repeat):
            elapsed, body = self.prepare(profile)
            assert body["all_ready"] is True, body
            latencies.append(elapsed)
            self.release(body)
        return latencies

    def prepare_until_ready(self, profile: str, name: str, gone: str, repeat: int) -> float:
        """Median seconds from prepare to ready, each time from `gone` (stopped or absent)."""
        times = []
        if gone == "stopped":  # a warm container is stopped only once it ran: run it once
            _, body = self.prepare(profile)
            self.wait_ready(profile)
            self.release(body)
        for _ in range(repeat):
            deadline = time.monotonic() + 60
            while self.api.get(f"/api/v1/containers/status/{profile}").body["containers"][name]["status"] != gone:
                assert time.monotonic() < deadline, f"{name} never became {gone}"
                time.sleep(0.1)
            started = time.monotonic()
            _, body = self.prepare(profile)
            assert body["all_ready"] is False, body
            self.wait_ready(profile)
            times.append(time.monotonic() - started)
            self.release(body)
        return statistics.median(times)

    def one_node_reservation(self, repeat: int) -> float:
        latencies = []
        for attempt in range(repeat):
            started = time.monotonic()
            answer = reserve(self.api, f"one{attempt}", "one-pw-1234", count=1, duration=30)
            latencies.append(time.monotonic() - started)
            assert answer.status == 201, answer.body
            self.api.delete(f"/api/v1/reservations/{answer.body['id']}")
        return statistics.median(latencies)


    def one_node_made_on_demand(self, repeat: int) -> float:
        """Median seconds of a 1-node reservation while the pool's 3 kept nodes are all held."""
        held = reserve(self.api, "held", "held-pw-1234", count=3, duration=30)
        assert held.status == 201, held.body
        latencies = []
        for attempt in range(repeat):
            deadline = time.monotonic() + 60
            while len(self.api.get("/api/v1/nodes").body["nodes"]) > 3:  # the last one made is removed
                assert time.monotonic() < deadline, "the node made on demand was never removed"
                time.sleep(0.2)
            started = time.monotonic()
            answer = reserve(self.api, f"cold{attempt}", "cold-pw-1234", count=1, duration=30)
            latencies.append(time.monotonic() - started)
            assert answer.status == 201, answer.body
            self.api.delete(f"/api/v1/reservations/{answer.body['id']}")
        self.api.delete(f"/api/v1/reservations/{held.body['id']}")
        return statistics.median(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=PROJECT_DIR / "bench" / "results" / "profiles.json")
    parser.add_argument("--repeat", type=int, default=50, help="prepares of a ready profile, per size")
    args = parser.parse_args()

    figures: dict = {}
    remove_leftover_pools()
    with Bench() as bench:
        for profile, size in (("one", 1), ("three", 3), ("six", 6)):
            latencies = bench.prepare_ready(profile, args.repeat)
            figures[f"prepare, ready profile of {size}: p50 s"] = statistics.median(latencies)
            figures[f"prepare, ready profile of {size}: p95 s"] = percentile(latencies, 0.95)
        figures["prepare from warm (stopped) to ready, median s"] = bench.prepare_until_ready(
            "warm", "bench_warm", "stopped", 3)
        figures["prepare from cold (no container) to ready, median s"] = bench.prepare_until_ready(
            "cold", "bench_cold", "absent", 3)
        figures["reserve 1 node from the hot node pool, median s"] = bench.one_node_reservation(5)
        figures["reserve 1 node made on demand (none free, below max), median s"] = bench.one_node_made_on_demand(3)

    report(figures, args.json, digits=3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
