"""What a person may ask for: the same rules, and the same error codes, for the JSON API and
seed 002's routes. Each rule has one code, whatever the interface calls its field (the JSON
API's `duration_minutes` is seed 002's `duration`: both break the rule `invalid_duration`)."""

from __future__ import annotations

import re

from bunkhouse.config import ReservationSettings
from bunkhouse.core.errors import BadRequest

# A Linux account name on the nodes (not an API user's name).
ACCOUNT_NAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
_ACCOUNT_NAME = re.compile(ACCOUNT_NAME_PATTERN)

# Names no tenant may take whatever the image holds; the node image's own accounts and groups
# are read from a node (Fleet.image_names), and the node script refuses them too.
ALWAYS_RESERVED = frozenset({"root"})


def check_username(username: object, image_names: frozenset[str] = frozenset()) -> str:
    if not isinstance(username, str) or not _ACCOUNT_NAME.fullmatch(username):
        raise BadRequest(
            "username must be a Linux user name: a lowercase letter or _, then up to 31 of a-z, 0-9, _ and -",
            code="invalid_username", field="username", pattern=ACCOUNT_NAME_PATTERN,
        )
    if username in ALWAYS_RESERVED or username in image_names:
        raise BadRequest(f"{username} is an account or group of the node image; choose another name",
                         code="invalid_username", field="username")
    return username


def check_password(password: object, settings: ReservationSettings) -> str:
    low, high = settings.password_min_length, settings.password_max_length
    if not isinstance(password, str) or not low <= len(password) <= high:
        raise BadRequest(f"password must be {low} to {high} characters", code="invalid_password", field="password")
    if "\x00" in password:
        raise BadRequest("password must not contain NUL", code="invalid_password", field="password")
    return password


def _whole_number(value: object, low: int, high: int, *, field: str, code: str, message: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(message, code=code, field=field, minimum=low, maximum=high)
    return value


def check_count(count: object, pool_size: int) -> int:
    return _whole_number(count, 1, pool_size, field="count", code="invalid_count",
                         message=f"count must be a whole number from 1 to {pool_size} (the pool size)")


def check_duration(minutes: object, settings: ReservationSettings) -> int:
    return _whole_number(minutes, 1, settings.max_duration_minutes, field="duration_minutes", code="invalid_duration",
                         message=f"duration must be a whole number of minutes from 1 to "
                                 f"{settings.max_duration_minutes}")


def check_extension(minutes: object, settings: ReservationSettings) -> int:
    return _whole_number(minutes, 1, settings.extension_max_minutes, field="minutes", code="invalid_minutes",
                         message=f"minutes must be a whole number from 1 to {settings.extension_max_minutes}")


def parse_int(raw: str | None, field: str, code: str, default: int) -> int:
    """A whole number from a query string (seed 002's routes), or the rule's 400 (`code`)."""
    if raw is None or raw == "":
        return default
    try:
        return int(raw, 10)
    except ValueError:
        raise BadRequest(f"{field} must be a whole number", code=code, field=field) from None
