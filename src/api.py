"""WSGI entry point: `app` for a WSGI server, or `python src/api.py` to serve it directly.

For now the app only reports that it is alive; the reservation API builds on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Running as `python src/api.py` puts src/ on the path already; a WSGI server may not.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bunkhouse.web import create_app  # noqa: E402

app = create_app()

if __name__ == "__main__":
    settings = app.config["BUNKHOUSE"]
    app.run(host=settings.host, port=settings.port)
