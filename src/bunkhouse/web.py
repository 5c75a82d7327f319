"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify

from bunkhouse import __version__, engine, errors
from bunkhouse.config import Config


def create_app(config: Config | None = None) -> Flask:
    app = Flask(__name__)
    app.config["BUNKHOUSE"] = config or Config.from_environ()
    errors.init_app(app)

    @app.get("/healthz")
    def healthz():
        version = engine.engine_version()
        docker = {"ok": version is not None, "version": version}
        healthy = docker["ok"]
        return jsonify({"status": "ok" if healthy else "degraded", "version": __version__, "docker": docker}), (
            200 if healthy else 503
        )

    return app
