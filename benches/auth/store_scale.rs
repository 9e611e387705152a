//! Issue 19 rows on stores: a burst of 1,000 CURVE requests to an uncached SQLite store
//! (`--profile store-burst`), a cached CURVE look-up from a SQLite store for the
//! instruction table (`--profile curve-store`), and the store cache's invalidate pause
//! and negative-cache bytes (`--profile cache`).
// Without `sqlite` only the cache rows are built.
#![cfg_attr(not(feature = "sqlite"), allow(unused_imports, dead_code))]

use std::time::Duration;

use zmq_auth::store::cache_bench;

use crate::scale::{Burst, BURST};
use crate::table::{ms, Row, Target};
use crate::zap::BoxError;
use crate::Params;

/// Entries the cache rows insert (issue 19: "the invalidate pause at 1,000,000 cache
/// entries"); the byte budgets keep fewer.
pub const CACHE_ENTRIES: usize = 1_000_000;

/// Keys in the store of the burst row (its first [`BURST`] are asked).
#[cfg(feature = "sqlite")]
pub fn burst_store_keys(p: &Params) -> usize {
    if p.quick {
        10_000
    } else {
        100_000
    }
}

/// A SQLite store with `keys` under `DOMAIN`, its change watcher settled.
#[cfg(feature = "sqlite")]
pub fn sqlite_store(
    keys: &[[u8; 32]],
) -> Result<(tempfile::TempDir, zmq_auth::store::SqliteStore), BoxError> {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("bench.db");
    let store = zmq_auth::store::SqliteStore::open(&path)?;
    crate::stores::fill_sqlite(&path, keys)?;
    // The store's watcher (every 100 ms) sees the fill; let it settle first.
    std::thread::sleep(Duration::from_millis(300));
    Ok((tmp, store))
}

/// [`BURST`] CURVE requests at once, distinct keys all in a SQLite store of `store_keys`
/// that no request asked before (a fresh store: its cache is empty).
#[cfg(feature = "sqlite")]
pub fn store_burst(store_keys: usize, seed: u64) -> Result<Burst, BoxError> {
    let keys = crate::stores::random_keys(store_keys.max(BURST), seed);
    let (_tmp, store) = sqlite_store(&keys)?;
    crate::scale::burst_of(&keys[..BURST], |auth| {
        auth.configure_curve_store(crate::DOMAIN, store.clone())
    })
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Rows: the burst to an uncached SQLite store, the cache's invalidate pause and its
/// negative budget.
pub fn rows(
    p: &Params,
    rows: &mut Vec<Row>,
    summary: &mut Vec<(String, f64)>,
) -> Result<(), BoxError> {
    #[cfg(feature = "sqlite")]
    {
        let n = burst_store_keys(p);
        eprintln!("burst of {BURST} to an uncached SQLite store of {n} keys...");
        let mut bursts = Vec::new();
        for round in 0..p.rounds.min(3) {
            bursts.push(store_burst(n, 0x0b00_5700 + round as u64)?);
        }
        rows.push(burst_row(
            &format!("burst of {BURST} CURVE requests, uncached SQLite store ({n} keys)"),
            &bursts,
            summary,
            "store_burst",
        ));
    }
    rows_cache(if p.quick { 1 } else { 3 }, rows, summary);
    Ok(())
}

/// The cache rows: `invalidate` at [`CACHE_ENTRIES`] and the negative cache's peak.
pub fn rows_cache(repeat: usize, rows: &mut Vec<Row>, summary: &mut Vec<(String, f64)>) {
    eprintln!("store cache: invalidate at {CACHE_ENTRIES} entries...");
    // `repeat` times: the worst call and the worst look-ups count (a neighbour on this
    // 2-core machine can preempt the reader for milliseconds, invalidate or not).
    let runs: Vec<_> = (0..repeat.max(1))
        .map(|_| cache_bench::invalidate_pause(CACHE_ENTRIES))
        .collect();
    let worst = |f: fn(&cache_bench::InvalidatePause) -> Duration| {
        runs.iter().map(f).max().unwrap_or_default()
    };
    let (call, worst_lookup, worst_idle) = (
        worst(|r| r.call),
        worst(|r| r.worst_lookup),
        worst(|r| r.worst_lookup_idle),
    );
    let Some(r) = runs.first() else { return };
    summary.push((
        "cache_invalidate_call_us".into(),
        r.call.as_secs_f64() * 1e6,
    ));
    summary.push((
        "cache_invalidate_worst_lookup_us".into(),
        r.worst_lookup.as_secs_f64() * 1e6,
    ));
    rows.push(Row {
        name: format!(
            "store cache invalidate, {} inserted ({} known + {} unknown held, {:.1} + {:.1} MiB): call / worst cached look-up meanwhile (worst of {})",
            r.inserted,
            r.held.0,
            r.held.1,
            mib(r.bytes.0),
            mib(r.bytes.1),
            runs.len()
        ),
        floor: format!("{} (worst look-up, no invalidate)", crate::table::us(worst_idle)),
        ours: format!(
            "{} / {} (calls: {})",
            crate::table::us(call),
            crate::table::us(worst_lookup),
            runs.iter()
                .map(|r| crate::table::us(r.call))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ratio: None,
        target: Target::Info,
    });
    let (peak, entries, budget) = cache_bench::negative_peak(CACHE_ENTRIES);
    summary.push(("negative_cache_peak_bytes".into(), peak as f64));
    rows.push(Row {
        name: format!(
            "negative cache at its budget ({CACHE_ENTRIES} unknown keys cached in turn): peak bytes (entries then)"
        ),
        floor: format!("{:.1} MiB budget", mib(budget)),
        ours: format!("{:.1} MiB ({entries})", mib(peak)),
        ratio: Some(peak as f64 / budget as f64),
        target: Target::AtMost(1.0),
    });
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// The row of a set of bursts: fewest admitted, most refused 300, median time.
#[cfg(feature = "sqlite")]
fn burst_row(name: &str, bursts: &[Burst], summary: &mut Vec<(String, f64)>, key: &str) -> Row {
    let admitted = bursts.iter().map(|b| b.admitted).min().unwrap_or(0);
    let busy = bursts.iter().map(|b| b.busy).max().unwrap_or(0);
    let mut times: Vec<Duration> = bursts.iter().map(|b| b.all_answered).collect();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    summary.push((format!("{key}_admitted_min"), admitted as f64));
    summary.push((format!("{key}_busy_max"), busy as f64));
    summary.push((format!("{key}_all_answered_ms"), median.as_secs_f64() * 1e3));
    Row {
        name: format!("{name}: 200 (fewest of {}) / 300", bursts.len()),
        floor: format!("{BURST}"),
        ours: format!("{admitted} / {busy} (all answered in {})", ms(median)),
        ratio: Some(admitted as f64 / BURST as f64),
        target: Target::AtLeast(1.0),
    }
}

/// `--profile curve-store`: CURVE from a SQLite store of `p.certs` keys, every key
/// cached by an untimed pass first (through the pool), then the measured stream (all
/// from the cache, on the ZAP thread): its rate. `lock`: with the lock-out of the
/// `lock-*` rows (`--profile lock-curve-store`).
#[cfg(feature = "sqlite")]
pub fn curve_store(p: &Params, lock: bool) -> Result<f64, BoxError> {
    use crate::zap::{self, Workload};
    use zmq_auth::{zmq, ThreadAuthenticator};
    let keys = crate::stores::random_keys(p.certs, 0x5eed_0019);
    let (_tmp, store) = sqlite_store(&keys)?;
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    if lock {
        crate::throughput::lockout(&auth)?;
    }
    auth.configure_curve_store(crate::DOMAIN, store.clone())?;
    let w = Workload::curve(crate::DOMAIN, &keys);
    let inflight = crate::throughput::CALLBACK_INFLIGHT;
    zap::throughput(&ctx, &w, 0, keys.len(), inflight)?;
    let h0 = store.cache_hits();
    let rate = zap::throughput(&ctx, &w, p.warmup, p.requests, p.inflight)?;
    let asked = (p.warmup + p.requests) as u64;
    if store.cache_hits() - h0 < asked {
        return Err("curve-store: not every request was answered from the cache".into());
    }
    auth.stop()?;
    Ok(rate)
}
