"""Settings that are each fine alone but unsafe together: the service refuses to start with them
unless the operator says so. (Given the values, not the sections: this module sits below them.)"""

from __future__ import annotations

from bunkhouse.config.environment import ConfigError, Environment

# A password shorter than this is guessed in hours over SSH once strangers can reach the port.
SAFE_PASSWORD_LENGTH = 10


def check_open_without_auth(*, auth_enabled: bool, host: str, loopback: bool, allowed: bool) -> None:
    """No tokens and a port others can reach: anyone could do anything. Refused unless asked."""
    if not (auth_enabled or loopback or allowed):
        raise ConfigError(f"BUNKHOUSE_AUTH is off and BUNKHOUSE_HOST is {host}: anyone who reaches the"
                          " port could do anything as an admin. Listen on 127.0.0.1, turn BUNKHOUSE_AUTH on, or set"
                          " BUNKHOUSE_ALLOW_OPEN_WITHOUT_AUTH=on to accept that")


def check_exposure(*, published_beyond_loopback: bool, bind_address: str, password_min_length: int,
                   env: Environment) -> None:
    """Nodes published beyond this machine with short passwords allowed: refuse to start,
    unless the operator says so (the seed's password=test keeps working on loopback)."""
    minimum = password_min_length
    if (published_beyond_loopback and minimum < SAFE_PASSWORD_LENGTH
            and not env.switch("BUNKHOUSE_ALLOW_SHORT_PASSWORDS", False)):
        raise ConfigError(
            f"the nodes' SSH is published on {bind_address} with BUNKHOUSE_PASSWORD_MIN_LENGTH="
            f"{minimum}: set it to {SAFE_PASSWORD_LENGTH} or more, or BUNKHOUSE_ALLOW_SHORT_PASSWORDS=on to accept"
            " guessable passwords")
