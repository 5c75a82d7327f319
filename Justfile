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

# One gunicorn worker: the one process that runs the scheduler and the account batcher;
# threads serve the requests. The service provisions its pool (BUNKHOUSE_POOL_SIZE) at start.

# Set up everything, provision the pool (10 nodes) and serve bunkhouse on port 8080.
run: image
    gunicorn --chdir src --workers 1 --threads 64 --timeout 600 --graceful-timeout 30 \
        --bind "${BUNKHOUSE_HOST:-127.0.0.1}:${BUNKHOUSE_PORT:-8080}" api:app

# Runs them all and fails if any failed.

# Set up everything and run every test: unit, integration, Molecule and lint.
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
test-unit: setup
    pytest tests/unit

# Integration tests: a real pool on the local Docker engine, real SSH logins.
test-integration: image
    pytest tests/integration

# Run the Molecule scenario of one role (molecule node_account), or of every role.
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

# Install the pinned Python packages into .venv (skipped when requirements.txt is unchanged).
setup:
    scripts/setup-venv.sh

# Make sure a Docker engine answers (installs and starts docker.io on Debian/Ubuntu as root).
engine:
    scripts/ensure-docker.sh

# Build the node image when it is missing or images/node changed (offline: debootstrap base).
image: setup engine
    ansible-playbook playbooks/image.yml

# Build the node image and start COUNT nodes of the default pool (idempotent).
provision count="10": setup engine
    [[ "{{ count }}" =~ ^[0-9]+$ ]] || { echo "count must be a number, got '{{ count }}'" >&2; exit 2; }
    ansible-playbook playbooks/provision.yml -e '{"pool_node_count": {{ count }}}'

# Remove every node of the default pool.
unprovision: setup engine
    ansible-playbook playbooks/unprovision.yml

# Check every node: container running, sshd answering, Ansible working inside.
health: setup engine
    ansible-playbook playbooks/health.yml

# API users and tokens, e.g. ./just admin users add alice; ./just admin tokens create alice
[positional-arguments]
admin +args: setup
    PYTHONPATH=src python -m bunkhouse.cli "$@"

# Measure provisioning: a pool of COUNT nodes from scratch, again, and its removal.
bench-provision count="10": image
    python bench/provision.py --count {{ count }} --rounds 3 --json bench/results/provision.json

# Storms of 10 and 50, batching off, 2-node latency, release, expiry lag, memory; prints a
# table and writes bench/results/service.json. About 6 minutes.

# Measure the service under load (see README, Performance).
bench: image
    python bench/service.py

# Lint the playbooks and roles (ansible-lint) and the Python code (ruff).
lint: setup
    ansible-lint playbooks roles
    ruff check src tests bench playbooks

# Remove the pool, the run artifacts and the virtualenv (the node image stays).
clean:
    if [ -x .venv/bin/ansible-playbook ] && docker info >/dev/null 2>&1; then ansible-playbook playbooks/unprovision.yml; fi
    rm -rf instance .pytest_cache .ruff_cache .venv
