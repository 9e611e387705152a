#!/usr/bin/env bash
# Install the Debian/Ubuntu packages that zmq-auth needs to build, test and run its
# examples. Idempotent: every package is checked with `dpkg -s` and only the missing
# ones are installed; `apt-get update` runs once, and only when something is missing.
#
# Runs as root (apt-get directly) or as a user with sudo (sudo apt-get). It cannot
# install Rust: `cargo` must already be on PATH.
#
# Usage: bash scripts/install-deps.sh
set -euo pipefail

# System libzmq (with CURVE and GSSAPI) + pkg-config to build; an MIT KDC and its
# tools for the GSSAPI tests; CZMQ for the interoperability tests; a C++ compiler for
# libFuzzer (`make fuzz-check`); PostgreSQL for the credential-store tests (the tests
# start their own throwaway server; nothing is configured system-wide), and PgBouncer
# for the store tests behind a pooler (session and transaction pooling).
PACKAGES=(libzmq3-dev pkg-config krb5-kdc krb5-admin-server krb5-user libczmq-dev g++ postgresql pgbouncer)
# Rust versions below this are known not to build the locked dependencies.
MIN_RUST_MINOR=88

say() { echo "install-deps: $*"; }
warn() { echo "install-deps: warning: $*" >&2; }
die() {
    echo "install-deps: error: $*" >&2
    exit 1
}

# --- Rust ------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ]; then
        die "cargo is installed in $HOME/.cargo/bin but that folder is not on PATH.
Run:   . \"\$HOME/.cargo/env\"   (or add \$HOME/.cargo/bin to PATH) and try again."
    fi
    die "cargo (the Rust toolchain) was not found on PATH, and this script cannot install it.
Install a stable Rust 1.$MIN_RUST_MINOR or newer with rustup (https://rustup.rs), make sure
'cargo' is on PATH, then try again. (The 'cargo' package of Debian 12 is too old.)"
fi
rust_minor=$(cargo --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9][0-9]*\)\..*/\1/p')
if [ -n "$rust_minor" ] && [ "$rust_minor" -lt "$MIN_RUST_MINOR" ]; then
    warn "$(cargo --version) is older than 1.$MIN_RUST_MINOR; the build will probably fail (rustup update stable)."
fi

# --- what is missing -------------------------------------------------------------
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    die "this script supports Debian/Ubuntu (dpkg + apt-get) only. Install by hand:
    ${PACKAGES[*]} python3-venv
(libzmq >= 4.3 with CURVE, pkg-config, an MIT Kerberos KDC, CZMQ)."
fi

is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

# A Python virtualenv needs the venv module and ensurepip; Debian's system python3
# ships ensurepip only in python3-venv (pyenv builds include it).
venv_works() {
    local dir rc=0
    dir=$(mktemp -d) || return 1
    python3 -m venv --without-pip "$dir/venv" >/dev/null 2>&1 &&
        python3 -c 'import ensurepip' >/dev/null 2>&1 || rc=1
    rm -rf "$dir"
    return "$rc"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
venv_note="python3 -m venv works"
if ! command -v python3 >/dev/null 2>&1; then
    venv_note="python3 is not on PATH"
    for pkg in python3 python3-venv; do
        is_installed "$pkg" || missing+=("$pkg")
    done
elif ! venv_works; then
    if is_installed python3-venv; then
        # Nothing apt can fix (e.g. a pyenv Python built without ensurepip).
        venv_note="python3 -m venv does NOT work"
        warn "'python3 -m venv' fails with $(command -v python3) although python3-venv is installed; tests that need a Python virtualenv will fail."
    else
        missing+=(python3-venv)
    fi
fi

if [ "${#missing[@]}" -eq 0 ]; then
    say "all system packages are present (${PACKAGES[*]}; $venv_note)"
    exit 0
fi

# --- install ---------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    die "missing packages: ${missing[*]}
You are not root and sudo is not installed, so they cannot be installed from here.
As root, run:
    apt-get update && apt-get install -y ${missing[*]}
then try again."
fi

say "missing packages: ${missing[*]}"
if [ "${#as_root[@]}" -gt 0 ]; then
    say "installing them with sudo (you may be asked for your password)"
fi
# `sudo env VAR=...` because sudo resets the environment by default.
run_apt() {
    ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get "$@"
}
run_apt update -q || die "apt-get update failed (see above)"
run_apt install -y -q "${missing[@]}" || die "apt-get install failed for: ${missing[*]}"

# --- check -----------------------------------------------------------------------
still=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
done
[ "${#still[@]}" -eq 0 ] || die "still not installed after apt-get: ${still[*]}"
if command -v python3 >/dev/null 2>&1 && ! venv_works; then
    warn "'python3 -m venv' still fails with $(command -v python3); tests that need a Python virtualenv will fail."
fi
say "installed: ${missing[*]}"
