"""The entry point the project's users know: `gunicorn --chdir src api:app`, or
`python src/api.py` to serve with Flask's own server. The app lives in bunkhouse.wsgi."""

from __future__ import annotations

import sys
from pathlib import Path

# Running as `python src/api.py` puts src/ on the path already; a WSGI server may not.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bunkhouse.wsgi import app  # noqa: E402

if __name__ == "__main__":
    settings = app.config["BUNKHOUSE"].http
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
