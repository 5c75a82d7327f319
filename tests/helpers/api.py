"""One way to call the API for every test: in-process through Flask's test client, or over
real HTTP to a running service. Both answer Answer(status, body, headers)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, NamedTuple


class Answer(NamedTuple):
    status: int
    body: Any
    headers: dict

    @property
    def error(self) -> dict:
        return (self.body or {}).get("error", {})


class Api:
    """The API of an app (a Flask test client) or of a service at a URL, with an optional token."""

    def __init__(self, target, token: str | None = None):
        self.target = target
        self.token = token

    def as_(self, token: str | None) -> Api:
        """The same API, called with another token."""
        return Api(self.target, token)

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 180) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if isinstance(self.target, str):
            return _over_http(self.target, method, path, body, headers, timeout)
        response = self.target.open(path, method=method, json=body, headers=headers)
        return Answer(response.status_code, response.get_json(silent=True), dict(response.headers))

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Answer:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any = None) -> Answer:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Answer:
        return self.request("DELETE", path)


def _over_http(base: str, method: str, path: str, body: Any, headers: dict, timeout: float) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers = {**headers, "Content-Type": "application/json"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, json.loads(response.read() or b"null"), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read() or b"null"), dict(error.headers))


def reserve(api: Api, username: str = "alice", password: str = "alice-pw", count: int | None = 1,
            duration: int | None = 30, timeout: float = 180, **more) -> Answer:
    """POST /api/v1/reservations; a field given as None is left out (its default applies)."""
    body = {"username": username, "password": password, "count": count, "duration_minutes": duration, **more}
    return api.request("POST", "/api/v1/reservations", {key: value for key, value in body.items() if value is not None},
                       timeout=timeout)


def make_user(api: Api, name: str, **fields) -> str:
    """A new API user (the api's token must be an admin's) and a token for them."""
    created = api.post("/api/v1/users", {"name": name, **fields})
    assert created.status == 201, created.body
    made = api.post(f"/api/v1/users/{name}/tokens", {"label": "test"})
    assert made.status == 201, made.body
    return made.body["token"]


def token_id(token: str) -> str:
    """The public part of a token bkh_<id>_<secret> (the secret may hold '_' itself)."""
    return token.split("_", 2)[1]


def token_secret(token: str) -> str:
    return token.split("_", 2)[2]
