"""What the tests share: fakes of the runner and the engine (fakes.py), waiting (waiting.py),
one way to call the API, in-process or over HTTP (api.py), one running-service factory
(service.py), and real nodes (nodes.py)."""
