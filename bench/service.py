"""Benchmark of the reservation service under load: `just bench`.

Starts the real service (gunicorn, as `just run` does) on pools it provisions, and measures:
- storms: N people reserve one node each at the same moment (N = 10 on a pool of 10, N = 50 on
  a pool of 50): wall time, p50/p95/max latency, how many got a node or a clean 409, whether
  any node went to two people, whether every returned account logs in over SSH with its
  password, how many Ansible runs it cost, and the service's peak RSS during the storm;
- the storm of 10 again with batching off (one Ansible run per request), and the ratio;
- one reservation of 2 nodes: latency to a working login (median of several);
- releasing a reservation of 3 nodes: by account removal, and in a pool with sudo, whose
  nodes are recreated from the image on release (median of several);
- releasing all reservations of the storm (wall time);
- expiry lag: 1-minute reservations, seconds from their end until the account is gone.
Prints a table and writes JSON (bench/results/service.json by default).

    python bench/service.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_DIR / "src"), str(PROJECT_DIR / "tests")]

from report import percentile, report  # noqa: E402

from helpers.api import reserve  # noqa: E402
from helpers.nodes import Node, node_sh, remove_leftover_pools, ssh_run  # noqa: E402
from helpers.service import Server, remove_pool  # noqa: E402


class Bench:
    def __init__(self, pool: str, size: int, port_first: int, **settings: str):
        self.pool = pool
        self.instance = Path(tempfile.mkdtemp(prefix=f"bunkhouse-bench-{pool}-"))
        self.server = Server(self.instance, pool=pool, pool_size=size, ssh_port_first=port_first, **settings)

    def __enter__(self) -> Bench:
        self.server.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.stop()
        remove_pool(self.pool)

    def reserve(self, username: str, password: str, count: int = 1, duration: int = 30):
        started = time.monotonic()
        answer = reserve(self.server.api, username, password, count=count, duration=duration)
        return time.monotonic() - started, answer.status, answer.body

    def account_runs_since(self, since: float) -> int:
        with sqlite3.connect(self.instance / "bunkhouse.db") as database:
            rows = database.execute("SELECT finished_at FROM runs WHERE playbook = 'account_batch.yml'").fetchall()
        cutoff = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since))
        return sum(1 for (finished,) in rows if finished >= cutoff)

    def worker_rss_mb(self) -> float:
        """Resident memory of the service process (gunicorn's worker: the newest child)."""
        children = Path(f"/proc/{self.server.process.pid}/task/{self.server.process.pid}/children")
        pids = [self.server.process.pid, *map(int, children.read_text().split())]
        for pid in reversed(pids):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def storm(self, people: int, label: str) -> dict:
        results: list[tuple[float, int, dict]] = []
        barrier = threading.Barrier(people)
        peak_rss = [self.worker_rss_mb()]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                peak_rss[0] = max(peak_rss[0], self.worker_rss_mb())
                time.sleep(0.05)

        def one(index):
            barrier.wait()
            results.append(self.reserve(f"storm{index}", f"storm-pw-{index}"))

        threads = [threading.Thread(target=one, args=(index,)) for index in range(people)]
        sampler = threading.Thread(target=sample)
        since = time.time()
        sampler.start()
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        sampling.set()
        sampler.join()

        latencies = [elapsed for elapsed, _, _ in results]
        winners = [body for _, status, body in results if status == 201]
        names = [node["name"] for body in winners for node in body["nodes"]]
        logins = 0
        for body in winners:
            node = Node(body["nodes"][0]["name"], body["nodes"][0]["port"])
            password = f"storm-pw-{body['username'].removeprefix('storm')}"
            logins += ssh_run(node, body["username"], "id -un", password=password).strip() == body["username"]
        statuses = Counter(status for _, status, _ in results)
        clean_409 = sum(1 for _, status, body in results
                        if status == 409 and body["error"]["code"] == "pool_exhausted")
        figures = {
            f"{label}: wall s": wall,
            f"{label}: p50 s": statistics.median(latencies),
            f"{label}: p95 s": percentile(latencies, 0.95),
            f"{label}: max s": max(latencies),
            f"{label}: got a node": statuses.get(201, 0),
            f"{label}: clean 409": clean_409,
            f"{label}: other answers": sum(count for status, count in statuses.items() if status not in (201, 409)),
            f"{label}: a node given twice": len(names) != len(set(names)),
            f"{label}: logins that work": logins,
            f"{label}: Ansible runs": self.account_runs_since(since),
            f"{label}: service peak RSS MB": peak_rss[0],
        }
        started = time.monotonic()
        self.server.api.get("/release_all")
        figures[f"{label}: release all s"] = time.monotonic() - started
        return figures

    def two_node_latency(self, repeat: int) -> float:
        latencies = []
        for attempt in range(repeat):
            started = time.monotonic()
            _, status, body = self.reserve(f"pair{attempt}", "pair-pw-12", count=2)
            assert status == 201, body
            for access in body["nodes"]:
                node = Node(access["name"], access["port"])
                assert ssh_run(node, body["username"], "id -un", password="pair-pw-12").strip() == body["username"]
            latencies.append(time.monotonic() - started)
            self.server.api.delete(f"/api/v1/reservations/{body['id']}")
        return statistics.median(latencies)

    def release_latency(self, count: int, repeat: int) -> float:
        """Median seconds of DELETE /api/v1/reservations/<id> for a lease of `count` nodes, to
        its answer (the nodes cleaned, or recreated in a pool that recreates on release)."""
        latencies = []
        for attempt in range(repeat):
            _, status, body = self.reserve(f"gone{attempt}", "gone-pw-123", count=count)
            assert status == 201, body
            started = time.monotonic()
            released = self.server.api.delete(f"/api/v1/reservations/{body['id']}")
            latencies.append(time.monotonic() - started)
            assert released.status == 200 and released.body["state"] == "released", released.body
        return statistics.median(latencies)

    def expiry_lag(self, count: int) -> list[float]:
        """Reserve `count` 1-minute leases; seconds from each end until its account is gone."""
        leases = []
        for index in range(count):
            _, status, body = self.reserve(f"brief{index}", "brief-pw-1", duration=1)
            assert status == 201, body
            leases.append((datetime.fromisoformat(body["ends_at"]).timestamp(), body["nodes"][0]["name"],
                           body["username"]))
        lags = {}
        deadline = max(end for end, _, _ in leases) + 120
        while len(lags) < len(leases) and time.time() < deadline:
            for end, node, username in leases:
                if username not in lags and time.time() >= end - 1:
                    if node_sh(node, f"getent passwd {username}", check=False).returncode == 2:
                        lags[username] = max(0.0, time.time() - end)
            time.sleep(0.1)
        return [lags.get(username, float("inf")) for _, _, username in leases]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the storm of 50 and the expiry lag")
    parser.add_argument("--json", type=Path, default=PROJECT_DIR / "bench" / "results" / "service.json")
    args = parser.parse_args()

    figures: dict = {}
    # Nodes a cut-short run left would hold the benches' ports and be adopted by their pools.
    remove_leftover_pools()
    with Bench("bench10", 10, 24101) as bench:
        figures.update(bench.storm(10, "storm of 10"))
        figures["reserve 2 nodes to a working login, median s"] = bench.two_node_latency(5)
        figures["release 3 nodes (account removal), median s"] = bench.release_latency(3, 3)
        if not args.quick:
            lags = bench.expiry_lag(5)
            figures["expiry lag p50 s"] = statistics.median(lags)
            figures["expiry lag max s"] = max(lags)
    with Bench("bench10sudo", 10, 24401, BUNKHOUSE_NODE_SUDO="on") as bench:
        figures["release 3 nodes (recreated from the image), median s"] = bench.release_latency(3, 3)
    with Bench("bench10off", 10, 24201, BUNKHOUSE_BATCHING="off") as bench:
        off = bench.storm(10, "storm of 10, batching off")
        figures.update(off)
    figures["storm of 10: batching on is faster by"] = (
        off["storm of 10, batching off: wall s"] / figures["storm of 10: wall s"])
    if not args.quick:
        with Bench("bench50", 50, 24301) as bench:
            figures.update(bench.storm(50, "storm of 50"))

    report(figures, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
