"""Benchmark: reservation latency through the real service, one request and a storm.

Starts the service (gunicorn, as `just run` does) on a pool of its own that it provisions,
then measures: one reservation of 1 and of 2 nodes (median of several, released between),
a storm of N people reserving one node each at the same moment (wall time, latencies, how
many got a node or a clean 409, whether any node went to two people, whether every account
logs in over SSH with its password), how many Ansible runs the storm cost, and releasing all.

    python bench/reserve.py --pool-size 10 --json bench/results/reserve.json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_DIR / "src"), str(PROJECT_DIR / "tests" / "integration")]

from bunkhouse.config import Config  # noqa: E402
from bunkhouse.provisioner import Provisioner  # noqa: E402
from support import Node, Server, ssh_run  # noqa: E402


def account_runs(instance_dir: Path, since: float) -> int:
    with sqlite3.connect(instance_dir / "bunkhouse.db") as database:
        rows = database.execute("SELECT finished_at FROM runs WHERE playbook = 'account_batch.yml'").fetchall()
    cutoff = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since))
    return sum(1 for (finished,) in rows if finished >= cutoff)


def timed_reserve(server: Server, username: str, password: str, count: int):
    started = time.monotonic()
    status, body = server.request("POST", "/api/v1/reservations", {
        "username": username, "password": password, "count": count, "duration_minutes": 30})
    return time.monotonic() - started, status, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port-first", type=int, default=24101)
    parser.add_argument("--batching", choices=["on", "off"], default="on")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    pool = f"bench-{args.batching}"
    instance = Path(tempfile.mkdtemp(prefix="bunkhouse-bench-"))
    server = Server(PROJECT_DIR, instance, pool=pool, pool_size=args.pool_size, ssh_port_first=args.port_first,
                    BUNKHOUSE_BATCHING=args.batching)
    figures: dict = {"pool_size": args.pool_size, "batching": args.batching}
    server.start()
    try:
        for count in (1, 2):
            latencies = []
            for attempt in range(args.repeat):
                elapsed, status, body = timed_reserve(server, f"single{attempt}", "single-pw-1", count)
                assert status == 201, body
                node = Node(body["nodes"][0]["name"], body["nodes"][0]["port"])
                assert ssh_run(node, body["username"], "true", password="single-pw-1") == ""
                latencies.append(elapsed)
                server.request("DELETE", f"/api/v1/reservations/{body['id']}")
            figures[f"reserve {count} node(s), median s"] = statistics.median(latencies)

        results = []
        barrier = threading.Barrier(args.pool_size)

        def one(index):
            barrier.wait()
            results.append(timed_reserve(server, f"storm{index}", f"storm-pw-{index}", 1))

        since = time.time() - 1
        threads = [threading.Thread(target=one, args=(index,)) for index in range(args.pool_size)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        latencies = sorted(elapsed for elapsed, _, _ in results)
        winners = [body for _, status, body in results if status == 201]
        names = [node["name"] for body in winners for node in body["nodes"]]
        logins = sum(
            ssh_run(Node(body["nodes"][0]["name"], body["nodes"][0]["port"]), body["username"], "id -un",
                    password=f"storm-pw-{body['username'].removeprefix('storm')}").strip() == body["username"]
            for body in winners)
        figures.update({
            f"storm of {args.pool_size}: wall s": wall,
            f"storm of {args.pool_size}: p50 s": latencies[len(latencies) // 2],
            f"storm of {args.pool_size}: max s": latencies[-1],
            f"storm of {args.pool_size}: statuses": dict(Counter(status for _, status, _ in results)),
            f"storm of {args.pool_size}: node given twice": len(names) != len(set(names)),
            f"storm of {args.pool_size}: logins that work": logins,
            f"storm of {args.pool_size}: Ansible runs": account_runs(instance, since),
        })
        started = time.monotonic()
        server.request("GET", "/release_all")
        figures["release all: wall s"] = time.monotonic() - started
    finally:
        server.stop()
        Provisioner(Config.from_environ({"BUNKHOUSE_INSTANCE_DIR": str(instance)})).run_playbook(
            "unprovision.yml", {"pool_node_pool": pool})

    for name, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"{name:<40} {shown}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
