"""The access log rebuilds the query from the parsed query and masks every secret key, judged
by its decoded name: `pass%77ord=` is a password, whatever its case or encoding."""

from __future__ import annotations

import logging

import pytest
from werkzeug.datastructures import MultiDict

from bunkhouse.web.access_log import redact_query

SECRET = "Sup3r-Secret"


def logged_line(client, caplog, url: str) -> str:
    caplog.set_level(logging.INFO, logger="bunkhouse.access")
    client.get(url)
    return "\n".join(record.getMessage() for record in caplog.records if record.name == "bunkhouse.access")


@pytest.mark.parametrize("key", [
    "pass%77ord",  # password, encoded
    "PASSWORD", "Passwd", "pass", "my_pass", "token", "api%5Ftoken", "Secret", "client_secret", "key", "apiKey",
    "%70assword",
])
def test_a_secret_key_is_masked_however_it_is_written(client, caplog, key):
    logged = logged_line(client, caplog, f"/api/v1/reservations?{key}={SECRET}&limit=5")
    assert SECRET not in logged
    assert "[REDACTED]" in logged and "limit=5" in logged


def test_every_value_of_a_repeated_secret_key_is_masked(client, caplog):
    logged = logged_line(client, caplog, f"/api/v1/reservations?token=a-{SECRET}&token=b-{SECRET}&all=1")
    assert SECRET not in logged
    assert "token=[REDACTED]&token=[REDACTED]&all=1" in logged


def test_the_raw_query_string_is_never_logged(client, caplog):
    # An encoded value of an ordinary key is logged as the application read it, re-encoded.
    logged = logged_line(client, caplog, "/api/v1/reservations?username=al%69ce&%70%61%73%73=" + SECRET)
    assert SECRET not in logged and "%69" not in logged
    assert "username=alice&pass=[REDACTED]" in logged


def test_redact_query_keeps_ordinary_values():
    assert redact_query(MultiDict([("username", "alice"), ("count", "2"), ("Password", "x")])) == (
        "username=alice&count=2&Password=[REDACTED]")
    assert redact_query(MultiDict()) == ""
