"""All settings, read from environment variables with safe defaults, in one place.

Every variable here is listed in the README's Configuration section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# src/bunkhouse/config.py -> the repository root, where playbooks/, roles/ and inventory/ live.
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[2]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def _number_setting(environ: dict[str, str], name: str, default, minimum, kind=int):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int_setting(environ: dict[str, str], name: str, default: int, minimum: int) -> int:
    return _number_setting(environ, name, default, minimum, int)


def _float_setting(environ: dict[str, str], name: str, default: float, minimum: float) -> float:
    return _number_setting(environ, name, default, minimum, float)


def _bool_setting(environ: dict[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


@dataclass(frozen=True)
class Config:
    # Where playbooks/, roles/, inventory/ and ansible.cfg are.
    project_dir: Path = DEFAULT_PROJECT_DIR
    # Address and port the HTTP service listens on.
    host: str = "127.0.0.1"
    port: int = 8080
    # Writable state of this deployment: the SQLite database and the Ansible run folders.
    instance_dir: Path = field(default_factory=lambda: DEFAULT_PROJECT_DIR / "instance")
    # Any SQLAlchemy URL; empty means an SQLite file in the instance folder.
    database_url: str = ""
    # The pool this service hands out, and how it is provisioned.
    pool: str = "default"
    pool_size: int = 10
    ssh_port_first: int = 22001
    ssh_port_last: int = 22999
    ssh_bind_address: str = "0.0.0.0"
    # The host name people are told to ssh to.
    ssh_host: str = "127.0.0.1"
    provision_on_start: bool = True
    # Bearer tokens on every API route (off: anyone who reaches the port may do anything).
    auth: bool = True
    # Per-user defaults for users of role "user" (an admin can set other values per user).
    user_max_nodes: int = 5
    user_max_duration_minutes: int = 240
    user_max_lease_minutes: int = 480
    # Reservation requests per minute per caller (user, or address when auth is off); 0: no limit.
    rate_limit_per_minute: int = 10
    # Reservations.
    default_duration_minutes: int = 60
    max_duration_minutes: int = 1440
    extension_max_minutes: int = 120
    lease_max_minutes: int = 2880
    password_min_length: int = 4
    password_max_length: int = 128
    # Seconds an HTTP request waits for its accounts before answering 202 (still working).
    request_timeout: int = 120
    # Batch pending account work into one Ansible run (off: one run per request).
    batching: bool = True
    # Seconds the batcher waits after the first pending job, so simultaneous requests share a run.
    batch_window: float = 0.05
    # ... and keeps waiting while more keep arriving, up to this many seconds in all.
    batch_window_max: float = 0.5
    # Run the scheduler (expiry) in this process; exactly one process per deployment may.
    scheduler: bool = True
    sweep_interval_seconds: int = 60
    # Seconds before a lease ends when the account's terminals get a notice; 0: no notice.
    notice_seconds: int = 300
    # Seconds between node health checks (container running, sshd with its host key); 0: off.
    health_interval_seconds: int = 60
    # Seconds one Ansible run may take before it is cancelled.
    ansible_timeout: int = 300
    # Account runs kept started ahead, waiting for the next batches (batching mode only): a
    # batch then does not wait for Ansible to start. 0 turns this off.
    ansible_standbys: int = 2
    # Parallel connections of one Ansible run.
    ansible_forks: int = 20
    # How many finished run folders (artifacts) are kept; older ones are deleted.
    runs_kept: int = 50

    @property
    def runs_dir(self) -> Path:
        return self.instance_dir / "runs"

    @property
    def admin_token_file(self) -> Path:
        """Where the first start writes the bootstrap admin token (mode 0600)."""
        return self.instance_dir / "admin-token"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_dir / 'bunkhouse.db'}"

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        project_dir = Path(env.get("BUNKHOUSE_PROJECT_DIR") or DEFAULT_PROJECT_DIR).resolve()
        instance_dir = Path(env.get("BUNKHOUSE_INSTANCE_DIR") or project_dir / "instance").resolve()
        config = cls(
            project_dir=project_dir,
            host=env.get("BUNKHOUSE_HOST") or cls.host,
            port=_int_setting(env, "BUNKHOUSE_PORT", cls.port, 1),
            instance_dir=instance_dir,
            database_url=env.get("BUNKHOUSE_DATABASE_URL", ""),
            pool=env.get("BUNKHOUSE_POOL") or cls.pool,
            pool_size=_int_setting(env, "BUNKHOUSE_POOL_SIZE", cls.pool_size, 1),
            ssh_port_first=_int_setting(env, "BUNKHOUSE_SSH_PORT_FIRST", cls.ssh_port_first, 1),
            ssh_port_last=_int_setting(env, "BUNKHOUSE_SSH_PORT_LAST", cls.ssh_port_last, 1),
            ssh_bind_address=env.get("BUNKHOUSE_SSH_BIND_ADDRESS") or cls.ssh_bind_address,
            ssh_host=env.get("BUNKHOUSE_SSH_HOST") or cls.ssh_host,
            provision_on_start=_bool_setting(env, "BUNKHOUSE_PROVISION_ON_START", cls.provision_on_start),
            auth=_bool_setting(env, "BUNKHOUSE_AUTH", cls.auth),
            user_max_nodes=_int_setting(env, "BUNKHOUSE_USER_MAX_NODES", cls.user_max_nodes, 1),
            user_max_duration_minutes=_int_setting(
                env, "BUNKHOUSE_USER_MAX_DURATION", cls.user_max_duration_minutes, 1),
            user_max_lease_minutes=_int_setting(env, "BUNKHOUSE_USER_MAX_LEASE", cls.user_max_lease_minutes, 1),
            rate_limit_per_minute=_int_setting(env, "BUNKHOUSE_RATE_LIMIT", cls.rate_limit_per_minute, 0),
            default_duration_minutes=_int_setting(env, "BUNKHOUSE_DEFAULT_DURATION", cls.default_duration_minutes, 1),
            max_duration_minutes=_int_setting(env, "BUNKHOUSE_MAX_DURATION", cls.max_duration_minutes, 1),
            extension_max_minutes=_int_setting(env, "BUNKHOUSE_EXTENSION_MAX", cls.extension_max_minutes, 1),
            lease_max_minutes=_int_setting(env, "BUNKHOUSE_LEASE_MAX", cls.lease_max_minutes, 1),
            password_min_length=_int_setting(env, "BUNKHOUSE_PASSWORD_MIN_LENGTH", cls.password_min_length, 1),
            password_max_length=_int_setting(env, "BUNKHOUSE_PASSWORD_MAX_LENGTH", cls.password_max_length, 1),
            request_timeout=_int_setting(env, "BUNKHOUSE_REQUEST_TIMEOUT", cls.request_timeout, 1),
            batching=_bool_setting(env, "BUNKHOUSE_BATCHING", cls.batching),
            batch_window=_float_setting(env, "BUNKHOUSE_BATCH_WINDOW", cls.batch_window, 0.0),
            batch_window_max=_float_setting(env, "BUNKHOUSE_BATCH_WINDOW_MAX", cls.batch_window_max, 0.0),
            scheduler=_bool_setting(env, "BUNKHOUSE_SCHEDULER", cls.scheduler),
            notice_seconds=_int_setting(env, "BUNKHOUSE_NOTICE_SECONDS", cls.notice_seconds, 0),
            health_interval_seconds=_int_setting(env, "BUNKHOUSE_HEALTH_INTERVAL", cls.health_interval_seconds, 0),
            sweep_interval_seconds=_int_setting(env, "BUNKHOUSE_SWEEP_INTERVAL", cls.sweep_interval_seconds, 1),
            ansible_timeout=_int_setting(env, "BUNKHOUSE_ANSIBLE_TIMEOUT", cls.ansible_timeout, 1),
            ansible_standbys=_int_setting(env, "BUNKHOUSE_ANSIBLE_STANDBYS", cls.ansible_standbys, 0),
            ansible_forks=_int_setting(env, "BUNKHOUSE_ANSIBLE_FORKS", cls.ansible_forks, 1),
            runs_kept=_int_setting(env, "BUNKHOUSE_RUNS_KEPT", cls.runs_kept, 1),
        )
        config.check()
        return config

    def check(self) -> None:
        last_needed = self.ssh_port_first + self.pool_size - 1
        if last_needed > self.ssh_port_last:
            raise ConfigError(
                f"a pool of {self.pool_size} needs ports {self.ssh_port_first}..{last_needed},"
                f" beyond BUNKHOUSE_SSH_PORT_LAST={self.ssh_port_last}"
            )
        if self.password_min_length > self.password_max_length:
            raise ConfigError("BUNKHOUSE_PASSWORD_MIN_LENGTH is above BUNKHOUSE_PASSWORD_MAX_LENGTH")
        if self.default_duration_minutes > self.max_duration_minutes:
            raise ConfigError("BUNKHOUSE_DEFAULT_DURATION is above BUNKHOUSE_MAX_DURATION")
