"""The demo challenge's request body, for the unit tests of challenges (fake runner)."""

from __future__ import annotations

DEMO = "bunkhouse/demo-challenge:latest"


def challenge_body(**overrides) -> dict:
    """Seed 003's create body for the demo image, with `config` keys and top-level fields overridden."""
    config = {"challenge_type": "web", "image": DEMO, "ports": [8080],
              "environment_vars": {"SECRET_KEY": "challenge-secret-key-123", "FLAG": "CTF{the_same_for_all}"},
              "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "512Mi"}},
              "health_check_path": "/health", "flag_format": "CTF{}"}
    config.update(overrides.pop("config", {}))
    return {"name": "demo-web", "description": "The demo challenge for the unit tests", "config": config,
            "total_teams": 3, "is_active": True, **overrides}


def deployed(api, challenges, **overrides) -> dict:
    """A challenge made and deployed (the fake runner's instances all run), as its GET answers."""
    created = api.post("/api/v1/challenges/", challenge_body(**overrides))
    assert created.status == 201, created.body
    answer = api.post(f"/api/v1/challenges/{created.body['id']}/deploy", {"force_redeploy": False})
    assert answer.status == 202, answer.body
    assert challenges.deployer.idle(10)
    return api.get(f"/api/v1/challenges/{created.body['id']}").body
