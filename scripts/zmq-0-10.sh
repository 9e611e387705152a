#!/usr/bin/env bash
# The rust-zmq 0.10 pass (`make test-zmq-0-10`, run by `make test` and .ci/run).
#
# One build holds exactly one zmq-sys (both say `links = "zmq"`), and Cargo resolves a
# package's lock file with all its optional dependencies, so this repository's own
# manifest (which pins 0.9 through feature `zmq-0-9`) cannot build the crate on 0.10.
# This script:
#   1. copies the tracked sources to target/zmq-0-10/tree and deletes the one pin line
#      from the copy's Cargo.toml (default feature `zmq-0-10`), then runs the crate's own
#      unit tests and its socket-level integration tests there on rust-zmq 0.10;
#   2. runs tests/downstream, a separate crate with `zmq = "0.10"` and
#      `zmq-auth = { path, default-features = false, features = ["zmq-0-10"] }`: its
#      PLAIN/CURVE tests and the tokio (tmq) example.
#   3. runs tests/downstream's tests once more without the override: zmq 0.10 builds
#      its own libzmq (about a minute), PLAIN works, the CURVE test skips (no CURVE).
# 1 and 2 use the Cargo `links` override (tests/downstream/.cargo/config.toml) so that
# zmq-sys 0.12 links the system libzmq (with CURVE and GSSAPI) instead of building its
# own; ZMQ_AUTH_REQUIRE_CURVE=1 makes a missing CURVE a failure there, not a skip.
# Everything builds in target/zmq-0-10/, apart from the main build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
CARGO="${CARGO:-cargo}"
base="$root/target/zmq-0-10"
tree="$base/tree"
# Integration tests that drive real sockets through the binding; the policy-only ones
# gain nothing from a second binding.
tests="${ZMQ_0_10_TESTS:-thread_curve thread_plain thread_null thread_lifecycle require_zap certs gssapi}"
features="${ZMQ_0_10_FEATURES:-cli,sqlite,postgres,metrics}"

echo "==> rust-zmq 0.10 pass: copying the sources to $tree"
rm -rf "$tree"
mkdir -p "$tree/.cargo"
# Tracked and new (not ignored) files, with their modification times.
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$tree"
cp "$root/Cargo.lock" "$tree/Cargo.lock"
pin='^zmq-sys-0-11-pin = '
grep -q "$pin" "$tree/Cargo.toml" || {
    echo "zmq-0-10.sh: Cargo.toml has no '$pin' line to delete" >&2
    exit 1
}
sed -i -e "/$pin/d" \
    -e 's/^zmq-0-9 = \["dep:zmq-sys-0-11-pin"\]/zmq-0-9 = []/' \
    -e 's/^default = \["zmq-0-9"\]/default = ["zmq-0-10"]/' "$tree/Cargo.toml"
cp tests/downstream/.cargo/config.toml "$tree/.cargo/config.toml"

export ZMQ_AUTH_REQUIRE_CURVE=1
(
    cd "$tree"
    export CARGO_TARGET_DIR="$base/build"
    "$CARGO" update --quiet -p zmq@0.9.2 --precise 0.10.0
    "$CARGO" tree -e normal -i zmq-sys | head -n 1 | grep -q 'zmq-sys v0.12' || {
        echo "zmq-0-10.sh: the copy did not resolve zmq-sys 0.12" >&2
        exit 1
    }
    args=(--lib)
    for t in $tests; do args+=(--test "$t"); done
    echo "==> cargo test --features $features ${args[*]} (rust-zmq 0.10, system libzmq)"
    "$CARGO" test --features "$features" "${args[@]}"
)

echo "==> tests/downstream: a crate on zmq 0.10 (PLAIN, CURVE, the tokio example)"
(
    cd tests/downstream
    export CARGO_TARGET_DIR="$base/downstream"
    "$CARGO" test
    timeout -k 10 "${EXAMPLE_TIMEOUT:-300}" "$CARGO" run --quiet --example tokio_server
)

# From the repository root, so that tests/downstream/.cargo/config.toml (found from the
# current directory, not the manifest) does not apply.
echo "==> tests/downstream without the links override (zmq 0.10's own libzmq, no CURVE)"
ZMQ_AUTH_REQUIRE_CURVE=0 CARGO_TARGET_DIR="$base/vendored" \
    "$CARGO" test --manifest-path tests/downstream/Cargo.toml --test zmq_0_10
