#!/usr/bin/env bash
# zmq-auth side by side with CZMQ's zauth and pyzmq's ThreadAuthenticator (issue #8):
# the same ZAP load (a DEALER on inproc://zeromq.zap.01 in the handler's context, 100
# requests in flight, the same request frames) and the same certificate directory.
#
# Usage: benches/compare_peers.sh [--quick]
#
#   1. runs `cargo bench --bench auth` (all of ours, with its floors), which also writes
#      the certificate directory (10,000 pyzmq-format *.key files; 1,000 with --quick);
#   2. builds benches/peers/czmq_zauth.c against Debian's libczmq-dev and runs it;
#   3. installs pyzmq 27 from PyPI into a venv ($PEERS_VENV, default
#      target/peers-venv) and runs benches/peers/pyzmq_auth.py;
#   4. prints one table: floor, zmq-auth, CZMQ, pyzmq (medians of the rounds).
#
# Needs cargo, cc, libczmq-dev (scripts/install-deps.sh installs it), python3 with venv,
# and network access to PyPI the first time. Takes about 4 minutes (1 with --quick).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=""
rounds=3
c_req=200000 c_warm=20000 c_curve_req=5000 c_curve_warm=20
py_req=20000 py_warm=1000
if [ "${1:-}" = "--quick" ]; then
    quick="--quick"
    rounds=1
    c_req=20000 c_warm=2000 c_curve_req=500 c_curve_warm=10
    py_req=2000 py_warm=200
elif [ -n "${1:-}" ]; then
    echo "usage: $0 [--quick]" >&2
    exit 2
fi
inflight=100

work=$(mktemp -d "${TMPDIR:-/tmp}/zmq-auth-peers.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv=${PEERS_VENV:-target/peers-venv}

echo "==> pyzmq 27 in $venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet 'pyzmq==27.*'
pyver=$("$venv/bin/python" -c 'import zmq; print(zmq.__version__, "(libzmq", zmq.zmq_version() + ")")')

echo "==> CZMQ program (benches/peers/czmq_zauth.c)"
cc -O2 -o "$work/czmq_zauth" benches/peers/czmq_zauth.c -lczmq -lzmq -lpthread
czver=$(dpkg-query -W -f '${Version}' libczmq-dev 2>/dev/null || echo "?")

echo "==> zmq-auth: cargo bench --bench auth -- $quick"
cargo bench --bench auth -- $quick --cert-dir "$work/certs" --summary "$work/ours.txt"
certs="$work/certs"
ncerts=$(find "$certs" -maxdepth 1 -name '*.key' | wc -l)

: >"$work/peers.txt"
for r in $(seq 1 "$rounds"); do
    echo "==> peers, round $r/$rounds"
    for mode in bare null plain; do
        "$work/czmq_zauth" "$mode" "$certs" "$c_req" "$c_warm" "$inflight" |
            sed 's/^/czmq_/' | tee -a "$work/peers.txt"
    done
    "$work/czmq_zauth" curve "$certs" "$c_curve_req" "$c_curve_warm" "$inflight" |
        sed 's/^/czmq_/' | tee -a "$work/peers.txt"
    for mode in null plain curve callback; do
        "$venv/bin/python" benches/peers/pyzmq_auth.py "$mode" "$certs" "$py_req" "$py_warm" "$inflight" |
            sed 's/^/py_/' | tee -a "$work/peers.txt"
    done
done
"$work/czmq_zauth" load "$certs" 0 0 0 | sed 's/^/czmq_/' | tee -a "$work/peers.txt"
"$venv/bin/python" benches/peers/pyzmq_auth.py load "$certs" 0 0 0 | sed 's/^/py_/' | tee -a "$work/peers.txt"

python3 - "$work/ours.txt" "$work/peers.txt" "$ncerts" "$czver" "$pyver" <<'EOF'
import statistics, sys
ours = dict((k, float(v)) for k, v in (l.split() for l in open(sys.argv[1]) if l.strip()))
runs = {}
for line in open(sys.argv[2]):
    key, value, _unit = line.split()
    runs.setdefault(key, []).append(float(value))
peer = {k: statistics.median(v) for k, v in runs.items()}
n, czver, pyver = sys.argv[3], sys.argv[4], sys.argv[5]

def rate(x):
    return f"{x:,.0f}/s"

def cell(x, floor, fmt, higher_better=True):
    if x is None:
        return "n/a"
    r = x / floor if higher_better else floor / x
    return f"{fmt(x)} ({r:.3f}x)" if r >= 0.01 else f"{fmt(x)} ({r:.1e}x)"

rows = [("ZAP NULL", "zap_bare_null", "zap_null", "czmq_null", "py_null"),
        ("ZAP PLAIN, 1000 users", "zap_bare_plain", "zap_plain", "czmq_plain", "py_plain"),
        (f"ZAP CURVE, {n}-cert dir", "zap_bare_curve", "zap_curve_dir", "czmq_curve", "py_curve"),
        ("ZAP CURVE, callback", "zap_bare_curve", "zap_curve_callback", None, "py_callback")]
table = [("measurement", "floor (bare, Rust)", "zmq-auth", f"CZMQ zauth {czver}", f"pyzmq {pyver}")]
for name, fk, ok, ck, pk in rows:
    floor = ours[fk]
    table.append((name, rate(floor), cell(ours[ok], floor, rate),
                  cell(peer.get(ck) if ck else None, floor, rate), cell(peer.get(pk), floor, rate)))
ms = lambda x: f"{x:.1f} ms"
floor = ours["load_floor_ms"]
table.append((f"load {n}-cert dir (configure / load_certificates)", ms(floor) + " raw read",
              cell(ours["configure_curve_ms"], floor, ms, False) + " / " + ms(ours["load_certificates_ms"]),
              cell(peer.get("czmq_load"), floor, ms, False) + " zcertstore_new",
              cell(peer.get("py_load"), floor, ms, False) + " load_certificates"))
table.append(("bare responder, C (C generator)", "", "", rate(peer["czmq_bare"]), ""))
widths = [max(len(r[i]) for r in table) for i in range(5)]
print()
print("Medians; ratios are against the Rust bare responder / raw-read floor of the same run "
      "(for load times: floor / time, higher is better).")
for i, r in enumerate(table):
    print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
    if i == 0:
        print("  ".join("-" * w for w in widths))
EOF
