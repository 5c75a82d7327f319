"""The HTTP shell: access checks (deny by default), the JSON error handlers, the access log,
the rate limit, /healthz, the docs, and the routes of the lower layers (users and tokens, the
event log, the fleet's nodes). Products register their own blueprints beside these."""
