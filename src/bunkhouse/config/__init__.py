"""Every setting, read from environment variables with safe defaults, in one place: one frozen
section per area. Every variable here is listed in the README's Configuration section.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.config.checks import SAFE_PASSWORD_LENGTH, check_exposure, check_open_without_auth
from bunkhouse.config.environment import ConfigError, Environment
from bunkhouse.config.identity import AuthSettings, LoginSettings

__all__ = ["AuthSettings", "ConfigError", "Config", "LoginSettings", "SAFE_PASSWORD_LENGTH"]

# src/bunkhouse/config/__init__.py -> the repository root, where playbooks/, roles/ and inventory/ live.
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[3]

@dataclass(frozen=True)
class HttpSettings:
    # Address and port the HTTP service listens on.
    host: str = "127.0.0.1"
    port: int = 8080
    # Seconds a request waits for its Ansible work before answering 202 (still working).
    request_timeout: int = 120
    # Largest request body accepted (Flask's MAX_CONTENT_LENGTH); a larger one is 413.
    max_body_bytes: int = 65536
    # Seconds one /healthz answer is reused (it asks the database and the engine); 0: never.
    health_cache_seconds: float = 2.0

    @property
    def loopback(self) -> bool:
        return self.host.strip("[]").lower() in ("127.0.0.1", "::1", "localhost")

    @classmethod
    def read(cls, env: Environment) -> HttpSettings:
        return cls(host=env.text("BUNKHOUSE_HOST", cls.host), port=env.integer("BUNKHOUSE_PORT", cls.port, 1),
                   request_timeout=env.integer("BUNKHOUSE_REQUEST_TIMEOUT", cls.request_timeout, 1),
                   max_body_bytes=env.integer("BUNKHOUSE_MAX_BODY_BYTES", cls.max_body_bytes, 1024),
                   health_cache_seconds=env.decimal("BUNKHOUSE_HEALTH_CACHE_SECONDS", cls.health_cache_seconds, 0.0))


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_SIZE = re.compile(r"^[1-9][0-9]*[kmg]$")


@dataclass(frozen=True)
class NodeLimits:
    """What every node of the pool may use (roles/pool_node's limits), and its network."""

    cpus: float = 1.0
    memory: str = "1g"
    pids: int = 256
    # Sizes of the tmpfs mounts a tenant can write (charged to the node's memory).
    tmp_size: str = "256m"
    home_size: str = "256m"
    # Nodes may open connections beyond this machine (the internet).
    outbound: bool = True
    # Make the pool's firewall chains (root on the engine's host).
    firewall: bool = True

    @classmethod
    def read(cls, env: Environment) -> NodeLimits:
        limits = cls(
            cpus=env.decimal("BUNKHOUSE_NODE_CPUS", cls.cpus, 0.01),
            memory=_size(env, "BUNKHOUSE_NODE_MEMORY", cls.memory),
            pids=env.integer("BUNKHOUSE_NODE_PIDS", cls.pids, 16),
            tmp_size=_size(env, "BUNKHOUSE_NODE_TMP_SIZE", cls.tmp_size),
            home_size=_size(env, "BUNKHOUSE_NODE_HOME_SIZE", cls.home_size),
            outbound=env.switch("BUNKHOUSE_NODE_OUTBOUND", cls.outbound),
            firewall=env.switch("BUNKHOUSE_NODE_FIREWALL", cls.firewall),
        )
        # /var/tmp and /dev/shm (64m each) and /run/lock (1m) count too.
        if _bytes(limits.tmp_size) + _bytes(limits.home_size) + (129 << 20) >= _bytes(limits.memory):
            raise ConfigError("BUNKHOUSE_NODE_TMP_SIZE and BUNKHOUSE_NODE_HOME_SIZE (with the 129m of /var/tmp,"
                              " /dev/shm and /run/lock) must stay under BUNKHOUSE_NODE_MEMORY (their files are held"
                              " in the node's memory)")
        return limits


@dataclass(frozen=True)
class PoolSettings:
    """The SSH node pool this service hands out, and how it is provisioned."""

    name: str = "default"
    # Members kept running (the pool's min), and how many it may grow to on demand (its max): a
    # reservation that finds too few free members waits for new ones up to max. A member beyond
    # min, free for idle_seconds, is removed. The containers file's ssh_node entry overrides them.
    size: int = 10
    max_size: int = 10
    idle_seconds: int = 600
    ssh_port_first: int = 22001
    ssh_port_last: int = 22999
    # Where the nodes' SSH ports are published, and the host name people are told to ssh to:
    # this machine only, by default, both together.
    ssh_bind_address: str = "127.0.0.1"
    ssh_host: str = "127.0.0.1"
    provision_on_start: bool = True
    limits: NodeLimits = field(default_factory=NodeLimits)
    # Tenants get sudo; and a released node is recreated from the image (on by default with sudo).
    sudo: bool = False
    recreate_on_release: bool = False

    @property
    def published_beyond_loopback(self) -> bool:
        return self.ssh_bind_address not in _LOOPBACK

    @property
    def port_count(self) -> int:
        """How many nodes the SSH port range holds."""
        return self.ssh_port_last - self.ssh_port_first + 1

    @classmethod
    def read(cls, env: Environment) -> PoolSettings:
        bind = env.text("BUNKHOUSE_SSH_BIND_ADDRESS", cls.ssh_bind_address)
        settings = cls(
            name=env.text("BUNKHOUSE_POOL", cls.name),
            size=(size := env.integer("BUNKHOUSE_POOL_SIZE", cls.size, 1)),
            max_size=env.integer("BUNKHOUSE_POOL_MAX", size, size),
            idle_seconds=env.integer("BUNKHOUSE_POOL_IDLE_SECONDS", cls.idle_seconds, 0),
            ssh_port_first=env.integer("BUNKHOUSE_SSH_PORT_FIRST", cls.ssh_port_first, 1),
            ssh_port_last=env.integer("BUNKHOUSE_SSH_PORT_LAST", cls.ssh_port_last, 1),
            ssh_bind_address=bind,
            # Published on one address: that is the one to tell people.
            ssh_host=env.text("BUNKHOUSE_SSH_HOST", cls.ssh_host if bind in ("0.0.0.0", "::") else bind),
            provision_on_start=env.switch("BUNKHOUSE_PROVISION_ON_START", cls.provision_on_start),
            limits=NodeLimits.read(env),
            sudo=(sudo := env.switch("BUNKHOUSE_NODE_SUDO", cls.sudo)),
            recreate_on_release=env.switch("BUNKHOUSE_NODE_RECREATE_ON_RELEASE", sudo),
        )
        last_needed = settings.ssh_port_first + settings.max_size - 1
        if last_needed > settings.ssh_port_last:
            raise ConfigError(f"a pool of {settings.max_size} needs ports {settings.ssh_port_first}..{last_needed},"
                              f" beyond BUNKHOUSE_SSH_PORT_LAST={settings.ssh_port_last}")
        return settings


def _size(env: Environment, name: str, default: str) -> str:
    value = env.text(name, default).lower()
    if not _SIZE.fullmatch(value):
        raise ConfigError(f"{name} must be a size such as 512m or 1g, got {value!r}")
    return value


def _bytes(size: str) -> int:
    return int(size[:-1]) * {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[size[-1]]


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
    def read(cls, env: Environment) -> ReservationSettings:
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
    def read(cls, env: Environment) -> AnsibleSettings:
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
    # Share of one engine's nodes that, failing in the same monitor round, points at the engine
    # or its host instead of the nodes: nothing is decided about them until it clears.
    monitor_mass_failure: float = 0.5

    @classmethod
    def read(cls, env: Environment) -> JobSettings:
        # BUNKHOUSE_HEALTH_INTERVAL was this setting's name before the job became "the monitor".
        monitor = env.integer("BUNKHOUSE_MONITOR_INTERVAL",
                              env.integer("BUNKHOUSE_HEALTH_INTERVAL", cls.monitor_interval_seconds, 0), 0)
        return cls(
            scheduler=env.switch("BUNKHOUSE_SCHEDULER", cls.scheduler),
            sweep_interval_seconds=env.integer("BUNKHOUSE_SWEEP_INTERVAL", cls.sweep_interval_seconds, 1),
            monitor_interval_seconds=monitor,
            stuck_after_seconds=env.integer("BUNKHOUSE_STUCK_AFTER", cls.stuck_after_seconds, 1),
            monitor_mass_failure=env.decimal("BUNKHOUSE_MONITOR_MASS_FAILURE", cls.monitor_mass_failure, 0.0),
        )


@dataclass(frozen=True)
class RetentionSettings:
    # Days ended reservations (with their nodes and events) and run records are kept; 0: forever.
    days: int = 30
    # Days the event log (the audit of users and tokens) is kept; 0: forever.
    audit_days: int = 365

    @classmethod
    def read(cls, env: Environment) -> RetentionSettings:
        return cls(days=env.integer("BUNKHOUSE_RETENTION_DAYS", cls.days, 0),
                   audit_days=env.integer("BUNKHOUSE_AUDIT_RETENTION_DAYS", cls.audit_days, 0))


@dataclass(frozen=True)
class ContainersSettings:
    # The containers file (named containers, hot/warm/cold pools, profiles; seed 004), absolute
    # or relative to the project folder; empty: no named containers, no profiles.
    file: str = ""
    # Address the named containers' ports are published on, and the one people are told.
    bind_address: str = "127.0.0.1"
    host: str = ""
    # Seconds between rounds of the warmth job: hot ones started, idle warm ones stopped, idle
    # cold ones removed, ended profile leases let go.
    round_seconds: int = 5
    # Seconds a prepared profile is held unless the prepare asks otherwise, and at most.
    lease_seconds: int = 3600
    lease_max_seconds: int = 86400

    @property
    def public_host(self) -> str:
        return self.host or ("127.0.0.1" if self.bind_address in ("0.0.0.0", "::") else self.bind_address)

    def path(self, project_dir: Path) -> Path | None:
        return (project_dir / self.file).resolve() if self.file else None

    @classmethod
    def read(cls, env: Environment) -> ContainersSettings:
        settings = cls(
            file=env.text("BUNKHOUSE_CONTAINERS_FILE", cls.file),
            bind_address=env.text("BUNKHOUSE_CONTAINERS_BIND_ADDRESS", cls.bind_address),
            host=env.text("BUNKHOUSE_CONTAINERS_HOST", cls.host),
            round_seconds=env.integer("BUNKHOUSE_CONTAINERS_ROUND_SECONDS", cls.round_seconds, 1),
            lease_seconds=env.integer("BUNKHOUSE_PREPARE_LEASE_SECONDS", cls.lease_seconds, 1),
            lease_max_seconds=env.integer("BUNKHOUSE_PREPARE_LEASE_MAX_SECONDS", cls.lease_max_seconds, 1),
        )
        if settings.lease_seconds > settings.lease_max_seconds:
            raise ConfigError("BUNKHOUSE_PREPARE_LEASE_SECONDS is above BUNKHOUSE_PREPARE_LEASE_MAX_SECONDS")
        return settings


@dataclass(frozen=True)
class MetricsSettings:
    # A bearer token of its own for /metrics (what Prometheus sends from its bearer token file);
    # an admin's API token works too. Empty: only admins' tokens.
    token: str = field(default="", repr=False)
    # /metrics without any token (a scrape from a trusted network only).
    open: bool = False

    @classmethod
    def read(cls, env: Environment) -> MetricsSettings:
        return cls(token=env.text("BUNKHOUSE_METRICS_TOKEN", cls.token),
                   open=env.switch("BUNKHOUSE_METRICS_OPEN", cls.open))


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
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    containers: ContainersSettings = field(default_factory=ContainersSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    challenges: ChallengeSettings = field(default_factory=ChallengeSettings)
    logins: LoginSettings = field(default_factory=LoginSettings)

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
        env = Environment(dict(os.environ if environ is None else environ))
        project_dir = Path(env.text("BUNKHOUSE_PROJECT_DIR", str(DEFAULT_PROJECT_DIR))).resolve()
        config = cls(
            project_dir=project_dir,
            instance_dir=Path(env.text("BUNKHOUSE_INSTANCE_DIR", str(project_dir / "instance"))).resolve(),
            database_url=env.text("BUNKHOUSE_DATABASE_URL", ""),
            http=HttpSettings.read(env),
            pool=PoolSettings.read(env),
            auth=AuthSettings.read(env),
            reservations=ReservationSettings.read(env),
            ansible=AnsibleSettings.read(env),
            jobs=JobSettings.read(env),
            retention=RetentionSettings.read(env),
            containers=ContainersSettings.read(env),
            metrics=MetricsSettings.read(env),
            challenges=ChallengeSettings.read(env),
            logins=LoginSettings.read(env),
        )
        check_exposure(published_beyond_loopback=config.pool.published_beyond_loopback,
                       bind_address=config.pool.ssh_bind_address,
                       password_min_length=config.reservations.password_min_length, env=env)
        check_open_without_auth(auth_enabled=config.auth.enabled, host=config.http.host,
                                loopback=config.http.loopback, allowed=config.auth.allow_open_without_auth)
        return config
