"""Swagger UI's files served from the installed flask-swagger-ui package, so the browsable
docs at /docs work on a network that cannot reach a CDN."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from apiflask import APIBlueprint, APIFlask
from flask import send_from_directory

bp = APIBlueprint("docs", __name__, enable_openapi=False)
_ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"


@bp.get("/docs/assets/<path:filename>")
def assets(filename: str):
    return send_from_directory(_ASSETS, filename)


def init_docs(app: APIFlask) -> None:
    app.config.update(
        SWAGGER_UI_CSS="/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/docs/assets/swagger-ui-standalone-preset.js",
    )
    app.register_blueprint(bp)
