"""The app of the unit tests: real app, service and database, over a fake runner and engine."""

from __future__ import annotations

from dataclasses import replace

from bunkhouse.app import create_app
from bunkhouse.config import Config
from bunkhouse.fleet.models import Container, ContainerState

POOL_SIZE = 10


def unit_environment(instance_dir, database_url: str = "", **overrides: str) -> dict[str, str]:
    return {
        "BUNKHOUSE_AUTH": "off",
        "BUNKHOUSE_RATE_LIMIT": "0",
        "BUNKHOUSE_DATABASE_URL": database_url,
        "BUNKHOUSE_INSTANCE_DIR": str(instance_dir),
        "BUNKHOUSE_PROVISION_ON_START": "off",
        "BUNKHOUSE_POOL": "unit",
        "BUNKHOUSE_POOL_SIZE": str(POOL_SIZE),
        "BUNKHOUSE_SSH_HOST": "lab.example.org",
        "BUNKHOUSE_REQUEST_TIMEOUT": "10",
        # Tests read /healthz right after a change: no cached answers (test_health.py tests the cache).
        "BUNKHOUSE_HEALTH_CACHE_SECONDS": "0",
        **overrides,
    }


def make_app(config: Config, runner, engine, *, nodes: int = POOL_SIZE, start_background: bool = False):
    app = create_app(config, runner=runner, engine=engine, probe=engine.probe, start_background=start_background)
    fleet = app.extensions["bunkhouse.fleet"]
    fleet.settings_pool = replace(fleet.settings_pool, name_prefix="node-")  # as the fake engine names them
    fleet.put_entry(app.extensions["bunkhouse.profiles"].named.catalog.node_pool)
    if nodes:
        add_nodes(app, nodes)
        # What sync() reads from a free node of a real pool: the node image's names.
        app.extensions["bunkhouse.fleet"].image_names = engine.account_names("node-1")
    return app


def add_nodes(app, count: int = POOL_SIZE, pool: str = "unit") -> None:
    """The pool's containers, free, as a sync of a running pool would have recorded them."""
    with app.extensions["bunkhouse.database"].write() as session:
        for index in range(1, count + 1):
            session.add(Container(name=f"node-{index}", pool=pool, template="ssh-node", engine="local",
                                  port=30000 + index, state=ContainerState.FREE,
                                  host_keys={"ED25519": f"SHA256:key{index}"}))


def close(app) -> None:
    app.extensions["bunkhouse.lifecycle"].stop()
    app.extensions["bunkhouse.database"].dispose()


def empty_database(database) -> None:
    """Drop every table (and, on PostgreSQL, everything else of the schema)."""
    with database.engine.begin() as connection:
        if database.is_sqlite:
            for (table,) in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").all():
                connection.exec_driver_sql(f'DROP TABLE "{table}"')
        else:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
