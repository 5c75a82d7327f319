"""All settings, read from environment variables with safe defaults, in one place.

Every variable here is listed in the README's Configuration section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# src/bunkhouse/config.py -> the repository root, where playbooks/, roles/ and inventory/ live.
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def _int_setting(environ: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Config:
    # Where playbooks/, roles/, inventory/ and ansible.cfg are.
    project_dir: Path = DEFAULT_PROJECT_DIR
    # Address and port the HTTP service listens on.
    host: str = "127.0.0.1"
    port: int = 8080
    # Writable state of this deployment: run folders (and later the database).
    instance_dir: Path = field(default_factory=lambda: DEFAULT_PROJECT_DIR / "instance")
    # Seconds one Ansible run may take before it is cancelled.
    ansible_timeout: int = 300
    # Parallel connections of one Ansible run.
    ansible_forks: int = 20
    # How many finished run folders (artifacts) are kept; older ones are deleted.
    runs_kept: int = 50

    @property
    def runs_dir(self) -> Path:
        return self.instance_dir / "runs"

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        project_dir = Path(env.get("BUNKHOUSE_PROJECT_DIR") or DEFAULT_PROJECT_DIR).resolve()
        instance_dir = Path(env.get("BUNKHOUSE_INSTANCE_DIR") or project_dir / "instance").resolve()
        return cls(
            project_dir=project_dir,
            host=env.get("BUNKHOUSE_HOST") or cls.host,
            port=_int_setting(env, "BUNKHOUSE_PORT", cls.port, 1),
            instance_dir=instance_dir,
            ansible_timeout=_int_setting(env, "BUNKHOUSE_ANSIBLE_TIMEOUT", cls.ansible_timeout, 1),
            ansible_forks=_int_setting(env, "BUNKHOUSE_ANSIBLE_FORKS", cls.ansible_forks, 1),
            runs_kept=_int_setting(env, "BUNKHOUSE_RUNS_KEPT", cls.runs_kept, 1),
        )
