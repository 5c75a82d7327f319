"""Request and response schemas of the challenge routes, with seed 003's field names. Types
and sizes are checked here (a 400 naming the field); what depends on the operator (the image
allow-list, the resource maxima, the port range) is checked by spec.py."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

# A challenge's name is part of nothing on the engine, but it shows in addresses people type.
NAME = Regexp(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", error="3-63 lowercase letters, digits and dashes,"
                                                          " not first or last")
TEAM = Regexp(r"^team-[0-9]{3,4}$", error="a team id such as team-001")
# Seed 000's ids: part of a container's name, letters, digits, _ and -, not first; never a path or a quote.
ASSIGN_ID = Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$", error="1-50 letters, digits, _ and -, a letter or digit first")
CHALLENGE_TYPES = ("web", "jwt", "crypto", "reverse", "pwn", "misc", "forensics")


class ResourcesIn(Schema):
    requests = Dict(keys=String(validate=OneOf(["cpu", "memory"])), values=Raw())
    limits = Dict(keys=String(validate=OneOf(["cpu", "memory"])), values=Raw())


class ConfigIn(Schema):
    challenge_type = String(load_default="web", validate=OneOf(CHALLENGE_TYPES))
    image = String(required=True, validate=Length(1, 200), metadata={"example": "bunkhouse/demo-challenge:latest",
                                                                    "description": "on the operator's allow-list"})
    ports = List(Integer(strict=True, validate=Range(1, 65535)), validate=Length(0, 8), load_default=None,
                 metadata={"description": "container ports to publish (default: the allow-list entry's)"})
    environment_vars = Dict(keys=String(validate=Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")),
                            values=String(validate=Length(0, 4096)), load_default=dict,
                            metadata={"description": "FLAG here asks for the team's flag in the environment"
                                                     " (its value is replaced by each team's own)"})
    resources = Nested(ResourcesIn, load_default=None)
    health_check_path = String(load_default=None, allow_none=True, validate=Regexp(r"^/[\x21-\x7e]{0,200}$"),
                               metadata={"description": "HTTP 200 here means ready; none: a TCP connect"})
    flag_format = String(load_default="CTF{}", validate=Regexp(r"^[A-Za-z0-9_\-]{0,32}\{\}$"),
                         metadata={"description": "the team's random part goes between the braces"})
    flag_in_environment = Boolean(load_default=False, metadata={"description": "also FLAG in the environment"})
    lifetime_minutes = Integer(load_default=None, allow_none=True, strict=True, validate=Range(1, 100000),
                               metadata={"description": "an instance ends this long after its start or its last "
                                                        "renewal (none: it runs until stopped)"})
    max_lifetime_minutes = Integer(load_default=None, allow_none=True, strict=True, validate=Range(1, 100000),
                                   metadata={"description": "the hard end, this long after an instance's start: no "
                                                            "renewal goes past it (default: 4 lifetimes, at most "
                                                            "BUNKHOUSE_CHALLENGE_MAX_LIFETIME)"})
    pool_min = Integer(load_default=0, strict=True, validate=Range(0, 1000),
                       metadata={"description": "instances kept started and ready for seed 000's /assign (a challenge "
                                                "with assign_id; at most BUNKHOUSE_CHALLENGE_MAX_POOL; never with the "
                                                "flag in the environment)"})


class ChallengeIn(Schema):
    name = String(required=True, validate=NAME, metadata={"example": "demo-web"})
    description = String(required=True, validate=Length(10, 500))
    config = Nested(ConfigIn, required=True)
    total_teams = Integer(required=True, strict=True, validate=Range(0, 9999),
                          metadata={"description": "teams team-001 .. team-NNN (at least 1); 0 with assign_id"})
    is_active = Boolean(load_default=True)
    assign_id = String(load_default=None, allow_none=True, validate=ASSIGN_ID,
                       metadata={"description": "seed 000's challenge_id: /assign names its teams (made ahead, so "
                                                "that it may keep a pool of ready instances)"})

    @validates_schema
    def _teams_or_assign(self, data, **_):
        if data.get("assign_id") is None and data.get("total_teams") == 0:
            raise ValidationError("at least 1 (0 only with assign_id)", field_name="total_teams")
        if data.get("assign_id") is not None and data.get("total_teams"):
            raise ValidationError("0 with assign_id: /assign names the teams", field_name="total_teams")
        if data.get("assign_id") is None and data.get("config", {}).get("pool_min"):
            raise ValidationError("a pool is for seed 000's /assign: give assign_id", field_name="config.pool_min")


class ChallengeUpdateIn(Schema):
    description = String(validate=Length(10, 500))
    total_teams = Integer(strict=True, validate=Range(1, 9999))
    is_active = Boolean()


class DeployIn(Schema):
    force_redeploy = Boolean(load_default=False)
    new_flags = Boolean(load_default=False, metadata={"description": "with force_redeploy: new flags too"})


class StopIn(Schema):
    remove_instances = Boolean(load_default=False)


class FlagIn(Schema):
    flag = String(required=True, validate=Length(1, 200))


class PageQuery(Schema):
    skip = Integer(load_default=0, validate=Range(0, 1_000_000))
    limit = Integer(load_default=100, validate=Range(1, 1000))


# ---- responses ----------------------------------------------------------------------------------

class InstanceOut(Schema):
    team_id = String()
    instance_id = String()
    public_ip = String()
    access_url = String(allow_none=True)
    ports = Dict(keys=String(), values=Integer(), metadata={"description": "container port -> published port"})
    status = String(metadata={"description": "pending, starting, running, failed, stopping or stopped"})
    error = String(allow_none=True)
    container_name = String()
    network = String()
    created_at = String()
    pooled = Boolean(metadata={"description": "a ready member of the challenge's pool, no team's yet"})
    expires_at = String(allow_none=True, metadata={"description": "when its lifetime ends (a renewal moves it); "
                                                                  "null without a lifetime"})
    ends_at = String(allow_none=True, metadata={"description": "its hard end: no renewal passes it"})
    flag = String(metadata={"description": "admins only"})


class ChallengeOut(Schema):
    id = String()
    name = String()
    description = String()
    config = Dict()
    total_teams = Integer()
    is_active = Boolean()
    status = String(metadata={"description": "pending, deploying, running, partial, failed or stopped"})
    instances = List(Nested(InstanceOut))
    created_at = String()
    updated_at = String()
    created_by = String(allow_none=True)
    assign_id = String(allow_none=True, metadata={"description": "seed 000's challenge_id, for /assign"})


class ChallengeListOut(Schema):
    challenges = List(Nested(ChallengeOut))
    total = Integer()


class StatsOut(Schema):
    total_instances = Integer()
    running_instances = Integer()
    failed_instances = Integer()
    total_teams = Integer()
    ip_allocation = Dict(keys=String(), values=String(), metadata={"description": "team -> host:port"})


class AccessOut(Schema):
    team_id = String()
    public_ip = String()
    access_url = String(allow_none=True)
    ports = List(Integer())
    status = String()
    created_at = String()
    expires_at = String(allow_none=True, metadata={"description": "when its lifetime ends (a renewal moves it); "
                                                                  "null without a lifetime"})
    ends_at = String(allow_none=True, metadata={"description": "its hard end: no renewal passes it"})


class FlagOut(Schema):
    team_id = String()
    correct = Boolean()
