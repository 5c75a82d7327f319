"""GET /metrics: every metric of core/metrics.py for Prometheus, added up over the processes of
this gunicorn when it runs several (multiprocess mode, gunicorn.conf.py), and the gauges read
from the database at each scrape, so every process answers the same: containers by pool and
state (every state up front), and the build info.

Who may scrape: anyone with BUNKHOUSE_METRICS_OPEN=on; otherwise a bearer token that is
BUNKHOUSE_METRICS_TOKEN (Prometheus's bearer token file) or an admin's API token.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from bunkhouse import __version__
from bunkhouse.config import MetricsSettings
from bunkhouse.core.db import Database
from bunkhouse.core.errors import Forbidden, Unauthorized
from bunkhouse.core.metrics import known_playbooks
from bunkhouse.fleet.models import Container, ContainerState, Power
from bunkhouse.web.access import auth_enabled, tokens

bp = Blueprint("metrics", __name__)


class DatabaseGauges:
    """A collector of what the database knows: read at scrape time, never kept in a process."""

    def __init__(self, database: Database, pools: Callable[[], dict[str, tuple[str, ...]]]):
        self.database = database
        # {pool: its states}: the node pool with the container states, each named containers'
        # pool with the power states.
        self.pools = pools

    def collect(self):
        with self.database.read() as session:
            rows = session.execute(select(Container.pool, Container.state, Container.power, func.count())
                                   .group_by(Container.pool, Container.state, Container.power)).all()
        counts: dict[tuple[str, str], int] = {}
        for pool, state, power, count in rows:
            key = (pool, power if power is not None else state)
            counts[key] = counts.get(key, 0) + count
        containers = GaugeMetricFamily("bunkhouse_containers", "Containers of the fleet, by pool and state",
                                       labels=["pool", "state"])
        seen = set()
        for pool, states in self.pools().items():
            for state in states:
                containers.add_metric([pool, state], counts.get((pool, state), 0))
                seen.add((pool, state))
        for (pool, state), count in sorted(counts.items()):
            if (pool, state) not in seen:
                containers.add_metric([pool, state], count)
        yield containers
        build = GaugeMetricFamily("bunkhouse_build_info", "The bunkhouse version serving", labels=["version"])
        build.add_metric([__version__], 1)
        yield build


def init_metrics(app, database: Database, settings: MetricsSettings, project_dir: Path, node_pool: str,
                 named_pools: Callable[[], list[str]]) -> None:
    def pools() -> dict[str, tuple[str, ...]]:
        found = {node_pool: tuple(ContainerState)}
        found.update({pool: tuple(Power) for pool in named_pools()})
        return found

    known_playbooks(sorted(path.name for path in (project_dir / "playbooks").glob("*.yml")))
    own = CollectorRegistry(auto_describe=False)
    own.register(DatabaseGauges(database, pools))
    app.extensions["bunkhouse.metrics"] = (settings, own)


def _allowed(settings: MetricsSettings) -> None:
    if settings.open or not auth_enabled():
        return
    header = request.headers.get("Authorization", "")
    if settings.token and header.startswith("Bearer ") and hmac.compare_digest(
            header[len("Bearer "):].strip().encode(), settings.token.encode()):
        return
    if not header:
        raise Unauthorized("/metrics needs a token: BUNKHOUSE_METRICS_TOKEN or an admin's", code="token_missing")
    if not tokens().authenticate(header).is_admin:
        raise Forbidden("/metrics is for BUNKHOUSE_METRICS_TOKEN or an admin's token", code="admin_only")


@bp.get("/metrics")
def metrics():
    settings, own = current_app.extensions["bunkhouse.metrics"]
    _allowed(settings)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry) + generate_latest(own), mimetype=CONTENT_TYPE_LATEST)
