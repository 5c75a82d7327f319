"""WSGI entry point: `app` for a WSGI server (`just run` uses gunicorn with one worker, the
one process that runs the scheduler), or `python src/api.py` to serve it directly."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# Running as `python src/api.py` puts src/ on the path already; a WSGI server may not.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Our own access log (bunkhouse.access) redacts passwords; the servers' own logs are not used.
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

from bunkhouse.web import create_app  # noqa: E402

app = create_app()

if __name__ == "__main__":
    settings = app.config["BUNKHOUSE"]
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
