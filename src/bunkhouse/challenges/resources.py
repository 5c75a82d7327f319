"""A challenge's resources, as seed 003 writes them (Kubernetes quantities: `limits.cpu` "500m",
`limits.memory` "512Mi", and `requests`), checked against the operator's maxima and mapped onto
Docker: the CPU limit to a CPU quota (cpus), the memory limit to the memory limit (no swap
beyond it), requests to CPU shares and the memory reservation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core.errors import BadRequest

_CPU = re.compile(r"^(?:(\d{1,6})m|(\d{1,3}(?:\.\d{1,3})?))$")
_MEMORY = re.compile(r"^(\d{1,12})(Ki|Mi|Gi|K|M|G|k|m|g)?$")
_UNITS = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3,
          "k": 1024, "m": 1024**2, "g": 1024**3}


def cpus_of(value: Any, field: str) -> float:
    """"500m" or "0.5" (or 0.5) -> 0.5 CPUs."""
    match = _CPU.match(str(value)) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    if match is None:
        raise BadRequest(f"{field} must be CPUs such as \"500m\" or \"0.5\"", code="invalid_resources", field=field)
    cpus = int(match.group(1)) / 1000 if match.group(1) is not None else float(match.group(2))
    if cpus <= 0:
        raise BadRequest(f"{field} must be above 0", code="invalid_resources", field=field)
    return cpus


def bytes_of(value: Any, field: str) -> int:
    """"512Mi", "128M" or "256m" -> bytes."""
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise BadRequest(f"{field} must be a memory size such as \"512Mi\"", code="invalid_resources", field=field)
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Resources:
    cpus: float
    memory: int  # bytes
    cpu_shares: int | None = None
    memory_reservation: int | None = None

    def docker(self) -> dict[str, Any]:
        """roles/challenge_instance's inputs."""
        return {"cpus": self.cpus, "memory": self.memory, "cpu_shares": self.cpu_shares,
                "memory_reservation": self.memory_reservation}


def resources_of(given: Any, settings: ChallengeSettings) -> Resources:
    """The checked resources of a challenge's config (the settings' defaults where it says none);
    above the operator's maxima, or requests above limits: a 400 naming the field."""
    if given is None:
        given = {}
    if not isinstance(given, dict) or set(given) - {"requests", "limits"}:
        raise BadRequest("config.resources has only requests and limits", code="invalid_resources",
                         field="config.resources")
    parts = {}
    for part in ("requests", "limits"):
        value = given.get(part) or {}
        if not isinstance(value, dict) or set(value) - {"cpu", "memory"}:
            raise BadRequest(f"config.resources.{part} has only cpu and memory", code="invalid_resources",
                             field=f"config.resources.{part}")
        parts[part] = value
    limits, requests = parts["limits"], parts["requests"]
    cpus = cpus_of(limits["cpu"], "config.resources.limits.cpu") if "cpu" in limits else settings.default_cpus
    memory = (bytes_of(limits["memory"], "config.resources.limits.memory") if "memory" in limits
              else bytes_of(settings.default_memory, "BUNKHOUSE_CHALLENGE_MEMORY"))
    if cpus > settings.max_cpus:
        raise BadRequest(f"config.resources.limits.cpu is above the operator's maximum of {settings.max_cpus} CPUs",
                         code="resources_above_maximum", field="config.resources.limits.cpu", max=settings.max_cpus)
    most = bytes_of(settings.max_memory, "BUNKHOUSE_CHALLENGE_MAX_MEMORY")
    if memory > most:
        raise BadRequest(f"config.resources.limits.memory is above the operator's maximum of {settings.max_memory}",
                         code="resources_above_maximum", field="config.resources.limits.memory",
                         max=settings.max_memory)
    if memory < 16 * 1024**2:
        raise BadRequest("config.resources.limits.memory must be at least 16Mi", code="invalid_resources",
                         field="config.resources.limits.memory")
    shares = reservation = None
    if "cpu" in requests:
        requested = cpus_of(requests["cpu"], "config.resources.requests.cpu")
        if requested > cpus:
            raise BadRequest("config.resources.requests.cpu is above its limit", code="invalid_resources",
                             field="config.resources.requests.cpu")
        shares = max(2, round(1024 * requested))
    if "memory" in requests:
        reservation = bytes_of(requests["memory"], "config.resources.requests.memory")
        if reservation > memory:
            raise BadRequest("config.resources.requests.memory is above its limit", code="invalid_resources",
                             field="config.resources.requests.memory")
    return Resources(cpus, memory, shares, reservation)
