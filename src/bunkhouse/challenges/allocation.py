"""What a challenge and its instances take from the operator's ranges, in the caller's write
transaction: a network number (its subnet), and for each new instance its host ports (the
lowest free ones; the primary key of challenge_ports makes a port given twice impossible) and
its flag."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from bunkhouse.challenges import naming
from bunkhouse.challenges.flags import SecretBox, make_flag
from bunkhouse.challenges.models import Challenge, ChallengeInstance, PublishedPort
from bunkhouse.challenges.models import InstanceStatus as I
from bunkhouse.config.challenges import ChallengeSettings
from bunkhouse.core.errors import Conflict


def free_network(session: Session, settings: ChallengeSettings) -> int:
    """The lowest network number no challenge has."""
    used = set(session.scalars(select(Challenge.network_index)))
    for index in range(1, naming.subnet_count(settings) + 1):
        if index not in used:
            return index
    raise Conflict("every subnet of BUNKHOUSE_CHALLENGE_SUBNETS is taken: delete a challenge first",
                   code="challenge_subnets_exhausted")


def new_instance(session: Session, challenge: Challenge, team_id: str, settings: ChallengeSettings,
                 box: SecretBox) -> ChallengeInstance:
    """A team's instance (pending), with a host port for each port of the challenge and its flag."""
    ports = challenge.config["ports"]
    used = set(session.scalars(select(PublishedPort.port)))
    free = [port for port in range(settings.port_first, settings.port_last + 1) if port not in used]
    if len(free) < len(ports):
        raise Conflict("every port of BUNKHOUSE_CHALLENGE_PORT_FIRST..LAST is taken",
                       code="challenge_ports_exhausted")
    hosts = free[:len(ports)]
    instance = ChallengeInstance(id=uuid.uuid4().hex, challenge_id=challenge.id, team_id=team_id,
                                 status=I.PENDING, ports={str(port): host for port, host in zip(ports, hosts,
                                                                                                strict=True)},
                                 flag=box.seal(make_flag(challenge.config["flag_format"])))
    session.add(instance)
    session.flush()
    session.add_all(PublishedPort(port=host, instance_id=instance.id) for host in hosts)
    session.flush()
    return instance
