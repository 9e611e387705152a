#!/bin/sh
# Instructions per ZAP request on the responder thread (issue 19 item 4), under
# callgrind: for each profile, the ZAP thread's total instructions ÷ requests
# (warm-up + timed, `--quick`: 2,000 + REQUESTS). The thread is found by its code: the
# file of the thread that runs `ZapLoop::run` (ours), else the busiest after thread 1.
#
#   CARGO_PROFILE_BENCH_DEBUG=line-tables-only cargo bench --bench auth --all-features --no-run
#   benches/callgrind_table.sh target/release/deps/auth-<hash> [PROFILE...]
#
# Deterministic to a few tenths of a percent, unlike wall-clock ratios on a shared machine.
# `curve-store` caches its keys first through the pool (costly, and not what the row is
# about): it runs twice, with REQUESTS and 2 × REQUESTS, and its figure is the
# difference ÷ REQUESTS (the cost of one more cached request); it also prints the
# plain division, for comparison. So do `lock-curve-store` (with the lock-out of the
# `lock-*` rows) and `metrics-curve-store`; none is in the default list (they need the
# bench's `sqlite` feature): name them, e.g. `... curve-store lock-curve-store`.
set -eu
BIN=$1; shift
REQUESTS=${REQUESTS:-20000}
OUT=${OUT:-/tmp/zmq-auth-callgrind}
PROFILES=${*:-bare-null null lock-null metrics-null bare-plain plain lock-plain metrics-plain \
bare-curve curve-dir lock-curve metrics-curve-dir bare-curve-cb curve-callback}
mkdir -p "$OUT"
zap_total() { # PROFILE REQUESTS: the ZAP thread's instructions
    p=$1; n_req=$2
    rm -f "$OUT/$p".*
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/$p.%p" \
        "$BIN" --quick --profile "$p" --certs 1000 --requests "$n_req" >/dev/null 2>"$OUT/$p.log"
    # Names are compressed across the thread files: find the id of `ZapLoop::run`, then
    # the thread whose file calls it. The bare responder's code is inlined into its
    # thread's start: it is the busiest thread after the generator (thread 1).
    ids=$(grep -ho -e 'fn=([0-9]*) [^ ]*ZapLoop[^ ]*::run$' "$OUT/$p".*-* | sed 's/^[a-z]*=(\([0-9]*\)).*/\1/' | sort -u | paste -sd'|')
    best=""; best_n=0
    for f in "$OUT/$p".*-*; do
        case "$f" in *-01) continue ;; esac
        if [ -n "$ids" ]; then grep -q -E "fn=\(($ids)\)" "$f" || continue; fi
        n=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p; s/^summary: *\([0-9]*\).*/\1/p' "$f" | head -1)
        if [ "${n:-0}" -gt "$best_n" ]; then best=$f; best_n=$n; fi
    done
    echo "$best_n"
}
for p in $PROFILES; do
    n=$(zap_total "$p" "$REQUESTS")
    case "$p" in
    *curve-store)
        n2=$(zap_total "$p" $((2 * REQUESTS)))
        echo "$p $n $((n / (REQUESTS + 2000))) marginal $(((n2 - n) / REQUESTS))" ;;
    *) echo "$p $n $((n / (REQUESTS + 2000)))" ;;
    esac
done
