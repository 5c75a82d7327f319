# bunkhouse: every task of the project. Without `just` installed, use ./just (it bootstraps it).
# Recipes install and start what they need themselves: the virtualenv, the Docker engine, the
# node image.

set shell := ["bash", "-euo", "pipefail", "-c"]

root := justfile_directory()
export PATH := root / ".venv/bin" + ":" + env_var("PATH")
export ANSIBLE_CONFIG := root / "ansible.cfg"
# Docker's CLI and Molecule print colours only to a terminal; keep CI logs readable.
export ANSIBLE_FORCE_COLOR := "0"
export PY_COLORS := "0"

# List the recipes.
default:
    @just --list --unsorted

# One gunicorn worker serves with 64 threads; it becomes the primary (the jobs and every
# Ansible run) and provisions its pool in the background while it already answers. SIGTERM
# (Ctrl-C) stops it within seconds: gunicorn's graceful timeout is 4 s, bunkhouse ends its
# runs at once. More workers (or processes) on the same database serve as secondaries.

# Set up everything, provision the pool (10 nodes) and serve bunkhouse on port 8080.
[group('serve')]
run: image
    gunicorn --chdir src --workers 1 --threads 64 --timeout 600 --graceful-timeout 4 \
        --bind "${BUNKHOUSE_HOST:-127.0.0.1}:${BUNKHOUSE_PORT:-8080}" api:app

# Upgrade the database schema to the newest migration (the service does it on start).
[group('serve')]
migrate: setup
    PYTHONPATH=src python -m bunkhouse.cli migrate

# API users and tokens, e.g. ./just admin users add alice; ./just admin tokens create alice
[group('serve')]
[positional-arguments]
admin +args: setup
    PYTHONPATH=src python -m bunkhouse.cli "$@"

# Set up everything and run every test: unit, integration, Molecule and lint.
[group('test')]
test: image
    #!/usr/bin/env bash
    set -uo pipefail
    failed=""
    # The service tests run on SQLite and, with this set, on PostgreSQL too.
    BUNKHOUSE_TEST_POSTGRES_URL=$(scripts/ensure-postgres.sh) || failed="$failed postgres"
    export BUNKHOUSE_TEST_POSTGRES_URL
    pytest tests || failed="$failed pytest"
    just molecule || failed="$failed molecule"
    just lint || failed="$failed lint"
    if [ -n "$failed" ]; then echo "FAILED:$failed" >&2; exit 1; fi
    echo "all tests passed: pytest, molecule, lint"

# Unit tests only: fast, no Docker (add PostgreSQL with BUNKHOUSE_TEST_POSTGRES_URL=$(scripts/ensure-postgres.sh)).
[group('test')]
test-unit: setup
    pytest tests/unit

# Integration tests: real pools on the local Docker engine, real SSH logins, the real service.
[group('test')]
test-integration: image
    pytest tests/integration

# Run the Molecule scenario of one role (molecule node_account), or of every role.
[group('test')]
molecule role="": image
    #!/usr/bin/env bash
    set -uo pipefail
    roles="{{ role }}"
    [ -n "$roles" ] || roles=$(cd roles && ls -d */ | tr -d /)
    failed=""
    for role in $roles; do
        echo "=== molecule test: $role"
        (cd "roles/$role" && molecule test) || failed="$failed $role"
    done
    if [ -n "$failed" ]; then echo "molecule failed for:$failed" >&2; exit 1; fi
    echo "molecule passed for: $(echo $roles)"

# Lint the playbooks and roles (ansible-lint) and the Python code (ruff).
[group('test')]
lint: setup
    ansible-lint playbooks roles
    ruff check src tests bench plugins roles

# Install the pinned Python packages into .venv (skipped when requirements.txt is unchanged).
[group('set-up')]
setup:
    scripts/setup-venv.sh

# Make sure a Docker engine answers (installs and starts docker.io on Debian/Ubuntu as root).
[group('set-up')]
engine:
    scripts/ensure-docker.sh

# Build the node image when it is missing or images/node changed (offline: debootstrap base).
[group('set-up')]
image: setup engine
    ansible-playbook playbooks/pool_image.yml

# Build the node image and start COUNT nodes of the default pool (idempotent).
[group('pool')]
provision count="10": setup engine
    [[ "{{ count }}" =~ ^[0-9]+$ ]] || { echo "count must be a number, got '{{ count }}'" >&2; exit 2; }
    ansible-playbook playbooks/pool_provision.yml -e '{"pool_node_count": {{ count }}}'

# Remove every node of the default pool (whoever is logged in to them loses their work).
[group('pool')]
[confirm("Remove every node of the default pool, and whatever is on them?")]
unprovision: setup engine
    ansible-playbook playbooks/pool_remove.yml

# Check every node: container running, sshd answering, Ansible working inside.
[group('pool')]
check: setup engine
    ansible-playbook playbooks/pool_check.yml

# Storms of 10 and 50, batching off, 2-node latency, release, expiry lag, memory; prints a
# table and writes bench/results/service.json. About 6 minutes. Then the profiles' and the challenges' figures.

# Measure the service under load and the profiles (see README, Performance).
[group('bench')]
bench: image
    python bench/service.py
    python bench/profiles.py
    python bench/challenges.py

# Deploy of the demo challenge for 10, 50 and 100 teams, /assign and /remove; writes bench/results/challenges.json.
[group('bench')]
bench-challenges: image
    python bench/challenges.py

# Prepare of ready, warm and cold profiles, and a 1-node reservation; writes bench/results/profiles.json.
[group('bench')]
bench-profiles: image
    python bench/profiles.py

# Measure provisioning: a pool of COUNT nodes from scratch, again, and its removal.
[group('bench')]
bench-provision count="10": image
    python bench/provision.py --count {{ count }} --rounds 3 --json bench/results/provision.json

# Remove the pool, the run artifacts, the database and the virtualenv (the node image stays).
[group('set-up')]
[confirm("Remove the pool, the database (users, tokens, reservations) and the virtualenv?")]
clean:
    if [ -x .venv/bin/ansible-playbook ] && docker info >/dev/null 2>&1; then ansible-playbook playbooks/pool_remove.yml; fi
    rm -rf instance .pytest_cache .ruff_cache .venv
