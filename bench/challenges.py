"""Benchmark of challenge instances: `just bench-challenges` (and `just bench`).

Starts the real service (gunicorn) and measures, with the demo challenge (built offline from the
node image):
- deploy for 10, 50 and 100 teams: seconds from the deploy request until every instance answers
  HTTP at its access_url (how it grows with the teams);
- seed 000's /assign of a team that has no container yet (a cold start: Ansible makes it), median;
- /assign of a team that has one (the same address again), p50;
- /remove of a team's container, median;
- /assign from a ready pool (a challenge made ahead with assign_id and pool_min): p50 and p95 of
  as many claims as the pool has members, each a new team (no Ansible in the request).
Prints a table and writes JSON (bench/results/challenges.json by default).

    python bench/challenges.py [--json PATH] [--teams 10,50,100] [--pool 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_DIR / "src"), str(PROJECT_DIR / "tests")]

from report import percentile, report  # noqa: E402

from helpers.nodes import remove_leftover_pools  # noqa: E402
from helpers.service import Server, remove_pool, run_by_hand  # noqa: E402

DEMO = "bunkhouse/demo-challenge:latest"
POOL = "benchchal"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class Bench:
    def __init__(self):
        self.instance = Path(tempfile.mkdtemp(prefix="bunkhouse-bench-challenges-"))
        self.server = Server(self.instance, pool=POOL, pool_size=1, ssh_port_first=24701,
                             BUNKHOUSE_CHALLENGE_PORT_FIRST="27000", BUNKHOUSE_CHALLENGE_PORT_LAST="27499",
                             BUNKHOUSE_CHALLENGE_SUBNETS="10.214.0.0/16", BUNKHOUSE_CHALLENGE_MAX_TEAMS="200",
                             BUNKHOUSE_MONITOR_INTERVAL="0")
        self.api = self.server.api

    def __enter__(self) -> Bench:
        self.server.start()
        return self

    def __exit__(self, *_exc) -> None:
        for challenge in self.api.get("/api/v1/challenges/").body.get("challenges", []):
            self.api.delete(f"/api/v1/challenges/{challenge['id']}")
        self.server.stop()
        remove_pool(POOL)

    def deploy(self, teams: int) -> float:
        """Seconds from the deploy request until every team's address answers."""
        created = self.api.post("/api/v1/challenges/", {
            "name": f"bench-{teams}", "description": f"The demo challenge for {teams} teams",
            "config": {"image": DEMO, "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}},
            "total_teams": teams})
        assert created.status == 201, created.body
        started = time.monotonic()
        assert self.api.post(f"/api/v1/challenges/{created.body['id']}/deploy", {}).status == 202
        deadline = started + 900
        waiting = None
        while time.monotonic() < deadline:
            instances = self.api.get(f"/api/v1/challenges/{created.body['id']}").body["instances"]
            failed = [i["team_id"] for i in instances if i["status"] == "failed"]
            assert not failed, f"instances failed: {failed}"
            waiting = [i for i in instances if i["status"] != "running" or not answers(i["access_url"])]
            if not waiting and len(instances) == teams:
                elapsed = time.monotonic() - started
                assert self.api.delete(f"/api/v1/challenges/{created.body['id']}").status == 204
                return elapsed
            time.sleep(0.2)
        raise AssertionError(f"{len(waiting or [])} instances of {teams} never answered")

    def assign_and_remove(self, repeat: int) -> dict[str, float]:
        cold, warm, removal = [], [], []
        for attempt in range(repeat):
            body = {"team_id": f"team{attempt}", "challenge_id": "benchweb", "image": DEMO}
            started = time.monotonic()
            answer = self.api.post("/assign", body)
            cold.append(time.monotonic() - started)
            assert answer.status == 200, answer.body
            for _ in range(10):
                started = time.monotonic()
                assert self.api.post("/assign", body).body == answer.body
                warm.append(time.monotonic() - started)
            started = time.monotonic()
            assert self.api.post("/remove", {"team_id": body["team_id"], "challenge_id": "benchweb"}).status == 200
            removal.append(time.monotonic() - started)
        return {"/assign of a team with no container (cold start), median s": statistics.median(cold),
                "/assign of a team that has one (same address), p50 s": statistics.median(warm),
                "/assign of a team that has one (same address), p95 s": percentile(warm, 0.95),
                "/remove of a team's container, median s": statistics.median(removal)}


    def assign_from_pool(self, size: int) -> dict[str, float]:
        created = self.api.post("/api/v1/challenges/", {
            "name": "bench-pool", "description": f"{size} instances kept ready for /assign", "total_teams": 0,
            "assign_id": "benchpool", "config": {"image": DEMO, "pool_min": size,
                                                 "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}}})
        assert created.status == 201, created.body
        path = f"/api/v1/challenges/{created.body['id']}"
        deadline = time.monotonic() + 600
        while len(ready := [i for i in self.api.get(path).body["instances"]
                            if i["pooled"] and i["status"] == "running"]) < size:
            assert time.monotonic() < deadline, f"the pool has {len(ready)} of {size} ready"
            time.sleep(0.5)
        members = {i["access_url"].rstrip("/") for i in ready}
        claims = []
        for number in range(size):
            started = time.monotonic()
            answer = self.api.post("/assign", {"team_id": f"pooled{number}", "challenge_id": "benchpool",
                                               "image": DEMO})
            claims.append(time.monotonic() - started)
            assert answer.status == 200 and answer.body["address"] in members, answer.body
        assert self.api.delete(path).status == 204
        return {f"/assign from a ready pool of {size}, p50 s": statistics.median(claims),
                f"/assign from a ready pool of {size}, p95 s": percentile(claims, 0.95)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=PROJECT_DIR / "bench" / "results" / "challenges.json")
    parser.add_argument("--teams", default="10,50,100", help="deploys to time, by their number of teams")
    parser.add_argument("--pool", type=int, default=20, help="members of the pool /assign claims from")
    args = parser.parse_args()

    figures: dict = {}
    remove_leftover_pools()
    run_by_hand("challenge_images.yml", {"challenge_images": [{"image": DEMO, "build": "images/demo-challenge"}]})
    with Bench() as bench:
        for teams in (int(count) for count in args.teams.split(",") if count):
            figures[f"deploy for {teams} teams, until every address answers, s"] = bench.deploy(teams)
        figures.update(bench.assign_and_remove(5))
        if args.pool:
            figures.update(bench.assign_from_pool(args.pool))
    report(figures, args.json, digits=3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
