"""Admin commands on the service's database, for the operator at the machine (the same
operations as the admin API): users and tokens.

    python -m bunkhouse.cli users list
    python -m bunkhouse.cli users add alice [--role user|admin] [--max-nodes N] ...
    python -m bunkhouse.cli tokens create alice [--label L] [--expires-in-days D]   # prints the token once
    python -m bunkhouse.cli tokens list alice
    python -m bunkhouse.cli tokens revoke <token id>

It reads the same BUNKHOUSE_* settings as the service (BUNKHOUSE_DATABASE_URL, BUNKHOUSE_INSTANCE_DIR).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bunkhouse.auth import ROLES, Accounts
from bunkhouse.config import Config
from bunkhouse.db import create_schema, make_engine, make_session_factory
from bunkhouse.errors import ApiError
from bunkhouse.presenters import iso


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bunkhouse.cli", description="bunkhouse users and tokens")
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

    args = parser.parse_args(argv)
    config = Config.from_environ()
    engine = make_engine(config.sqlalchemy_url)
    create_schema(engine)
    accounts = Accounts(config, make_session_factory(engine))
    actor = f"cli:{getpass.getuser()}"
    try:
        return _run(args, accounts, actor)
    except ApiError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, accounts: Accounts, actor: str) -> int:
    if args.topic == "users" and args.action == "list":
        for user in accounts.users():
            print(f"{user.name}\t{user.role}\tcreated {iso(user.created_at)}")
    elif args.topic == "users" and args.action == "add":
        user = accounts.create_user(args.name, args.role, actor=actor, max_nodes=args.max_nodes,
                                    max_duration_minutes=args.max_duration_minutes,
                                    max_lease_minutes=args.max_lease_minutes)
        print(f"created {user.role} {user.name}", file=sys.stderr)
    elif args.topic == "tokens" and args.action == "create":
        token, secret = accounts.create_token(args.name, actor=actor, label=args.label,
                                              expires_in_days=args.expires_in_days)
        print(f"token {token.id} for {args.name} (shown once; store it now):", file=sys.stderr)
        print(secret)
    elif args.topic == "tokens" and args.action == "list":
        for token in accounts.tokens(args.name):
            state = f"revoked {iso(token.revoked_at)}" if token.revoked_at else (
                f"expires {iso(token.expires_at)}" if token.expires_at else "no expiry")
            print(f"{token.id}\t{token.label or '-'}\tcreated {iso(token.created_at)}\t{state}")
    elif args.topic == "tokens" and args.action == "revoke":
        token = accounts.revoke_token(args.token_id, actor=actor)
        print(f"revoked {token.id} of {token.user.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
