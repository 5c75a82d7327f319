#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
# - Docker already runs: do nothing (exit 0 at once).
# - Debian/Ubuntu as root: install docker.io when dockerd is missing, start dockerd in the
#   background with its output in a log file, and wait until the engine answers.
# - Anything else: say what to install and how, and exit 1.
#
# Idempotent: run it as often as you like. Environment:
#   BUNKHOUSE_DOCKERD_LOG      where dockerd writes (default /var/log/bunkhouse-dockerd.log)
#   BUNKHOUSE_DOCKERD_WAIT     seconds to wait for the engine (default 60)
set -euo pipefail

log_file=${BUNKHOUSE_DOCKERD_LOG:-/var/log/bunkhouse-dockerd.log}
wait_seconds=${BUNKHOUSE_DOCKERD_WAIT:-60}

say() { printf 'ensure-docker: %s\n' "$*" >&2; }

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if engine_answers; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "the Docker engine does not answer and this is not root."
    say "Start Docker (sudo systemctl start docker) and add yourself to the docker group"
    say "(sudo usermod -aG docker \$USER, then log in again), or run this as root."
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "no dockerd here and no apt-get to install it: install Docker Engine"
        say "(https://docs.docker.com/engine/install/) and start it, then run this again."
        exit 1
    fi
    say "installing docker.io from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    # A stale or missing package list makes the install fail; refresh it once.
    apt-get update -qq
    # policy-rc.d keeps the package's maintainer scripts from trying to start a service
    # manager that a container or CI machine may not have; we start dockerd ourselves below.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    [ "$created_policy" = 1 ] && rm -f "$policy"
fi

# A service manager that works is the better owner of dockerd; try it first.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl start docker >/dev/null 2>&1 || true
fi

start_dockerd() {
    say "starting dockerd in the background (log: $log_file)"
    mkdir -p "$(dirname "$log_file")"
    # A pid file left by a dockerd that died would stop the new one from starting.
    rm -f /var/run/docker.pid
    setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
}

if ! engine_answers && ! pgrep -x dockerd >/dev/null 2>&1; then
    start_dockerd
fi

for _ in $(seq "$wait_seconds"); do
    if engine_answers; then
        say "Docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
        exit 0
    fi
    # A dockerd that was still shutting down when we looked (it no longer answered but had not
    # exited) is gone now: start a new one.
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        start_dockerd
    fi
    sleep 1
done

say "the Docker engine did not answer within ${wait_seconds}s; last lines of $log_file:"
tail -n 20 "$log_file" >&2 || true
exit 1
