//! zmq-auth against its floors (issue #8). Run it with
//!
//! ```text
//! cargo bench --bench auth                 # full run, a few minutes
//! cargo bench --bench auth -- --quick      # smoke run (CI), seconds, no verdicts
//! ```
//!
//! Prints one table — measurement, floor, ours, ratio, target, verdict — and a last line
//! with the worst ratio (relative to its target). Throughputs are medians of rounds in
//! which every configuration runs in its own `zmq::Context`, interleaved with its floor.
//! Options: `--rounds N`, `--requests N`, `--strict` (exit 1 when a target is missed),
//! `--cert-dir DIR` (write the 10,000-certificate directory there and keep it, for
//! `benches/compare_peers.sh`), `--summary FILE` (raw numbers as `key value` lines),
//! `--watch-only` (only the watching rows: idle CPU, change-seen latency),
//! `--profile NAME [--certs N]` (one measurement alone, for
//! `valgrind --tool=callgrind --separate-threads=yes`; NAME is one of
//! bare-null, null, bare-plain, plain, bare-curve, bare-curve-uid, bare-raw-null,
//! bare-raw-curve-uid, curve-dir, curve-callback,
//! bare-curve-cb, null-busy, plain-busy, lock-null, lock-plain, lock-curve, curve-store
//! and lock-curve-store (feature `sqlite`), any of those prefixed `metrics-` (feature
//! `metrics`: a Prometheus recorder installed first), pool, burst, store-burst, cache,
//! unknown-user, recheck-rtt, load, raw-read, configure-curve, reload).

mod alloc;
mod certs;
mod e2e;
mod load;
mod ops;
// The tests' throwaway PostgreSQL server, shared rather than copied.
#[cfg(feature = "postgres")]
#[path = "../../tests/support/pg.rs"]
mod pg;
mod profile;
mod raw_bare;
mod scale;
mod slow;
mod store_scale;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod stores;
mod table;
mod throughput;
mod watch;
mod zap;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zmq_auth::zmq;
use zmq_auth::ThreadAuthenticator;

use crate::table::{median_f, ms, paired_ratio, print_table, rate, us, Row, Target};
use crate::throughput::{cycle_to, measure, Config, Data, CALLBACK_INFLIGHT, CONFIGS};
use crate::zap::{BoxError, Workload};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const DOMAIN: &str = "global";

struct Params {
    quick: bool,
    rounds: usize,
    requests: usize,
    warmup: usize,
    inflight: usize,
    certs: usize,
    users: usize,
    scale_small: usize,
    scale_big: usize,
    handshakes: usize,
    handshake_warmup: usize,
    concurrency: usize,
    load_reps: usize,
    reload_reps: usize,
    rtt: usize,
    /// Timed requests of each callback-pool measurement (10 ms callback).
    pool_requests: usize,
    /// NULL round trips during re-checks: window per round, and rounds.
    recheck_window: Duration,
    recheck_rounds: usize,
    /// `still_admits` calls per measurement.
    still_calls: usize,
    /// Credential stores (features `sqlite`, `postgres`): keys in each store, the cached
    /// working set, uncached round trips, revocations, single-thread argon2id verifies
    /// and argon2id checks through ZAP, keys repeated in the PostgreSQL store-vs-callback
    /// row and that row's timed requests.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    store_keys: usize,
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    store_working: usize,
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    store_latency: usize,
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    store_revocations: usize,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    argon_single: usize,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    argon_checks: usize,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pg_repeat_keys: usize,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pg_requests: usize,
}

impl Params {
    fn full() -> Params {
        Params {
            quick: false,
            rounds: 7,
            requests: 200_000,
            warmup: 20_000,
            inflight: 100,
            certs: 10_000,
            users: 1_000,
            scale_small: 10,
            scale_big: 100_000,
            handshakes: 1_500,
            handshake_warmup: 100,
            concurrency: 8,
            load_reps: 9,
            reload_reps: 5,
            rtt: 2_000,
            pool_requests: 1_200,
            recheck_window: Duration::from_secs(2),
            recheck_rounds: 3,
            still_calls: 2_000_000,
            store_keys: 1_000_000,
            store_working: 100_000,
            store_latency: 2_000,
            store_revocations: 7,
            argon_single: 20,
            argon_checks: 300,
            pg_repeat_keys: 10_000,
            pg_requests: 4_000,
        }
    }

    fn quick() -> Params {
        Params {
            quick: true,
            rounds: 1,
            requests: 20_000,
            warmup: 2_000,
            certs: 1_000,
            scale_big: 10_000,
            handshakes: 100,
            handshake_warmup: 10,
            load_reps: 2,
            reload_reps: 1,
            rtt: 200,
            pool_requests: 120,
            recheck_window: Duration::from_millis(300),
            recheck_rounds: 1,
            still_calls: 200_000,
            store_keys: 20_000,
            store_working: 10_000,
            store_latency: 200,
            store_revocations: 2,
            argon_single: 4,
            argon_checks: 30,
            pg_repeat_keys: 2_000,
            pg_requests: 400,
            ..Params::full()
        }
    }
}

struct Opts {
    params: Params,
    /// `--profile NAME`: run one measurement alone (for callgrind), print its result.
    profile: Option<String>,
    strict: bool,
    cert_dir: Option<PathBuf>,
    summary: Option<PathBuf>,
    watch_only: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench auth -- [--quick] [--rounds N] [--requests N] [--strict] \
         [--cert-dir DIR] [--summary FILE] [--watch-only] [--profile NAME [--certs N]]"
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--memory-child") {
        let dir = args.get(1).map(PathBuf::from).unwrap_or_else(|| usage());
        match load::memory_child(&dir) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("memory child: {e}");
                std::process::exit(1)
            }
        }
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = Opts {
        params: if quick {
            Params::quick()
        } else {
            Params::full()
        },
        profile: None,
        strict: false,
        cert_dir: None,
        summary: None,
        watch_only: false,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--quick" | "--bench" => {}
            "--strict" => o.strict = true,
            "--watch-only" => o.watch_only = true,
            "--profile" => o.profile = Some(value()),
            "--certs" => o.params.certs = value().parse().unwrap_or_else(|_| usage()),
            "--rounds" => o.params.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--requests" => o.params.requests = value().parse().unwrap_or_else(|_| usage()),
            "--cert-dir" => o.cert_dir = Some(PathBuf::from(value())),
            "--summary" => o.summary = Some(PathBuf::from(value())),
            _ => usage(),
        }
    }
    o.params.rounds = o.params.rounds.max(1);
    o
}

fn main() {
    let o = parse_args();
    if let Err(e) = run(o) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn run(o: Opts) -> Result<(), BoxError> {
    if let Some(name) = &o.profile {
        return profile::profile(name, &o.params);
    }
    let p = &o.params;
    let t_start = Instant::now();
    if !zmq_auth::curve_available() {
        return Err("the linked libzmq has no CURVE".into());
    }
    let mut summary: Vec<(String, f64)> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    if o.watch_only {
        let big = certs::make(None, p.scale_big, 0)?;
        watch_rows(p, &big.dir, &mut rows, &mut summary)?;
        print_table(&rows, p.quick);
        return Ok(());
    }

    eprintln!(
        "zmq-auth benchmark ({} mode): {} rounds, {} requests each, {} in flight",
        if p.quick { "quick" } else { "full" },
        p.rounds,
        p.requests,
        p.inflight
    );
    eprintln!("generating certificate directories (pyzmq format)...");
    let dir = certs::make(o.cert_dir.as_deref(), p.certs, 64)?;
    let small = certs::make(None, p.scale_small, 0)?;
    let big = certs::make(None, p.scale_big, 0)?;
    let users: Vec<(String, String)> = (0..p.users)
        .map(|i| {
            (
                format!("user{i:04}"),
                format!("password-{i:04}-{:08x}", i * 2654435761usize),
            )
        })
        .collect();
    let z85: HashSet<String> = dir.public.iter().map(zmq_auth::encode_z85_key).collect();
    let data = Data {
        w_null: Workload::null(DOMAIN),
        w_plain: Workload::plain(DOMAIN, &users),
        w_curve: Workload::curve(DOMAIN, &dir.public),
        w_small: Workload::curve(DOMAIN, &cycle_to(&small.public, big.public.len())),
        w_big: Workload::curve(DOMAIN, &big.public),
        z85: Arc::new(z85),
        users,
        dir,
        small,
        big,
    };

    // ---- ZAP throughput, interleaved rounds ----
    eprintln!("ZAP throughput...");
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); CONFIGS.len()];
    // The busy rows' slow CURVE answers/s, all rounds together.
    let mut side_rates: Vec<f64> = Vec::new();
    for round in 0..p.rounds {
        let t = Instant::now();
        for k in 0..CONFIGS.len() {
            let i = (k + round) % CONFIGS.len();
            let r = measure(CONFIGS[i], &data, p).map_err(|e| format!("{:?}: {e}", CONFIGS[i]))?;
            results[i].push(r.rate);
            side_rates.extend(r.side_rate);
        }
        eprintln!(
            "  round {}/{} ({:.1} s): {}",
            round + 1,
            p.rounds,
            t.elapsed().as_secs_f64(),
            CONFIGS
                .iter()
                .zip(&results)
                .map(|(c, v)| format!("{c:?} {:.0}", v[round]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let med: Vec<f64> = results.iter().map(|v| median_f(v.clone())).collect();
    let get = |c: Config| med[CONFIGS.iter().position(|x| *x == c).unwrap_or(0)];
    for (c, key) in [
        (Config::BareNull, "zap_bare_null"),
        (Config::Null, "zap_null"),
        (Config::BarePlain, "zap_bare_plain"),
        (Config::Plain, "zap_plain"),
        (Config::BareCurve, "zap_bare_curve"),
        (Config::BareCurveUid, "zap_bare_curve_uid"),
        (Config::RawNull, "zap_raw_bare_null"),
        (Config::RawCurveUid, "zap_raw_bare_curve_uid"),
        (Config::CurveDir, "zap_curve_dir"),
        (Config::CurveCallback, "zap_curve_callback"),
        (Config::CurveSmall, "zap_curve_small"),
        (Config::CurveBig, "zap_curve_big"),
        (Config::BareCurveCb, "zap_bare_curve_cb"),
        (Config::NullBusy, "zap_null_busy"),
        (Config::PlainBusy, "zap_plain_busy"),
        (Config::LockNull, "zap_lockout_null"),
        (Config::LockPlain, "zap_lockout_plain"),
        (Config::LockCurve, "zap_lockout_curve"),
    ] {
        summary.push((key.into(), get(c)));
    }
    // Rates: medians over rounds; ratios: medians of the per-round ratios (see
    // `paired_ratio`).
    let rounds_of = |c: Config| {
        results
            .get(CONFIGS.iter().position(|x| *x == c).unwrap_or(0))
            .map_or(&[][..], Vec::as_slice)
    };
    let ratio = |floor: Config, ours: Config| paired_ratio(rounds_of(floor), rounds_of(ours));
    let row = |name: String, floor: Config, ours: Config, target: Target| Row {
        name,
        floor: rate(get(floor)),
        ours: rate(get(ours)),
        ratio: Some(ratio(floor, ours)),
        target,
    };
    let tp_row = |name: String, floor: Config, ours: Config, t: f64| {
        row(name, floor, ours, Target::AtLeast(t))
    };
    rows.push(tp_row(
        "ZAP NULL".into(),
        Config::BareNull,
        Config::Null,
        0.95,
    ));
    rows.push(row(
        "  the same against a bare responder through raw libzmq calls (zmq_msg_t reused, as the ZAP thread does)".to_string(),
        Config::RawNull,
        Config::Null,
        Target::Info,
    ));
    rows.push(tp_row(
        format!("ZAP PLAIN ({} users)", p.users),
        Config::BarePlain,
        Config::Plain,
        0.95,
    ));
    rows.push(tp_row(
        format!("ZAP CURVE, {}-cert dir", p.certs),
        Config::BareCurve,
        Config::CurveDir,
        0.95,
    ));
    rows.push(row(
        "  the same against a bare responder that also sends the key's Z85 User-Id (40 bytes, as ZAP requires of a CURVE 200)".to_string(),
        Config::BareCurveUid,
        Config::CurveDir,
        Target::Info,
    ));
    rows.push(row(
        "  the same against a bare responder through raw libzmq calls (zmq_msg_t reused, as the ZAP thread does), Z85 User-Id".to_string(),
        Config::RawCurveUid,
        Config::CurveDir,
        Target::Info,
    ));
    rows.push(tp_row(
        format!("ZAP CURVE, callback (pool; {CALLBACK_INFLIGHT} in flight)"),
        Config::BareCurveCb,
        Config::CurveCallback,
        0.95,
    ));
    rows.push(tp_row(
        format!(
            "scale: CURVE {} keys vs {} keys",
            p.scale_big, p.scale_small
        ),
        Config::CurveSmall,
        Config::CurveBig,
        0.95,
    ));
    rows.push(tp_row(
        "ZAP NULL while a 50 ms CURVE callback is busy".into(),
        Config::BareNull,
        Config::NullBusy,
        0.9,
    ));
    rows.push(tp_row(
        format!(
            "ZAP PLAIN ({} users) while a 50 ms callback is busy",
            p.users
        ),
        Config::BarePlain,
        Config::PlainBusy,
        0.9,
    ));
    let side = median_f(side_rates);
    summary.push(("zap_busy_curve_answers".into(), side));
    rows.push(Row {
        name: format!(
            "  meanwhile: 50 ms CURVE answers ({} in flight, 4 threads)",
            throughput::BUSY_INFLIGHT
        ),
        floor: "80/s".into(),
        ours: rate(side),
        ratio: Some(side / 80.0),
        target: Target::Info,
    });

    for (name, floor, c) in [
        ("NULL", Config::BareNull, Config::LockNull),
        ("PLAIN (1000 users)", Config::BarePlain, Config::LockPlain),
        (
            "CURVE, 10000-cert dir",
            Config::BareCurve,
            Config::LockCurve,
        ),
    ] {
        rows.push(tp_row(
            format!("ZAP {name}, lock-out on (limit_failures 5/60 s/900 s)"),
            floor,
            c,
            0.95,
        ));
    }

    // ---- the callback pool ----
    eprintln!("callback pool, 10 ms callback...");
    for threads in [4, 8] {
        let ideal = threads as f64 / 0.010;
        let mut v = Vec::new();
        for _ in 0..p.rounds.min(3) {
            v.push(slow::pool_throughput(
                threads,
                Duration::from_millis(10),
                &data.dir.public,
                p.pool_requests * threads / 4,
            )?);
        }
        let r = median_f(v);
        summary.push((format!("pool_{threads}_10ms"), r));
        rows.push(Row {
            name: format!("callback pool, {threads} threads, 10 ms callback (vs ideal)"),
            floor: rate(ideal),
            ours: rate(r),
            ratio: Some(r / ideal),
            target: if threads == 4 {
                Target::AtLeast(0.95)
            } else {
                Target::Info
            },
        });
    }

    // ---- ZAP round trips while the watcher re-checks a big directory ----
    eprintln!(
        "ZAP round trips while {} keys are re-checked...",
        p.scale_big
    );
    let interval = Duration::from_millis(100);
    let mut rc = slow::rtt_during_recheck(
        &data.big.dir,
        &data.big.public[0],
        interval,
        p.recheck_window,
        p.recheck_rounds,
    )?;
    let (bare_p99, bare_max) = (
        slow::quantile(&mut rc.bare, 0.99),
        slow::quantile(&mut rc.bare, 1.0),
    );
    let (ours_p99, ours_max) = (
        slow::quantile(&mut rc.ours, 0.99),
        slow::quantile(&mut rc.ours, 1.0),
    );
    summary.push(("recheck_rtt_max_ms".into(), ours_max.as_secs_f64() * 1e3));
    summary.push(("recheck_rtt_p99_ms".into(), ours_p99.as_secs_f64() * 1e3));
    summary.push(("recheck_bare_max_ms".into(), bare_max.as_secs_f64() * 1e3));
    rows.push(Row {
        name: format!(
            "worst ZAP round trip, {} keys re-checked every {} ms (vs 20 ms)",
            p.scale_big,
            interval.as_millis()
        ),
        floor: "20.0 ms".into(),
        ours: ms(ours_max),
        ratio: Some(ours_max.as_secs_f64() / 0.020),
        target: Target::AtMost(1.0),
    });
    rows.push(Row {
        name: format!(
            "  same: p99 / worst of the bare responder; our p99 ({} round trips)",
            rc.ours.len()
        ),
        floor: format!("{} / {}", ms(bare_p99), ms(bare_max)),
        ours: ms(ours_p99),
        ratio: None,
        target: Target::Info,
    });
    rows.push(Row {
        name: format!(
            "  same: 1 cert removed -> refused through the engine (interval {} ms)",
            interval.as_millis()
        ),
        floor: "-".into(),
        ours: ms(rc.revoked_after),
        ratio: None,
        target: Target::Info,
    });

    // ---- memory per key ----
    eprintln!("memory per key ({} keys, fresh process)...", p.scale_big);
    let mem = load::memory(&data.big.dir)?;
    let per = |b: i64| b as f64 / mem.keys.max(1) as f64;
    summary.push(("mem_rss_per_key".into(), per(mem.rss)));
    summary.push(("mem_heap_per_key".into(), per(mem.heap)));
    rows.push(Row {
        name: format!("memory per key at {} keys (RSS, vs budget)", mem.keys),
        floor: "200 B".into(),
        ours: format!("{:.0} B", per(mem.rss)),
        ratio: Some(per(mem.rss) / 200.0),
        target: Target::AtMost(1.0),
    });
    rows.push(Row {
        name: "  same, RSS after malloc_trim".into(),
        floor: "-".into(),
        ours: format!("{:.0} B", per(mem.rss_trimmed)),
        ratio: None,
        target: Target::Info,
    });
    rows.push(Row {
        name: "  same, live heap (peak while loading)".into(),
        floor: "-".into(),
        ours: format!("{:.0} B ({:.0} B)", per(mem.heap), per(mem.heap_peak)),
        ratio: None,
        target: Target::Info,
    });

    // ---- end to end ----
    eprintln!("CURVE handshakes over TCP...");
    let (mut hs_bare, mut hs_ours) = (Vec::new(), Vec::new());
    for round in 0..p.rounds {
        for k in 0..2 {
            let ctx = zmq::Context::new();
            let clients = &data.dir.clients;
            if (k + round) % 2 == 0 {
                let _b = zap::start_bare(&ctx)?;
                hs_bare.push(e2e::handshakes(
                    &ctx,
                    DOMAIN,
                    clients,
                    p.handshake_warmup,
                    p.handshakes,
                    p.concurrency,
                )?);
            } else {
                let auth = ThreadAuthenticator::start(&ctx)?;
                auth.configure_curve(DOMAIN, &data.dir.dir)?;
                hs_ours.push(e2e::handshakes(
                    &ctx,
                    DOMAIN,
                    clients,
                    p.handshake_warmup,
                    p.handshakes,
                    p.concurrency,
                )?);
            }
        }
    }
    let (hb, ho) = (median_f(hs_bare), median_f(hs_ours));
    summary.push(("e2e_bare".into(), hb));
    summary.push(("e2e_ours".into(), ho));
    rows.push(Row {
        name: format!("CURVE handshakes over TCP ({} at once)", p.concurrency),
        floor: rate(hb),
        ours: rate(ho),
        ratio: Some(ho / hb),
        target: Target::AtLeast(0.97),
    });

    // ---- loading ----
    eprintln!("loading certificate directories...");
    let lt = load::load_times(&data.dir.dir, p.certs, p.load_reps)?;
    summary.push(("load_floor_ms".into(), lt.floor.as_secs_f64() * 1e3));
    summary.push((
        "load_certificates_ms".into(),
        lt.load_certificates.as_secs_f64() * 1e3,
    ));
    summary.push((
        "configure_curve_ms".into(),
        lt.configure_curve.as_secs_f64() * 1e3,
    ));
    let load_row = |name: String, ours: Duration| Row {
        name,
        floor: ms(lt.floor),
        ours: ms(ours),
        ratio: Some(lt.floor.as_secs_f64() / ours.as_secs_f64()),
        target: Target::AtLeast(1.0),
    };
    rows.push(load_row(
        format!("load_certificates, {} certs (speed vs raw read)", p.certs),
        lt.load_certificates,
    ));
    rows.push(load_row(
        format!("configure_curve, {} certs (speed vs raw read)", p.certs),
        lt.configure_curve,
    ));
    let known = data.dir.public[0];
    let rl = load::reload_times(&data.dir.dir, &known, p.reload_reps)?;
    summary.push(("reload_added_ms".into(), rl.added.as_secs_f64() * 1e3));
    summary.push(("reload_removed_ms".into(), rl.removed.as_secs_f64() * 1e3));
    // Since issue 19 the watcher re-reads what a file event names; the full pass (list,
    // stat every file) is the safety net and the polling fallback.
    let ev = load::event_refresh(&data.dir.dir, p.reload_reps)?;
    summary.push(("event_added_ms".into(), ev.added.as_secs_f64() * 1e3));
    summary.push(("event_removed_ms".into(), ev.removed.as_secs_f64() * 1e3));
    for (what, d) in [("added", ev.added), ("removed", ev.removed)] {
        rows.push(Row {
            name: format!("re-check after 1 cert {what}: the file event's re-read (vs full load)"),
            floor: ms(rl.full),
            ours: us(d),
            ratio: Some(d.as_secs_f64() / rl.full.as_secs_f64()),
            target: Target::AtMost(0.25),
        });
    }
    for (what, d) in [("added", rl.added), ("removed", rl.removed)] {
        rows.push(Row {
            name: format!(
                "  full pass after 1 cert {what} (polling fallback, safety net; vs full load)"
            ),
            floor: ms(rl.full),
            ours: ms(d),
            ratio: Some(d.as_secs_f64() / rl.full.as_secs_f64()),
            target: Target::Info,
        });
    }
    rows.push(Row {
        name: format!("  re-check, {} certs unchanged (vs full load)", p.certs),
        floor: ms(rl.full),
        ours: ms(rl.unchanged),
        ratio: Some(rl.unchanged.as_secs_f64() / rl.full.as_secs_f64()),
        target: Target::Info,
    });
    let rl_big = load::reload_times(&data.big.dir, &data.big.public[0], 1)?;
    summary.push((
        "recheck_big_ms".into(),
        rl_big.unchanged.as_secs_f64() * 1e3,
    ));
    rows.push(Row {
        name: format!(
            "  re-check at {} certs, unchanged (watcher thread) / full load",
            p.scale_big
        ),
        floor: "-".into(),
        ours: format!("{} / {}", ms(rl_big.unchanged), ms(rl_big.full)),
        ratio: None,
        target: Target::Info,
    });

    // ---- round trips ----
    eprintln!("round trips...");
    let (mut rtt_bare, mut rtt_ours) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let ctx = zmq::Context::new();
        {
            let _b = zap::start_bare(&ctx)?;
            rtt_bare.push(zap::round_trip(&ctx, &data.w_null, p.rtt)?);
        }
        let ctx = zmq::Context::new();
        let _auth = ThreadAuthenticator::start(&ctx)?;
        rtt_ours.push(zap::round_trip(&ctx, &data.w_null, p.rtt)?);
    }
    let (rb, ro) = (load::median(rtt_bare), load::median(rtt_ours));
    let cr = load::configure_round_trips(p.rtt)?;
    summary.push(("rtt_zap_bare_us".into(), rb.as_secs_f64() * 1e6));
    summary.push(("rtt_zap_ours_us".into(), ro.as_secs_f64() * 1e6));
    summary.push((
        "rtt_configure_us".into(),
        cr.configure_plain.as_secs_f64() * 1e6,
    ));
    rows.push(Row {
        name: "ZAP round trip, 1 in flight (NULL)".into(),
        floor: us(rb),
        ours: us(ro),
        ratio: Some(rb.as_secs_f64() / ro.as_secs_f64()),
        target: Target::Info,
    });
    rows.push(Row {
        name: "configure call (on the caller's thread): no-op / configure_plain".into(),
        floor: us(ro),
        ours: format!("{} / {}", us(cr.configure_noop), us(cr.configure_plain)),
        ratio: None,
        target: Target::Info,
    });

    // ---- watching: idle CPU, change-seen latency ----
    watch_rows(p, &data.big.dir, &mut rows, &mut summary)?;
    // ---- issue 19: a burst to an instant callback, an unknown user at 500,000 users ----
    scale::rows(p, &mut rows, &mut summary)?;

    // ---- operations: still_admits ----
    ops::still_admits_rows(&data, p, &mut rows, &mut summary)?;

    // ---- credential stores ----
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    stores::rows(p, &mut rows, &mut summary)?;

    // ---- metrics on: last, because a recorder stays installed once installed ----
    #[cfg(feature = "metrics")]
    metrics_rows(&data, p, &mut rows, &mut summary)?;

    println!();
    println!(
        "zmq-auth {} — {} — {} round(s), median; floors measured in the same run",
        env!("CARGO_PKG_VERSION"),
        machine(),
        p.rounds
    );
    let met = print_table(&rows, p.quick);
    eprintln!("total time {:.0} s", t_start.elapsed().as_secs_f64());
    if let Some(path) = &o.summary {
        let text: String = summary
            .iter()
            .map(|(k, v)| format!("{k} {v:.3}\n"))
            .collect();
        std::fs::write(path, text)?;
    }
    if o.strict && !met && !p.quick {
        std::process::exit(1);
    }
    Ok(())
}

/// Idle CPU of a process that only watches 10,000 and `scale_big` certificates, and
/// the time a change takes to show in ZAP answers (issue 19 item 2).
fn watch_rows(
    p: &Params,
    big: &std::path::Path,
    rows: &mut Vec<Row>,
    summary: &mut Vec<(String, f64)>,
) -> Result<(), BoxError> {
    eprintln!("watching: idle CPU and change-seen latency...");
    let (settle, window, reps) = if p.quick {
        (Duration::from_secs(1), Duration::from_secs(2), 3)
    } else {
        (Duration::from_secs(5), Duration::from_secs(10), 10)
    };
    let ten = certs::make(None, 10_000, 0)?;
    let mut sizes = vec![(10_000usize, ten.dir.as_path())];
    if p.scale_big != 10_000 {
        sizes.push((p.scale_big, big));
    }
    for (n, dir) in sizes {
        let pct = watch::idle_cpu(dir, settle, window)?;
        summary.push((format!("idle_cpu_{n}_pct"), pct));
        rows.push(Row {
            name: format!("idle CPU watching {n} certs (% of a core, {window:?} window)"),
            floor: "-".into(),
            ours: format!("{pct:.3} %"),
            ratio: Some(pct),
            target: if n >= 100_000 {
                Target::AtMost(0.2)
            } else {
                Target::Info
            },
        });
    }
    // The safety net's share: a pass's CPU over the automatic interval (30 s, or the
    // pass's time × 1000 when longer; the watcher uses wall time × threads, at least this).
    let pass_ms = watch::full_pass_cpu_ms(big, settle, window)?;
    let every = (pass_ms / 1e3 * 1000.0).clamp(30.0, 900.0);
    let share = pass_ms / 1e3 / every * 100.0;
    summary.push(("full_pass_cpu_big_ms".into(), pass_ms));
    rows.push(Row {
        name: format!(
            "  safety-net full pass at {} certs: CPU per pass, automatic interval, share of a core",
            p.scale_big
        ),
        floor: "-".into(),
        ours: format!("{pass_ms:.0} ms, {every:.0} s, {share:.3} %"),
        ratio: None,
        target: Target::Info,
    });
    let lat = watch::latencies(&ten.dir, &ten.public, reps)?;
    for (what, times) in [
        ("removed cert", &lat.remove),
        ("cert rewritten in place", &lat.rewrite),
        ("added cert", &lat.add),
        ("password-file edit", &lat.password),
    ] {
        let (median, worst) = watch::summary(times);
        let key = what.replace([' ', '-'], "_");
        summary.push((format!("seen_{key}_median_ms"), median));
        summary.push((format!("seen_{key}_worst_ms"), worst));
        rows.push(Row {
            name: format!("{what} seen in ZAP answers, 10000 certs (median / worst of {reps})"),
            floor: "100 ms".into(),
            ours: format!("{median:.1} / {worst:.1} ms"),
            ratio: Some(worst / 100.0),
            target: Target::AtMost(1.0),
        });
    }
    Ok(())
}

/// ZAP throughput with a Prometheus recorder installed (every decision counted), in
/// rounds of their own against the bare floor. Runs after everything else: a recorder
/// cannot be uninstalled.
#[cfg(feature = "metrics")]
fn metrics_rows(
    data: &Data,
    p: &Params,
    rows: &mut Vec<Row>,
    summary: &mut Vec<(String, f64)>,
) -> Result<(), BoxError> {
    eprintln!("ZAP throughput with a Prometheus recorder installed...");
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("install the Prometheus recorder: {e}"))?;
    let pairs = [
        ("NULL", "null", Config::BareNull, Config::Null),
        (
            "PLAIN (1000 users)",
            "plain",
            Config::BarePlain,
            Config::Plain,
        ),
        (
            "CURVE, 10000-cert dir",
            "curve",
            Config::BareCurve,
            Config::CurveDir,
        ),
    ];
    let cfgs: Vec<Config> = pairs.iter().flat_map(|p| [p.2, p.3]).collect();
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); cfgs.len()];
    for round in 0..p.rounds {
        for k in 0..cfgs.len() {
            let i = (k + round) % cfgs.len();
            let r = measure(cfgs[i], data, p).map_err(|e| format!("{:?}: {e}", cfgs[i]))?;
            results[i].push(r.rate);
        }
    }
    // The recorder did count: one decision per request of ours.
    let text = handle.render();
    for mech in ["NULL", "PLAIN", "CURVE"] {
        let needle = format!(
            "zmq_auth_decisions_total{{mechanism=\"{mech}\",status=\"200\",reason=\"OK\"}} "
        );
        let count: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&needle))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        let expected = (p.rounds * (p.warmup + p.requests)) as f64;
        if count < expected {
            return Err(format!(
                "the recorder counted {count} {mech} decisions, {expected} expected"
            )
            .into());
        }
    }
    let med: Vec<f64> = results.iter().cloned().map(median_f).collect();
    for (j, (name, key, _, _)) in pairs.iter().enumerate() {
        let (floor, ours) = (med[2 * j], med[2 * j + 1]);
        summary.push((format!("zap_metrics_{key}"), ours));
        summary.push((format!("zap_metrics_bare_{key}"), floor));
        rows.push(Row {
            name: format!("ZAP {name}, metrics on (Prometheus recorder installed)"),
            floor: rate(floor),
            ours: rate(ours),
            ratio: Some(paired_ratio(&results[2 * j], &results[2 * j + 1])),
            target: Target::AtLeast(0.95),
        });
    }
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (maj, min, pat) = zmq::version();
    format!("{cpu}, {cores} cores, libzmq {maj}.{min}.{pat}")
}
