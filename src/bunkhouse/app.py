"""The application factory: builds every part from the configuration and wires them together,
bottom layer first (core, runner, fleet, identity, jobs, the web shell, then the products)."""

from __future__ import annotations

import logging
import sys

from apiflask import APIFlask

from bunkhouse import __version__
from bunkhouse.challenges import api as challenges_api
from bunkhouse.challenges import seed_routes as challenge_seed_routes
from bunkhouse.challenges.assign import Assignments
from bunkhouse.challenges.deployer import Deployer
from bunkhouse.challenges.flags import SecretBox
from bunkhouse.challenges.images import AllowList, ImageListError
from bunkhouse.challenges.jobs import ChallengeJobs
from bunkhouse.challenges.lifetimes import Lifetimes
from bunkhouse.challenges.pools import ChallengePools
from bunkhouse.challenges.service import ChallengeService
from bunkhouse.challenges.team_instances import TeamInstances
from bunkhouse.config import Config
from bunkhouse.core import schema
from bunkhouse.core.db import Database
from bunkhouse.core.files import private_dir
from bunkhouse.core.primary import PrimaryLock, Role
from bunkhouse.fleet.catalog import NodeBounds
from bunkhouse.fleet.engines import EngineClient, load_engines
from bunkhouse.fleet.fleet import Fleet
from bunkhouse.fleet.monitor import Monitor, Probe
from bunkhouse.fleet.named import NamedContainers
from bunkhouse.fleet.pool import Pool
from bunkhouse.fleet.probe import probe_inside
from bunkhouse.fleet.renewal import Renewals
from bunkhouse.fleet.sizing import PoolSizing
from bunkhouse.fleet.warmth import POOL_PREFIX
from bunkhouse.identity.bootstrap import bootstrap_admin
from bunkhouse.identity.logins import Logins
from bunkhouse.identity.teams import Teams
from bunkhouse.identity.tokens import Tokens
from bunkhouse.identity.users import ApiUsers
from bunkhouse.jobs.scheduler import Scheduler
from bunkhouse.lifecycle import Lifecycle
from bunkhouse.profiles import api as profiles_api
from bunkhouse.profiles.jobs import ProfileJobs
from bunkhouse.profiles.service import ProfileService
from bunkhouse.reservations import accounts, seed_routes
from bunkhouse.reservations import api as reservations_api
from bunkhouse.reservations.jobs import ReservationJobs
from bunkhouse.reservations.reconcile import Reconciler
from bunkhouse.reservations.replacement import Replacements
from bunkhouse.reservations.retention import Retention
from bunkhouse.reservations.service import ReservationService
from bunkhouse.runner.batcher import Batcher
from bunkhouse.runner.playbooks import Runner
from bunkhouse.runner.records import recorder
from bunkhouse.web import auth_api, events_api, fleet_api, health, metrics, seed_users, teams_api, users_api
from bunkhouse.web.access import init_access
from bunkhouse.web.access_log import init_access_log
from bunkhouse.web.docs import init_docs
from bunkhouse.web.errors import init_errors
from bunkhouse.web.metrics import init_metrics
from bunkhouse.web.ratelimit import init_rate_limit
from bunkhouse.web.schemas import ERROR_SCHEMA

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, *, runner: Runner | None = None, engine: EngineClient | None = None,
               probe: Probe | None = None, start_background: bool = True) -> APIFlask:
    """The app. Tests hand in a fake runner and engine; with start_background off, nothing
    starts in the background (no provisioning, no jobs) and the app can act at once."""
    config = config or Config.from_environ()
    app = APIFlask(__name__, title="bunkhouse", version=__version__, spec_path="/openapi.json", docs_path="/docs")
    app.config.update(
        VALIDATION_ERROR_STATUS_CODE=400, VALIDATION_ERROR_DESCRIPTION="Invalid input",
        VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA, HTTP_ERROR_SCHEMA=ERROR_SCHEMA, BUNKHOUSE=config, JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=config.http.max_body_bytes,
        DESCRIPTION="Short-lived, isolated Linux environments: reserve SSH nodes, get an account on each, "
                    "lose it when the lease ends.",
    )

    # The instance folder (database, locks, run folders, the admin token) is its owner's alone.
    private_dir(config.instance_dir)
    database = Database(config.sqlalchemy_url)
    schema.upgrade(database, config.instance_dir)
    lock = PrimaryLock(database, config.instance_dir)
    role = Role(primary=config.jobs.scheduler and lock.acquire())
    log.info("this process is the %s of its deployment", role.name)

    runner = runner or Runner(config.project_dir, config.inventory_dir, config.runs_dir, config.ansible,
                              recorder(database))
    engine = engine or EngineClient(load_engines(config.inventory_dir)[0])
    fleet = Fleet(database, runner, engine, Pool.of_settings(config.pool), role)
    settings = config.ansible
    batcher = Batcher(runner, accounts.PLAYBOOK, accounts.VARIABLE, batching=settings.batching,
                      window=settings.batch_window, max_window=settings.batch_window_max, standbys=settings.standbys,
                      extra_variables={"bunkhouse_host_timeout": settings.host_timeout})
    # A pool whose members are recreated on release (the default with sudo) gets them back from the image.
    renewals = (Renewals(fleet, batching=settings.batching, window=settings.batch_window,
                         max_window=settings.batch_window_max) if fleet.pool.recreate_on_release else None)
    account_work = accounts.AccountWork(database, batcher, sudo=fleet.pool.sudo, renewals=renewals)
    service = ReservationService(config.reservations, database, fleet, account_work,
                                 request_timeout=config.http.request_timeout, sizing=PoolSizing(fleet))
    replacements = Replacements(service)
    fleet.on_lost(replacements.node_lost)
    reconciler = Reconciler(service, replacements, config.jobs.stuck_after_seconds)
    scheduler = Scheduler()
    monitor = Monitor(fleet, config.jobs.monitor_interval_seconds,
                      probe or (lambda name, keys: probe_inside(engine, name, keys)),
                      mass_failure=config.jobs.monitor_mass_failure)
    # The named containers of the containers file (seed 004) and the profiles that hold them.
    named = NamedContainers(database, runner, engine, role, config.containers, config.project_dir,
                            nodes=NodeBounds(config.pool.name, config.pool.port_count, config.pool.size),
                            outbound=config.pool.limits.outbound, firewall=config.pool.limits.firewall)
    named.catalog_listeners.append(lambda catalog: fleet.put_entry(catalog.node_pool))
    profiles = ProfileService(config.containers, database, named, role, jobs_running=lambda: scheduler.running)
    challenges, team_instances, challenge_jobs = _challenges(config, database, runner, role, scheduler)
    assignments = Assignments(challenges, config.http.request_timeout, challenge_jobs.pools)
    lifecycle = Lifecycle(
        config, role, lock, database, runner,
        [batcher, named.batcher] + ([renewals.batcher] if renewals else []), fleet, monitor, scheduler, reconciler,
        ReservationJobs(scheduler, service, reconciler, runner, config.jobs, config.reservations.notice_seconds,
                        settings.host_timeout, Retention(database, config.retention)),
        profile_jobs=ProfileJobs(scheduler, profiles, named, config.containers.round_seconds),
        challenge_jobs=challenge_jobs)
    lifecycle.profile_jobs.read_file()
    profiles.reload_listeners.append(lifecycle.jobs.after_reload)
    users, tokens = ApiUsers(database, config.auth), Tokens(database, config.auth)
    teams = Teams(database, config.logins.invite_hours)
    logins = Logins(database, users, teams, users.passwords, config.logins)
    app.extensions.update({
        "bunkhouse.database": database, "bunkhouse.fleet": fleet, "bunkhouse.reservations": service,
        "bunkhouse.users": users, "bunkhouse.lifecycle": lifecycle, "bunkhouse.status": lifecycle.status,
        "bunkhouse.replacements": replacements, "bunkhouse.reconciler": reconciler, "bunkhouse.profiles": profiles,
        "bunkhouse.challenges": challenges, "bunkhouse.assignments": assignments, "bunkhouse.teams": teams,
        "bunkhouse.team_instances": team_instances, "bunkhouse.challenge_pools": challenge_jobs.pools,
        "bunkhouse.logins": logins,
    })

    # The web shell: the access log first (it times everything), then who may call what.
    init_access_log(app)
    init_errors(app)
    init_docs(app)
    init_access(app, tokens, config.auth.enabled)
    init_rate_limit(app, config.auth, config.logins)
    health.init_health(app, config.http.health_cache_seconds)
    init_metrics(app, database, config.metrics, config.project_dir, fleet.pool.name,
                 lambda: [POOL_PREFIX + warmth for warmth in named.catalog.pools])
    for blueprint in (health.bp, metrics.bp, users_api.bp, seed_users.bp, teams_api.bp, auth_api.bp, events_api.bp,
                      fleet_api.bp, reservations_api.bp, seed_routes.bp, profiles_api.bp, challenges_api.bp,
                      challenge_seed_routes.bp):
        app.register_blueprint(blueprint)

    if config.auth.enabled:
        _bootstrap_admin(users, tokens, config)
    if start_background:
        lifecycle.start()
    else:
        lifecycle.start_now()
    return app


def _challenges(config: Config, database: Database, runner: Runner, role: Role, scheduler: Scheduler
                ) -> tuple[ChallengeService, TeamInstances, ChallengeJobs]:
    """Behaviour 2: the allow-list of images, the flags' key, the deployer, the service, what a
    team does with its instance, the lifetimes and the pools (their round is a job of the scheduler)."""
    settings = config.challenges
    try:
        allow_list = AllowList.load(settings.images_path(config.project_dir))
    except ImageListError as error:  # every challenge image is refused until the file is fixed
        log.error("the allow-list of challenge images could not be read: %s", error)
        allow_list = AllowList({})
    box = SecretBox(config.instance_dir / "challenge-key")
    deployer = Deployer(database, runner, settings, box, config.inventory_dir / "engines.yml",
                        firewall=config.pool.limits.firewall, forks=config.ansible.forks)
    service = ChallengeService(database, settings, allow_list, box, deployer, role)
    team_instances = TeamInstances(database, settings, box, deployer, role)
    pools = ChallengePools(database, settings, box, deployer)
    return service, team_instances, ChallengeJobs(service, deployer, runner, Lifetimes(database, deployer), pools,
                                                  scheduler)


def _bootstrap_admin(users: ApiUsers, tokens: Tokens, config: Config) -> None:
    """First start with authentication on and no admin: make one. Its token is written to a
    0600 file, and shown on the terminal only when there is one (never in the log)."""
    token = bootstrap_admin(users, tokens, config.admin_token_file)
    if token is None:
        return
    log.warning("no admin existed: created user 'admin'; its token is in %s (mode 0600)", config.admin_token_file)
    if sys.stderr.isatty():
        print(f"\n  bunkhouse admin token (shown once; also in {config.admin_token_file}):\n  {token}\n",
              file=sys.stderr, flush=True)
