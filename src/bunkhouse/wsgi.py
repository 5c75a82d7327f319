"""The WSGI entry: `app` for a WSGI server (`just run` serves it with gunicorn). SIGTERM stops
the process within seconds (lifecycle.py)."""

from __future__ import annotations

import logging

# Our own access log (bunkhouse.access) redacts passwords; the servers' own logs are not used.
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

from bunkhouse.app import create_app  # noqa: E402

app = create_app()
app.extensions["bunkhouse.lifecycle"].install_signal_handlers()
