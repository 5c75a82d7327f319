"""The Flask application factory: wires configuration, database, provisioner, service,
scheduler and the HTTP routes together."""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

import flask_swagger_ui
from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import g, request, send_from_directory
from sqlalchemy import text

from bunkhouse import __version__, engine
from bunkhouse.access import init_access
from bunkhouse.admin_api import bp as admin_api
from bunkhouse.api_v1 import bp as api_v1
from bunkhouse.auth import Accounts
from bunkhouse.config import Config
from bunkhouse.db import create_schema, make_engine, make_session_factory
from bunkhouse.errors import ApiError, error_body
from bunkhouse.node_health import HealthChecker
from bunkhouse.provisioner import Provisioner
from bunkhouse.ratelimit import RateLimiter
from bunkhouse.scheduler import ExpiryScheduler
from bunkhouse.schemas import ERROR_SCHEMA
from bunkhouse.seed_routes import bp as seed_routes
from bunkhouse.service import ReservationService

log = logging.getLogger(__name__)
access_log = logging.getLogger("bunkhouse.access")

_SECRET_QUERY = re.compile(r"(?i)((?:^|&)(?:password|token)=)[^&]*")


def redact_query(query: str) -> str:
    """A query string safe to log: the value of every password or token is replaced."""
    return _SECRET_QUERY.sub(r"\1[REDACTED]", query)


def create_app(config: Config | None = None, *, provisioner: Provisioner | None = None,
               start_background: bool = True) -> APIFlask:
    config = config or Config.from_environ()
    app = APIFlask(__name__, title="bunkhouse", version=__version__, spec_path="/openapi.json", docs_path="/docs")
    app.config.update(
        VALIDATION_ERROR_STATUS_CODE=400,
        VALIDATION_ERROR_DESCRIPTION="Invalid input",
        VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA,
        HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
        BUNKHOUSE=config,
        JSON_SORT_KEYS=False,
        DESCRIPTION="Reserve short-lived Linux nodes, get an SSH account on each, lose it when the lease ends.",
    )

    database = make_engine(config.sqlalchemy_url)
    create_schema(database)
    service = ReservationService(config, make_session_factory(database), provisioner or Provisioner(config))
    app.extensions["bunkhouse"] = service
    app.extensions["bunkhouse.database"] = database
    checker = HealthChecker(service)
    app.extensions["bunkhouse.health"] = checker
    scheduler = ExpiryScheduler(service, config.sweep_interval_seconds, checker.check_all,
                                config.health_interval_seconds)
    app.extensions["bunkhouse.scheduler"] = scheduler

    _init_errors(app)
    _init_access_log(app)
    _init_local_docs_assets(app)
    accounts = Accounts(config, service.sessions, service.clock)
    init_access(app, accounts, RateLimiter(config.rate_limit_per_minute))
    app.register_blueprint(api_v1)
    app.register_blueprint(admin_api)
    app.register_blueprint(seed_routes)

    @app.get("/healthz")
    @app.doc(tags=["Health"], summary="Database, Docker engine and scheduler, each reported")
    def healthz():
        checks = {"database": _database_ok(database), "docker": _docker_check(), "scheduler": {
            "ok": scheduler.running or not config.scheduler, "running": scheduler.running,
            "enabled": config.scheduler}}
        healthy = all(check["ok"] for check in checks.values())
        return {"status": "ok" if healthy else "degraded", "version": __version__, **checks}, 200 if healthy else 503

    if config.auth:
        _bootstrap_admin(accounts, config)
    service.start()
    if start_background:
        _start_background(service, scheduler, config)
    return app


def _start_background(service: ReservationService, scheduler: ExpiryScheduler, config: Config) -> None:
    if config.scheduler and config.provision_on_start:
        service.provision_pool()
    try:
        summary = service.sync_nodes()
        log.info("pool %s: added %s, quarantined %s", config.pool, summary["added"], summary["quarantined"])
    except (OSError, RuntimeError) as exc:
        log.error("could not read the pool from the Docker engine: %s", exc)
    if config.scheduler:
        # Only the one process that owns background work may undo what was in flight.
        service.reconcile()
        scheduler.start()


def _bootstrap_admin(accounts: Accounts, config: Config) -> None:
    """First start with authentication on and no admin: make one. Its token is written to a
    0600 file, and shown on the terminal only when there is one (never in the log)."""
    token = accounts.bootstrap_admin(config.admin_token_file)
    if token is None:
        return
    log.warning("no admin existed: created user 'admin'; its token is in %s (mode 0600)", config.admin_token_file)
    if sys.stderr.isatty():
        print(f"\n  bunkhouse admin token (shown once; also in {config.admin_token_file}):\n  {token}\n",
              file=sys.stderr, flush=True)


def _database_ok(database) -> dict:
    try:
        with database.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; say which
        return {"ok": False, "error": str(exc).splitlines()[0]}


def _docker_check() -> dict:
    version = engine.engine_version()
    return {"ok": version is not None, "version": version}


def _init_errors(app: APIFlask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error.body(), error.status, error.headers or {}

    @app.error_processor
    def _http_error(error: HTTPError):
        if error.status_code == 400 and error.detail:
            body = error_body(400, "validation_error", "the request does not match the API schema",
                              fields=error.detail)
        else:
            code = re.sub(r"[^a-z0-9]+", "_", (error.message or "error").lower()).strip("_")
            body = error_body(error.status_code, code, error.message or "error")
        return body, error.status_code, error.headers


def _init_local_docs_assets(app: APIFlask) -> None:
    """Serve Swagger UI's files from the installed flask-swagger-ui package, so the browsable
    docs at /docs work on a network that cannot reach a CDN."""
    assets = Path(flask_swagger_ui.__file__).parent / "dist"
    app.config.update(
        SWAGGER_UI_CSS="/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/docs/assets/swagger-ui-standalone-preset.js",
    )

    @app.get("/docs/assets/<path:filename>")
    @app.doc(hide=True)
    def docs_assets(filename: str):
        return send_from_directory(assets, filename)


def _init_access_log(app: APIFlask) -> None:
    # Werkzeug's own request log prints the raw query string, passwords included.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    @app.before_request
    def _started():
        g.started = time.monotonic()

    @app.after_request
    def _log(response):
        query = redact_query(request.query_string.decode("utf-8", "replace"))
        access_log.info("%s %s%s %s %.3fs", request.method, request.path, f"?{query}" if query else "",
                        response.status_code, time.monotonic() - g.get("started", time.monotonic()))
        return response
