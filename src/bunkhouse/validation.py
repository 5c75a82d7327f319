"""Rules for what a person may ask for; the same rules serve the JSON API and the seed routes."""

from __future__ import annotations

import re

from bunkhouse.config import Config
from bunkhouse.errors import BadRequest

USERNAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
_USERNAME = re.compile(USERNAME_PATTERN)

# Accounts of the node image (images/node: Debian bookworm + openssh-server + sudo), which a
# tenant may never take over; tests/integration checks this list against the image itself.
SYSTEM_ACCOUNTS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "_apt", "nobody", "systemd-network", "systemd-timesync",
    "messagebus", "sshd", "gnats", "systemd-resolve", "sudo", "admin", "adm", "staff", "users",
})


def check_username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise BadRequest(
            "username must be a Linux user name: a lowercase letter or _, then up to 31 of a-z, 0-9, _ and -",
            code="invalid_username", field="username", pattern=USERNAME_PATTERN,
        )
    if username in SYSTEM_ACCOUNTS:
        raise BadRequest(f"{username} is a system account of the nodes", code="invalid_username", field="username")
    return username


def check_password(password: object, config: Config) -> str:
    if not isinstance(password, str) or not config.password_min_length <= len(password) <= config.password_max_length:
        raise BadRequest(
            f"password must be {config.password_min_length} to {config.password_max_length} characters",
            code="invalid_password", field="password",
        )
    if "\x00" in password:
        raise BadRequest("password must not contain NUL", code="invalid_password", field="password")
    return password


def _check_whole_number(value: object, low: int, high: int, *, message: str, code: str, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(message, code=code, field=field, maximum=high)
    return value


def check_count(count: object, config: Config) -> int:
    return _check_whole_number(count, 1, config.pool_size, field="count", code="invalid_count",
                               message=f"count must be between 1 and {config.pool_size} (the pool size)")


def check_duration(minutes: object, config: Config) -> int:
    return _check_whole_number(minutes, 1, config.max_duration_minutes, field="duration_minutes",
                               code="invalid_duration",
                               message=f"duration must be between 1 and {config.max_duration_minutes} minutes")


def check_extension(minutes: object, config: Config) -> int:
    return _check_whole_number(minutes, 1, config.extension_max_minutes, field="minutes", code="invalid_minutes",
                               message=f"minutes must be between 1 and {config.extension_max_minutes}")


def parse_int(raw: str | None, field: str, default: int) -> int:
    """An integer from a query string (seed routes), or a 400 naming the field."""
    if raw is None or raw == "":
        return default
    try:
        return int(raw, 10)
    except ValueError:
        raise BadRequest(f"{field} must be a whole number", code=f"invalid_{field}", field=field) from None
