"""Typed reads of the BUNKHOUSE_* environment variables, for the settings of config/__init__.py."""

from __future__ import annotations

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


class Environment:
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
