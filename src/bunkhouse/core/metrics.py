"""The Prometheus metrics of bunkhouse, defined once (JupyterHub's conventions: base units,
`*_duration_seconds` histograms with a `status` label, `_total` counters, the label values a
dashboard needs created up front so their series exist before the first event). Every layer
observes here; web/metrics.py serves them, with the gauges read from the database at scrape
time (containers by pool and state, build info).

Under gunicorn the metrics are in prometheus_client's multiprocess mode (gunicorn.conf.py sets
PROMETHEUS_MULTIPROC_DIR before the workers start): each worker writes its own files and a
scrape adds them up, so any worker's answer counts all of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Seconds: from a few milliseconds (an HTTP read, a claim of a ready member) to minutes (an
# Ansible run that provisions a pool).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

SUCCESS, FAILURE = "success", "failure"
# What a claim hands out, and how warm what it claims was.
CLAIM_KINDS = ("reservation", "profile")
LAUNCHES = ("hot", "warm", "cold")
# What a start makes: an SSH node (created or recreated) or a named container.
START_KINDS = ("node", "named")
RUN_STATUSES = ("successful", "failed", "timeout", "canceled")

HTTP_REQUEST_DURATION = Histogram(
    "bunkhouse_http_request_duration_seconds", "Time to answer an HTTP request, by method, route and status code",
    ["method", "route", "code"], buckets=BUCKETS)
ANSIBLE_RUN_DURATION = Histogram(
    "bunkhouse_ansible_run_duration_seconds", "Time of an Ansible run, by playbook and status",
    ["playbook", "status"], buckets=BUCKETS)
START_DURATION = Histogram(
    "bunkhouse_container_start_duration_seconds",
    "Time to make a container ready (node: created or recreated; named: started from stopped (warm) or created (cold))",
    ["kind", "launch", "status"], buckets=BUCKETS)
CLAIM_DURATION = Histogram(
    "bunkhouse_claim_duration_seconds",
    "Time of a claim request (a reservation until its accounts are made; a profile prepare until it answers),"
    " by what the claimed members were: hot (running), warm (stopped) or cold (absent)",
    ["kind", "launch", "status"], buckets=BUCKETS)
EXPIRY_LAG = Histogram(
    "bunkhouse_expiry_lag_seconds", "Time from a lease's end until what it held is let go", ["kind"], buckets=BUCKETS)
CONTAINER_CHANGES = Counter(
    "bunkhouse_container_changes_total", "Changes of named containers, by change and status",
    ["change", "status"])

for _kind in CLAIM_KINDS:
    for _launch in LAUNCHES:
        for _status in (SUCCESS, FAILURE):
            CLAIM_DURATION.labels(_kind, _launch, _status)
for _kind in START_KINDS:
    for _launch in ("warm", "cold"):
        for _status in (SUCCESS, FAILURE):
            START_DURATION.labels(_kind, _launch, _status)
for _change in ("started", "recreated", "stopped", "absent"):
    for _status in (SUCCESS, FAILURE):
        CONTAINER_CHANGES.labels(_change, _status)
for _kind in CLAIM_KINDS:
    EXPIRY_LAG.labels(_kind)


def known_playbooks(names) -> None:
    """Create the run series of these playbooks up front (the runner knows its playbooks)."""
    for name in names:
        for status in RUN_STATUSES:
            ANSIBLE_RUN_DURATION.labels(name, status)
