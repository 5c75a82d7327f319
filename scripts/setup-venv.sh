#!/usr/bin/env bash
# Make .venv and install requirements.txt into it; skipped when requirements.txt has not
# changed since the last successful install. Idempotent.
#
#   scripts/setup-venv.sh            everything in requirements.txt
#   scripts/setup-venv.sh --just     only the pinned rust-just (what ./just needs to start)
#
# Environment: PYTHON (default python3; must be 3.11 or newer), BUNKHOUSE_VENV (default .venv).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BUNKHOUSE_VENV:-$root/.venv}
python=${PYTHON:-python3}
requirements=$root/requirements.txt

say() { printf 'setup-venv: %s\n' "$*" >&2; }

if ! command -v "$python" >/dev/null 2>&1; then
    say "$python not found: install Python 3.11 or newer (apt-get install python3 python3-venv)."
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "$("$python" --version 2>&1) is too old: bunkhouse needs Python 3.11 or newer (set PYTHON=...)."
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        # Debian and Ubuntu ship venv's pip bootstrap in a separate package.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing python3-venv"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            rm -rf "$venv"
            "$python" -m venv "$venv"
        else
            say "cannot create a virtualenv: install python3-venv (sudo apt-get install python3-venv)."
            exit 1
        fi
    fi
    "$venv/bin/python" -m pip install -q --upgrade pip
fi

if [ "${1:-}" = "--just" ]; then
    if [ ! -x "$venv/bin/just" ]; then
        pin=$(grep -E '^rust-just==' "$requirements")
        "$venv/bin/python" -m pip install -q "$pin"
    fi
    exit 0
fi

stamp=$venv/.requirements.sha256
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    say "installing requirements.txt into $venv"
    "$venv/bin/python" -m pip install -q -r "$requirements"
    echo "$wanted" > "$stamp"
fi
