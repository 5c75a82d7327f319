"""Every setting, read from environment variables with safe defaults, in one place: one frozen
section per area. Every variable here is listed in the README's Configuration section.
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


class _Environment:
    """Typed reads of BUNKHOUSE_* variables; an empty variable means the default."""

    def __init__(self, environ: dict[str, str]):
        self.environ = environ

    def text(self, name: str, default: str) -> str:
        return self.environ.get(name, "").strip() or default

    def integer(self, name: str, default: int, minimum: int) -> int:
        return self._number(name, default, minimum, int)

    def decimal(self, name: str, default: float, minimum: float) -> float:
        return self._number(name, default, minimum, float)

    def switch(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ConfigError(f"{name} must be on or off, got {raw!r}")

    def _number(self, name: str, default, minimum, kind):
        raw = self.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value


@dataclass(frozen=True)
class HttpSettings:
    # Address and port the HTTP service listens on.
    host: str = "127.0.0.1"
    port: int = 8080
    # Seconds a request waits for its Ansible work before answering 202 (still working).
    request_timeout: int = 120

    @classmethod
    def read(cls, env: _Environment) -> HttpSettings:
        return cls(host=env.text("BUNKHOUSE_HOST", cls.host), port=env.integer("BUNKHOUSE_PORT", cls.port, 1),
                   request_timeout=env.integer("BUNKHOUSE_REQUEST_TIMEOUT", cls.request_timeout, 1))


@dataclass(frozen=True)
class PoolSettings:
    """The SSH node pool this service hands out, and how it is provisioned."""

    name: str = "default"
    size: int = 10
    ssh_port_first: int = 22001
    ssh_port_last: int = 22999
    ssh_bind_address: str = "0.0.0.0"
    # The host name people are told to ssh to.
    ssh_host: str = "127.0.0.1"
    provision_on_start: bool = True

    @classmethod
    def read(cls, env: _Environment) -> PoolSettings:
        settings = cls(
            name=env.text("BUNKHOUSE_POOL", cls.name),
            size=env.integer("BUNKHOUSE_POOL_SIZE", cls.size, 1),
            ssh_port_first=env.integer("BUNKHOUSE_SSH_PORT_FIRST", cls.ssh_port_first, 1),
            ssh_port_last=env.integer("BUNKHOUSE_SSH_PORT_LAST", cls.ssh_port_last, 1),
            ssh_bind_address=env.text("BUNKHOUSE_SSH_BIND_ADDRESS", cls.ssh_bind_address),
            ssh_host=env.text("BUNKHOUSE_SSH_HOST", cls.ssh_host),
            provision_on_start=env.switch("BUNKHOUSE_PROVISION_ON_START", cls.provision_on_start),
        )
        last_needed = settings.ssh_port_first + settings.size - 1
        if last_needed > settings.ssh_port_last:
            raise ConfigError(f"a pool of {settings.size} needs ports {settings.ssh_port_first}..{last_needed},"
                              f" beyond BUNKHOUSE_SSH_PORT_LAST={settings.ssh_port_last}")
        return settings


@dataclass(frozen=True)
class AuthSettings:
    # Bearer tokens on every route but the open ones (off: anyone who reaches the port may do anything).
    enabled: bool = True
    # Per-user defaults for users of role "user" (an admin can set other values per user).
    user_max_nodes: int = 5
    user_max_duration_minutes: int = 240
    user_max_lease_minutes: int = 480
    # Reservation requests per minute per caller (user, or address when auth is off); 0: no limit.
    rate_limit_per_minute: int = 10
    # Where the rate limit's counters live (Flask-Limiter storage URL; several API processes
    # share a limit through redis://...).
    rate_limit_storage: str = "memory://"

    @classmethod
    def read(cls, env: _Environment) -> AuthSettings:
        return cls(
            enabled=env.switch("BUNKHOUSE_AUTH", cls.enabled),
            user_max_nodes=env.integer("BUNKHOUSE_USER_MAX_NODES", cls.user_max_nodes, 1),
            user_max_duration_minutes=env.integer("BUNKHOUSE_USER_MAX_DURATION", cls.user_max_duration_minutes, 1),
            user_max_lease_minutes=env.integer("BUNKHOUSE_USER_MAX_LEASE", cls.user_max_lease_minutes, 1),
            rate_limit_per_minute=env.integer("BUNKHOUSE_RATE_LIMIT", cls.rate_limit_per_minute, 0),
            rate_limit_storage=env.text("BUNKHOUSE_RATE_LIMIT_STORAGE", cls.rate_limit_storage),
        )


@dataclass(frozen=True)
class ReservationSettings:
    default_duration_minutes: int = 60
    max_duration_minutes: int = 1440
    extension_max_minutes: int = 120
    lease_max_minutes: int = 2880
    password_min_length: int = 4
    password_max_length: int = 128
    # Seconds before a lease ends when the account's terminals get a notice; 0: no notice.
    notice_seconds: int = 300

    @classmethod
    def read(cls, env: _Environment) -> ReservationSettings:
        settings = cls(
            default_duration_minutes=env.integer("BUNKHOUSE_DEFAULT_DURATION", cls.default_duration_minutes, 1),
            max_duration_minutes=env.integer("BUNKHOUSE_MAX_DURATION", cls.max_duration_minutes, 1),
            extension_max_minutes=env.integer("BUNKHOUSE_EXTENSION_MAX", cls.extension_max_minutes, 1),
            lease_max_minutes=env.integer("BUNKHOUSE_LEASE_MAX", cls.lease_max_minutes, 1),
            password_min_length=env.integer("BUNKHOUSE_PASSWORD_MIN_LENGTH", cls.password_min_length, 1),
            password_max_length=env.integer("BUNKHOUSE_PASSWORD_MAX_LENGTH", cls.password_max_length, 1),
            notice_seconds=env.integer("BUNKHOUSE_NOTICE_SECONDS", cls.notice_seconds, 0),
        )
        if settings.password_min_length > settings.password_max_length:
            raise ConfigError("BUNKHOUSE_PASSWORD_MIN_LENGTH is above BUNKHOUSE_PASSWORD_MAX_LENGTH")
        if settings.default_duration_minutes > settings.max_duration_minutes:
            raise ConfigError("BUNKHOUSE_DEFAULT_DURATION is above BUNKHOUSE_MAX_DURATION")
        return settings


@dataclass(frozen=True)
class AnsibleSettings:
    # Seconds one Ansible run may take, counted from when its work starts; then its process
    # group is killed.
    timeout: int = 300
    # Seconds one node may spend on its task of a batch run (an account change, a notice); past
    # it that node fails alone and the others of the run go on.
    host_timeout: int = 60
    # Parallel connections of one run.
    forks: int = 20
    # Batch pending account work into one run (off: one run per request).
    batching: bool = True
    # Seconds the batcher waits after the first pending job, so simultaneous requests share a run ...
    batch_window: float = 0.05
    # ... and keeps waiting while more keep arriving, up to this many seconds in all.
    batch_window_max: float = 0.5
    # Batch runs kept started ahead, waiting for their work (batching only; 0: off).
    standbys: int = 2
    # How many finished run folders (artifacts) are kept; older ones are deleted.
    runs_kept: int = 50

    @classmethod
    def read(cls, env: _Environment) -> AnsibleSettings:
        return cls(
            timeout=env.integer("BUNKHOUSE_ANSIBLE_TIMEOUT", cls.timeout, 1),
            host_timeout=env.integer("BUNKHOUSE_ANSIBLE_HOST_TIMEOUT", cls.host_timeout, 1),
            forks=env.integer("BUNKHOUSE_ANSIBLE_FORKS", cls.forks, 1),
            batching=env.switch("BUNKHOUSE_BATCHING", cls.batching),
            batch_window=env.decimal("BUNKHOUSE_BATCH_WINDOW", cls.batch_window, 0.0),
            batch_window_max=env.decimal("BUNKHOUSE_BATCH_WINDOW_MAX", cls.batch_window_max, 0.0),
            standbys=env.integer("BUNKHOUSE_ANSIBLE_STANDBYS", cls.standbys, 0),
            runs_kept=env.integer("BUNKHOUSE_RUNS_KEPT", cls.runs_kept, 1),
        )


@dataclass(frozen=True)
class JobSettings:
    # Run the background jobs (and Ansible) in this process if it becomes the primary; off:
    # this process only serves HTTP.
    scheduler: bool = True
    # Seconds between expiry sweeps (each lease's end is also scheduled exactly).
    sweep_interval_seconds: int = 60
    # Seconds between node monitor rounds (container running, sshd with its host key); 0: off.
    monitor_interval_seconds: int = 60
    # Seconds a reservation or node may sit in a transitional state with no work in flight
    # before the periodic reconcile finishes or undoes it.
    stuck_after_seconds: int = 120

    @classmethod
    def read(cls, env: _Environment) -> JobSettings:
        # BUNKHOUSE_HEALTH_INTERVAL was this setting's name before the job became "the monitor".
        monitor = env.integer("BUNKHOUSE_MONITOR_INTERVAL",
                              env.integer("BUNKHOUSE_HEALTH_INTERVAL", cls.monitor_interval_seconds, 0), 0)
        return cls(
            scheduler=env.switch("BUNKHOUSE_SCHEDULER", cls.scheduler),
            sweep_interval_seconds=env.integer("BUNKHOUSE_SWEEP_INTERVAL", cls.sweep_interval_seconds, 1),
            monitor_interval_seconds=monitor,
            stuck_after_seconds=env.integer("BUNKHOUSE_STUCK_AFTER", cls.stuck_after_seconds, 1),
        )


@dataclass(frozen=True)
class Config:
    # Where playbooks/, roles/, inventory/ and ansible.cfg are.
    project_dir: Path = DEFAULT_PROJECT_DIR
    # Writable state of this deployment: the SQLite database, the Ansible run folders, locks.
    instance_dir: Path = field(default_factory=lambda: DEFAULT_PROJECT_DIR / "instance")
    # Any SQLAlchemy URL; empty means an SQLite file in the instance folder.
    database_url: str = ""
    http: HttpSettings = field(default_factory=HttpSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    reservations: ReservationSettings = field(default_factory=ReservationSettings)
    ansible: AnsibleSettings = field(default_factory=AnsibleSettings)
    jobs: JobSettings = field(default_factory=JobSettings)

    @property
    def inventory_dir(self) -> Path:
        """The Ansible inventory: the engines (engines.yml) and the live nodes on them."""
        return self.project_dir / "inventory"

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
        env = _Environment(dict(os.environ if environ is None else environ))
        project_dir = Path(env.text("BUNKHOUSE_PROJECT_DIR", str(DEFAULT_PROJECT_DIR))).resolve()
        return cls(
            project_dir=project_dir,
            instance_dir=Path(env.text("BUNKHOUSE_INSTANCE_DIR", str(project_dir / "instance"))).resolve(),
            database_url=env.text("BUNKHOUSE_DATABASE_URL", ""),
            http=HttpSettings.read(env),
            pool=PoolSettings.read(env),
            auth=AuthSettings.read(env),
            reservations=ReservationSettings.read(env),
            ansible=AnsibleSettings.read(env),
            jobs=JobSettings.read(env),
        )
