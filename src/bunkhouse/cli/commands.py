"""Operator commands on the service's database, for the operator at the machine (the same
operations as the admin API): users and tokens, and the schema.

    python -m bunkhouse.cli users list
    python -m bunkhouse.cli users add alice [--role user|admin] [--max-nodes N] ...
    python -m bunkhouse.cli tokens create alice [--label L] [--expires-in-days D]   # prints the token once
    python -m bunkhouse.cli tokens list alice
    python -m bunkhouse.cli tokens revoke <token id>
    python -m bunkhouse.cli migrate [--to REVISION]                                 # upgrade the schema

It reads the same BUNKHOUSE_* settings as the service (BUNKHOUSE_DATABASE_URL, BUNKHOUSE_INSTANCE_DIR).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bunkhouse.config import Config
from bunkhouse.core import schema
from bunkhouse.core.db import Database
from bunkhouse.core.errors import ApiError
from bunkhouse.core.paging import MAX_LIMIT
from bunkhouse.identity.models import ROLES
from bunkhouse.identity.tokens import Tokens
from bunkhouse.identity.users import ApiUsers
from bunkhouse.web.views import iso


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bunkhouse.cli", description="bunkhouse users, tokens and schema")
    topics = parser.add_subparsers(dest="topic", required=True)

    users = topics.add_parser("users").add_subparsers(dest="action", required=True)
    users.add_parser("list")
    add = users.add_parser("add")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="user")
    for option in ("max-nodes", "max-duration-minutes", "max-lease-minutes"):
        add.add_argument(f"--{option}", type=int, default=None)

    tokens = topics.add_parser("tokens").add_subparsers(dest="action", required=True)
    create = tokens.add_parser("create")
    create.add_argument("name")
    create.add_argument("--label", default="")
    create.add_argument("--expires-in-days", type=int, default=None)
    listing = tokens.add_parser("list")
    listing.add_argument("name")
    revoke = tokens.add_parser("revoke")
    revoke.add_argument("token_id")

    migrate = topics.add_parser("migrate", help="upgrade the database schema (the service does it on start)")
    migrate.add_argument("--to", default="head", help="the revision to upgrade to (default: the newest)")

    args = parser.parse_args(argv)
    config = Config.from_environ()
    database = Database(config.sqlalchemy_url)
    actor = f"cli:{getpass.getuser()}"
    try:
        revision = schema.upgrade(database, config.instance_dir, args.to if args.topic == "migrate" else "head")
        if args.topic == "migrate":
            print(f"database schema at revision {revision}")
            return 0
        return _run(args, ApiUsers(database, config.auth), Tokens(database, config.auth), actor)
    except ApiError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()


def _run(args: argparse.Namespace, users: ApiUsers, tokens: Tokens, actor: str) -> int:
    if args.topic == "users" and args.action == "list":
        for user in _every(lambda cursor: users.page(limit=MAX_LIMIT, cursor=cursor)):
            print(f"{user.name}\t{user.role}\tcreated {iso(user.created_at)}")
    elif args.topic == "users" and args.action == "add":
        user = users.create(args.name, args.role, actor=actor, max_nodes=args.max_nodes,
                            max_duration_minutes=args.max_duration_minutes, max_lease_minutes=args.max_lease_minutes)
        print(f"created {user.role} {user.name}", file=sys.stderr)
    elif args.topic == "tokens" and args.action == "create":
        token, secret = tokens.create(args.name, actor=actor, label=args.label, expires_in_days=args.expires_in_days)
        print(f"token {token.id} for {args.name} (shown once; store it now):", file=sys.stderr)
        print(secret)
    elif args.topic == "tokens" and args.action == "list":
        for token in _every(lambda cursor: tokens.page_of(args.name, limit=MAX_LIMIT, cursor=cursor)):
            state = f"revoked {iso(token.revoked_at)}" if token.revoked_at else (
                f"expires {iso(token.expires_at)}" if token.expires_at else "no expiry")
            print(f"{token.id}\t{token.label or '-'}\tcreated {iso(token.created_at)}\t{state}")
    elif args.topic == "tokens" and args.action == "revoke":
        token = tokens.revoke(args.token_id, actor=actor)
        print(f"revoked {token.id} of {token.user.name}", file=sys.stderr)
    return 0


def _every(read_page):
    """Every row of a paged list, page after page."""
    cursor = None
    while True:
        page = read_page(cursor)
        yield from page.rows
        if page.next is None:
            return
        cursor = page.next
