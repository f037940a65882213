#!/usr/bin/env bash
# Sets up reglab on a fresh Linux machine; used by `make run` and `make test`.
#
#   scripts/setup.sh [EXTRAS]      e.g. scripts/setup.sh dev
#
# 1. creates the virtual environment $VENV (default .venv) if it is missing;
# 2. installs torch==$TORCH_VERSION first, so that nothing pulls a CUDA build,
#    then reglab itself (editable) with the extras asked for;
# 3. with the ray extra, makes sure `ip` (iproute2) is there for the Ray tests;
# 4. makes sure Fashion-MNIST is available: Debian's dataset-fashion-mnist
#    package where apt is present and we are root, else reglab's checked
#    download into the user cache; then verifies the files' SHA-256.
# Steps 1-2 are skipped when nothing changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${1:-}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

say() { printf '[setup] %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

make_venv() {
    if "$PYTHON" -m venv "$VENV" 2>/dev/null; then return 0; fi
    # Debian's python3 ships venv separately.
    rm -rf "$VENV"
    if command -v apt-get >/dev/null; then
        say "python3 -m venv failed; installing python3-venv with apt"
        as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$VENV" && return 0
    fi
    echo "error: could not create a virtual environment with '$PYTHON -m venv'; install your distribution's venv package (e.g. python3-venv) and run again" >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    make_venv
fi
PY="$VENV/bin/python"

# timm requires torchvision, which has no build for a CPU-only torch (pip would replace torch
# with a CUDA build to satisfy it): the `timm` extra is installed on its own, without dependencies
# (the tests use only its layers, which need torch alone).
pip_extras="$(printf ',%s,' "$EXTRAS" | sed 's/,timm,/,/g; s/^,*//; s/,*$//')"
spec=".[${pip_extras}]"; [ -n "$pip_extras" ] || spec="."
stamp="$VENV/.reglab-installed"
want="torch=$TORCH_VERSION extras=$EXTRAS $(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
    say "installing torch==$TORCH_VERSION, then reglab $spec"
    "$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$PY" -m pip install -q "torch==$TORCH_VERSION"
    "$PY" -m pip install -q -e "$spec"
    case ",$EXTRAS," in *,timm,*) "$PY" -m pip install -q --no-deps "timm>=1.0" ;; esac
    # Record every extra installed so far: a later `make run` must not forget `dev`.
    { [ -f "$stamp" ] && cat "$stamp"; echo "$want"; } | sort -u > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
fi

# The Ray tests run in a network namespace with only loopback, which `ip`
# (iproute2) brings up; without it they skip.
if [[ ",$EXTRAS," == *",ray,"* ]] && ! command -v ip >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "installing iproute2 (ip) for the Ray tests' loopback-only network namespace"
    { apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; } || say "apt could not install iproute2; the Ray tests will skip"
fi

if ! "$PY" -m reglab data where >/dev/null 2>&1; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing Debian's dataset-fashion-mnist"
        if ! { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
            say "apt could not install it; falling back to the checked download"
        fi
    fi
fi
# Finds the files (downloading them if still missing) and verifies their SHA-256.
"$PY" -m reglab data verify
