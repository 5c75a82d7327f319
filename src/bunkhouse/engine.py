"""Questions about the Docker engine that hosts the nodes (read-only)."""

from __future__ import annotations

import subprocess


def engine_version(timeout: float = 5.0) -> str | None:
    """The engine's version, or None when it does not answer."""
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None
