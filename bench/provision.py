"""Benchmark: how long provisioning a pool of N nodes takes through the runner.

Uses a pool of its own ("bench"), so it never touches the default pool. For each round:
unprovision, then provision N nodes from scratch (the image already built), then provision
again with nothing to do. Prints a table and writes JSON.

    python bench/provision.py --count 10 --rounds 3 --json bench/results/provision.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bunkhouse.config import Config  # noqa: E402
from bunkhouse.runner.playbooks import Runner  # noqa: E402

POOL = "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-first", type=int, default=24001)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    config = Config.from_environ()
    runner = Runner(config.project_dir, config.inventory_dir, config.runs_dir, config.ansible)
    pool = {
        "pool_node_pool": POOL,
        "pool_node_count": args.count,
        "pool_node_ssh_port_first": args.port_first,
        "pool_node_ssh_port_last": args.port_first + args.count - 1,
        "pool_node_ssh_bind_address": "127.0.0.1",
    }

    def timed(playbook: str, variables: dict) -> float:
        started = time.monotonic()
        result = runner.run(playbook, variables)
        elapsed = time.monotonic() - started
        if not result.ok:
            print(result.stdout_tail, file=sys.stderr)
            raise SystemExit(f"{playbook} failed ({result.status}, rc={result.rc})")
        return elapsed

    # The image must exist before we time anything: its one-off build is not what we measure.
    timed("pool_image.yml", {})
    fresh, again, removal = [], [], []
    try:
        for _ in range(args.rounds):
            timed("pool_remove.yml", {"pool_node_pool": POOL})
            fresh.append(timed("pool_provision.yml", pool))
            again.append(timed("pool_provision.yml", pool))
            removal.append(timed("pool_remove.yml", {"pool_node_pool": POOL}))
    finally:
        runner.run("pool_remove.yml", {"pool_node_pool": POOL})

    figures = {
        f"provision {args.count} nodes from scratch": fresh,
        f"provision {args.count} nodes again (nothing to do)": again,
        f"unprovision {args.count} nodes": removal,
    }
    print(f"{'what':<48} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in figures.items():
        print(f"{name:<48} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"count": args.count, "rounds": args.rounds, "seconds": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
