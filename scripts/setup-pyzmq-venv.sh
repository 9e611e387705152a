#!/usr/bin/env bash
# Create (or repair) the Python virtualenv `.venv` in the repository root with a pinned
# pyzmq from PyPI, for the interoperability tests (tests/interop_pyzmq.rs). pyzmq's
# wheel bundles its own libzmq (4.3.5, with CURVE), so the Python peer does not share
# the system libzmq the Rust side links.
#
# Idempotent: when .venv already has the pinned pyzmq this only checks it (well under a
# second); a broken .venv (e.g. its Python was removed) is rebuilt. Needs `python3` with
# the venv module (Debian: python3-venv, installed by scripts/install-deps.sh) and
# network access to PyPI the first time.
#
# Usage: bash scripts/setup-pyzmq-venv.sh
# Environment: PYTHON (the interpreter that creates the venv, default python3),
#              PYZMQ_VERSION (default below; the tests were checked with it).
set -euo pipefail

PYZMQ_VERSION="${PYZMQ_VERSION:-27.3.0}"
PYTHON="${PYTHON:-python3}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="$PWD/.venv"
VPY="$VENV/bin/python"

say() { echo "setup-pyzmq-venv: $*"; }
die() {
    echo "setup-pyzmq-venv: error: $*" >&2
    exit 1
}

# Prints "pyzmq X (libzmq Y, curve True)" and succeeds only for the pinned version
# with CURVE.
check() {
    "$VPY" - "$PYZMQ_VERSION" <<'EOF'
import sys
import zmq
want = sys.argv[1]
curve = bool(zmq.has("curve"))
print(f"pyzmq {zmq.__version__} (bundled libzmq {zmq.zmq_version()}, curve {curve})")
sys.exit(0 if zmq.__version__ == want and curve else 1)
EOF
}

if [ -x "$VPY" ] && status=$(check 2>/dev/null); then
    say "$VENV is ready: $status"
    exit 0
fi

if [ -e "$VENV" ] && ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
    say "$VENV is broken (its Python does not run); recreating it"
    rm -rf -- "$VENV"
fi

if [ ! -x "$VPY" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "'$PYTHON' not found. Install Python 3 with the venv module (Debian: apt-get install python3 python3-venv) or set PYTHON."
    say "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV" ||
        die "'$PYTHON -m venv' failed. On Debian/Ubuntu: apt-get install python3-venv (scripts/install-deps.sh does it)."
fi

say "installing pyzmq==$PYZMQ_VERSION from PyPI"
# --only-binary: a wheel bundles libzmq with CURVE; never fall back to a source build,
# which would need a compiler toolchain and might link a libzmq without CURVE.
"$VPY" -m pip install --disable-pip-version-check --no-input --quiet \
    --only-binary=pyzmq "pyzmq==$PYZMQ_VERSION" ||
    die "pip could not install pyzmq==$PYZMQ_VERSION (a wheel for $("$VPY" --version 2>&1) on $(uname -m) is needed; is PyPI reachable?)"

status=$(check) || die "after installing, $VPY reports: $status (want pyzmq $PYZMQ_VERSION with CURVE)"
say "$VENV is ready: $status"
