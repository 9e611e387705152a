//! Credential stores (issue 13): cached CURVE look-ups from a big SQLite store against
//! the bare floor, uncached look-up latency and revocation latency for SQLite and
//! PostgreSQL, argon2id PLAIN checks per second, and the PostgreSQL store against a
//! CURVE callback that runs the same queries on its own connection without a cache.
//!
//! Keys are random 32-byte strings (a store holds Z85 text and ZAP requests carry the
//! 32 bytes; no handshake is made, so they need not be real CURVE keys). One key set is
//! cut into disjoint slices: the cached working set, the keys of the latency runs, the
//! keys revoked, and fresh keys for every uncached throughput run, so that "uncached"
//! means no request ever asked for its key before.

use std::time::{Duration, Instant};

use zmq_auth::zmq;
use zmq_auth::{encode_z85_key, ThreadAuthenticator};

use crate::table::{median_f, ms, rate, Row, Target};
use crate::throughput::CALLBACK_INFLIGHT;
use crate::zap::{self, BoxError, Workload};
use crate::{Params, DOMAIN};

/// The engine's default pool size, set explicitly where a row depends on it.
#[cfg(feature = "sqlite")]
const POOL_THREADS: usize = 4;

/// Revocation must reach every server "within a second" (issue 13's title).
const REVOCATION_BUDGET: Duration = Duration::from_secs(1);

/// `n` pseudo-random 32-byte keys (splitmix64; distinct in practice).
pub fn random_keys(n: usize, seed: u64) -> Vec<[u8; 32]> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            let mut k = [0u8; 32];
            for c in k.chunks_mut(8) {
                c.copy_from_slice(&next().to_le_bytes());
            }
            k
        })
        .collect()
}

/// The key set cut into disjoint slices.
pub struct Keys {
    pub all: Vec<[u8; 32]>,
    /// Cached throughput (and `still_admits`) works on `all[..working]`.
    pub working: usize,
    next: usize,
}

impl Keys {
    pub fn new(p: &Params) -> Keys {
        Keys {
            all: random_keys(p.store_keys, 0x5eed_0013),
            working: p.store_working,
            next: p.store_working,
        }
    }

    /// `n` keys no earlier slice has.
    pub fn fresh(&mut self, n: usize) -> Result<&[[u8; 32]], BoxError> {
        let (a, b) = (self.next, self.next + n);
        if b > self.all.len() {
            return Err(format!("the store has {} keys, {b} needed", self.all.len()).into());
        }
        self.next = b;
        Ok(&self.all[a..b])
    }

    pub fn working_set(&self) -> &[[u8; 32]] {
        &self.all[..self.working]
    }
}

/// A median and a 99th percentile.
type P50P99 = (Duration, Duration);

fn p50_p99(v: &mut [Duration]) -> P50P99 {
    (
        crate::slow::quantile(v, 0.5),
        crate::slow::quantile(v, 0.99),
    )
}

/// One ZAP round trip per key, one in flight, on `ctx` (an authenticator with the store
/// is running): p50 and p99 of cached keys (asked just before) and of uncached ones.
fn latencies(
    ctx: &zmq::Context,
    cached: &[[u8; 32]],
    uncached: &[[u8; 32]],
) -> Result<(P50P99, P50P99), BoxError> {
    let wc = Workload::curve(DOMAIN, cached);
    zap::round_trips_n(ctx, &wc, cached.len())?; // now they are cached
    let mut c = zap::round_trips_n(ctx, &wc, cached.len())?;
    let mut u = zap::round_trips_n(ctx, &Workload::curve(DOMAIN, uncached), uncached.len())?;
    Ok((p50_p99(&mut c), p50_p99(&mut u)))
}

/// For each key: admitted once (so it is cached), revoked through `revoke` (another
/// handle on the same database), then asked for one request at a time until refused.
/// The time runs from just before the revoking call to the first 400.
fn revocations(
    ctx: &zmq::Context,
    keys: &[[u8; 32]],
    revoke: &dyn Fn(&str) -> zmq_auth::Result<bool>,
) -> Result<Vec<Duration>, BoxError> {
    let mut out = Vec::new();
    for k in keys {
        let w = Workload::curve(DOMAIN, std::slice::from_ref(k));
        let status = zap::status_of(ctx, &w)?;
        if status != 200 {
            return Err(format!("key to revoke: status {status}, expected 200").into());
        }
        // The engine's watcher and the store's own threads settle between repetitions.
        std::thread::sleep(Duration::from_millis(30));
        let t = Instant::now();
        if !revoke(&encode_z85_key(k))? {
            return Err("the key to revoke was not in the store".into());
        }
        out.push(zap::until_status(ctx, &w, 400, t, Duration::from_secs(10))?);
    }
    Ok(out)
}

fn revocation_row(what: &str, mut v: Vec<Duration>) -> Row {
    let n = v.len();
    let median = crate::slow::quantile(&mut v, 0.5);
    let worst = crate::slow::quantile(&mut v, 1.0);
    Row {
        name: format!("{what}: revocation -> first refusal, median / worst of {n} (vs 1 s)"),
        floor: ms(REVOCATION_BUDGET),
        ours: format!("{} / {}", ms(median), ms(worst)),
        ratio: Some(worst.as_secs_f64() / REVOCATION_BUDGET.as_secs_f64()),
        target: Target::AtMost(1.0),
    }
}

fn latency_rows(
    what: &str,
    n: usize,
    cached: (Duration, Duration),
    uncached: (Duration, Duration),
) -> Row {
    Row {
        name: format!(
            "{what}: uncached CURVE look-up, ZAP round trip p50 / p99 ({n} keys, 1 in flight; floor: cached p50 / p99)"
        ),
        floor: format!("{} / {}", crate::table::us(cached.0), crate::table::us(cached.1)),
        ours: format!(
            "{} / {}",
            crate::table::us(uncached.0),
            crate::table::us(uncached.1)
        ),
        ratio: None,
        target: Target::Info,
    }
}

// ---------------------------------------------------------------- SQLite ----

#[cfg(feature = "sqlite")]
pub use sqlite::fill as fill_sqlite;

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use std::path::Path;
    use zmq_auth::store::SqliteStore;
    use zmq_auth::Mechanism;

    /// The keys inserted under [`DOMAIN`] in one transaction (the public `add_key`
    /// commits once per key), sorted so that the primary-key index grows at its end.
    pub fn fill(path: &Path, keys: &[[u8; 32]]) -> Result<(), BoxError> {
        let mut z85: Vec<String> = keys.iter().map(encode_z85_key).collect();
        z85.sort_unstable();
        let mut conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA cache_size = -262144")?;
        let tx = conn.transaction()?;
        {
            let mut st =
                tx.prepare("INSERT INTO zmq_auth_keys (domain, public_key) VALUES (?1, ?2)")?;
            for k in &z85 {
                st.execute([DOMAIN, k.as_str()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn rows(
        p: &Params,
        keys: &mut Keys,
        rows: &mut Vec<Row>,
        summary: &mut Vec<(String, f64)>,
    ) -> Result<(), BoxError> {
        let tmp = tempfile::tempdir()?;
        let path = tmp.path().join("bench.db");
        let n = keys.all.len();
        eprintln!("SQLite store: filling {n} keys...");
        let t = Instant::now();
        let store = SqliteStore::open(&path)?;
        fill(&path, &keys.all)?;
        let fill_time = t.elapsed();
        eprintln!("  filled in {:.1} s", fill_time.as_secs_f64());
        summary.push(("sqlite_fill_s".into(), fill_time.as_secs_f64()));
        // The store's watcher (every 100 ms) sees the fill and empties the cache; let
        // that happen before the cache is warmed.
        std::thread::sleep(Duration::from_millis(300));

        // ---- cached look-ups vs the bare floor, interleaved rounds ----
        let working = keys.working_set().to_vec();
        let w = Workload::curve(DOMAIN, &working);
        let (mut bare, mut ours) = (Vec::new(), Vec::new());
        let mut cold = None;
        for round in 0..p.rounds {
            for k in 0..2 {
                let ctx = zmq::Context::new();
                if (k + round) % 2 == 0 {
                    let _b = zap::start_bare(&ctx)?;
                    bare.push(zap::throughput(&ctx, &w, p.warmup, p.requests, p.inflight)?);
                    continue;
                }
                let auth = ThreadAuthenticator::start(&ctx)?;
                auth.configure_curve_store(DOMAIN, store.clone())?;
                // Every working-set key once (through the pool the first time), at the
                // deepest load the default pool accepts.
                let h0 = store.cache_hits();
                let warm = zap::throughput(&ctx, &w, 0, working.len(), CALLBACK_INFLIGHT)?;
                if cold.is_none() {
                    if store.cache_hits() - h0 > (working.len() / 100) as u64 {
                        return Err("the first warm-up pass was answered from the cache".into());
                    }
                    cold = Some(warm);
                }
                let h0 = store.cache_hits();
                ours.push(zap::throughput(&ctx, &w, p.warmup, p.requests, p.inflight)?);
                let hits = store.cache_hits() - h0;
                let asked = (p.warmup + p.requests) as u64;
                if hits < asked {
                    eprintln!("  warning: {hits} cache hits for {asked} requests");
                }
            }
        }
        let paired = crate::table::paired_ratio(&bare, &ours);
        let (b, o) = (median_f(bare), median_f(ours));
        summary.push(("sqlite_cached_bare".into(), b));
        summary.push(("sqlite_cached".into(), o));
        rows.push(Row {
            name: format!(
                "ZAP CURVE, SQLite store of {n} keys, cached ({} distinct keys asked)",
                working.len()
            ),
            floor: rate(b),
            ours: rate(o),
            ratio: Some(paired),
            target: Target::AtLeast(0.9),
        });
        let cold = cold.unwrap_or(0.0);
        summary.push(("sqlite_uncached_rate".into(), cold));
        rows.push(Row {
            name: format!(
                "  same, first pass: every key uncached (pool, {CALLBACK_INFLIGHT} in flight)"
            ),
            floor: "-".into(),
            ours: rate(cold),
            ratio: None,
            target: Target::Info,
        });

        // ---- latency, revocation, still_admits ----
        let ctx = zmq::Context::new();
        let auth = ThreadAuthenticator::start(&ctx)?;
        auth.configure_curve_store(DOMAIN, store.clone())?;
        let cached = working[..p.store_latency.min(working.len())].to_vec();
        let uncached = keys.fresh(p.store_latency)?.to_vec();
        let (c, u) = latencies(&ctx, &cached, &uncached)?;
        summary.push(("sqlite_uncached_p50_us".into(), u.0.as_secs_f64() * 1e6));
        summary.push(("sqlite_uncached_p99_us".into(), u.1.as_secs_f64() * 1e6));
        rows.push(latency_rows("SQLite", uncached.len(), c, u));

        // still_admits per message from the store's cache (the latency pass cached these).
        let z85: Vec<String> = cached.iter().map(encode_z85_key).collect();
        let ns = crate::ops::ns_per_call(p.still_calls, |i| {
            auth.still_admits(DOMAIN, Mechanism::Curve, &z85[i % z85.len()])
        })?;
        summary.push(("still_admits_sqlite_ns".into(), ns));
        rows.push(Row {
            name: format!(
                "still_admits per message, CURVE from the SQLite store's cache ({} keys)",
                z85.len()
            ),
            floor: "-".into(),
            ours: format!("{ns:.0} ns"),
            ratio: None,
            target: Target::Info,
        });

        let other = SqliteStore::open(&path)?;
        let revoked = keys.fresh(p.store_revocations)?.to_vec();
        let v = revocations(&ctx, &revoked, &|k| {
            other.revoke_key(DOMAIN, k).map(|r| r.removed)
        })?;
        summary.push((
            "sqlite_revocation_worst_ms".into(),
            v.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3,
        ));
        rows.push(revocation_row(
            "SQLite (another handle; PRAGMA data_version every 100 ms)",
            v,
        ));
        drop(auth);

        argon2_rows(p, tmp.path(), rows, summary)
    }

    /// argon2id PLAIN checks/s through the engine (users in a SQLite store, their hashes
    /// cached after the first request, every check on the pool) against the ideal: the
    /// single-thread verify rate times the cores the pool can use.
    fn argon2_rows(
        p: &Params,
        dir: &Path,
        rows: &mut Vec<Row>,
        summary: &mut Vec<(String, f64)>,
    ) -> Result<(), BoxError> {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        eprintln!("argon2id PLAIN checks...");
        let password = "correct-horse-battery-staple";
        let phc = zmq_auth::hash_password(password)?;
        let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
        let params = argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let label = format!(
            "{} m={} KiB, t={}, p={}",
            parsed.algorithm,
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        );
        let argon = argon2::Argon2::default();
        let t = Instant::now();
        for _ in 0..p.argon_single {
            argon
                .verify_password(password.as_bytes(), &parsed)
                .map_err(|e| e.to_string())?;
        }
        let single = p.argon_single as f64 / t.elapsed().as_secs_f64();
        let pool_threads = POOL_THREADS;
        let pool = zmq_auth::EngineOptions::default().pool_size(pool_threads);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ideal = single * cores.min(pool_threads) as f64;

        let store = SqliteStore::open(dir.join("users.db"))?;
        let users: Vec<(String, String)> = (0..8)
            .map(|i| (format!("user{i}"), format!("{password}-{i}")))
            .collect();
        for (u, pw) in &users {
            store.set_password(DOMAIN, u, pw)?;
        }
        std::thread::sleep(Duration::from_millis(300));
        let ctx = zmq::Context::new();
        let auth = ThreadAuthenticator::start_with(&ctx, pool)?;
        auth.configure_plain_store(DOMAIN, store.clone())?;
        let w = Workload::plain(DOMAIN, &users);
        let checks = zap::throughput(&ctx, &w, users.len(), p.argon_checks, 2 * pool_threads)?;
        summary.push(("argon2_single_per_s".into(), single));
        summary.push(("argon2_zap_per_s".into(), checks));
        rows.push(Row {
            name: format!(
                "ZAP PLAIN, argon2id ({label}) per check, SQLite store, {pool_threads} pool threads (vs {} cores x 1-thread verify)",
                cores.min(pool_threads)
            ),
            floor: rate(ideal),
            ours: rate(checks),
            ratio: Some(checks / ideal),
            target: Target::Info,
        });
        Ok(())
    }
}

// ------------------------------------------------------------ PostgreSQL ----

#[cfg(feature = "postgres")]
mod postgres_rows {
    use super::*;
    use std::sync::{Arc, Mutex};

    use postgres::{Client, NoTls};
    use zmq_auth::store::PostgresStore;
    use zmq_auth::EngineOptions;

    use crate::pg::Pg;

    /// The store's two queries (src/store/postgres/mod.rs, `find_key`).
    const FIND_KEY: &str =
        "SELECT domain, CAST(EXTRACT(EPOCH FROM expires) AS BIGINT) FROM zmq_auth_keys
         WHERE public_key = $1 AND domain IN ($2, '*')
           AND (expires IS NULL OR expires > now())
         ORDER BY domain = '*' LIMIT 1";
    const FIND_METADATA: &str = "SELECT name, value FROM zmq_auth_key_metadata
         WHERE domain = $1 AND public_key = $2 ORDER BY name";

    fn fill(conninfo: &str, keys: &[[u8; 32]]) -> Result<(), BoxError> {
        let mut c = Client::connect(conninfo, NoTls)?;
        let mut tx = c.transaction()?;
        for chunk in keys.chunks(100_000) {
            let z85: Vec<String> = chunk.iter().map(encode_z85_key).collect();
            tx.execute(
                "INSERT INTO zmq_auth_keys (domain, public_key) SELECT $1, unnest($2::text[])",
                &[&DOMAIN, &z85],
            )?;
        }
        tx.commit()?;
        c.batch_execute("ANALYZE zmq_auth_keys; ANALYZE zmq_auth_key_metadata")?;
        Ok(())
    }

    /// A CURVE callback doing what the store does on a miss, every time: the key query
    /// and the metadata query, on its own connections (one per pool thread at most,
    /// kept between calls, like the store's), no cache.
    fn callback(conninfo: Arc<str>) -> impl Fn(&str, &str) -> bool + Send + Sync + 'static {
        let idle: Mutex<Vec<Client>> = Mutex::new(Vec::new());
        move |domain: &str, key: &str| {
            let popped = idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let Some(mut c) = popped.or_else(|| Client::connect(&conninfo, NoTls).ok()) else {
                return false;
            };
            let found = c.query_opt(FIND_KEY, &[&key, &domain]).and_then(|row| {
                let Some(row) = row else { return Ok(false) };
                let d: String = row.get(0);
                c.query(FIND_METADATA, &[&d, &key]).map(|_| true)
            });
            match found {
                Ok(found) => {
                    if let Ok(mut v) = idle.lock() {
                        v.push(c);
                    }
                    found
                }
                Err(_) => false,
            }
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Cfg {
        StoreCached,
        CallbackCached,
        StoreUncached,
        CallbackUncached,
    }

    pub fn rows(
        p: &Params,
        keys: &mut Keys,
        rows: &mut Vec<Row>,
        summary: &mut Vec<(String, f64)>,
    ) -> Result<(), BoxError> {
        eprintln!("PostgreSQL store: starting a throwaway server...");
        let pg = match Pg::start() {
            Ok(pg) => pg,
            Err(why) if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) => {
                return Err(format!("CI=true and PostgreSQL cannot run: {why}").into())
            }
            Err(why) => {
                eprintln!("  skipping the PostgreSQL rows: {why}");
                rows.push(Row {
                    name: "PostgreSQL rows: skipped (no server binaries)".into(),
                    floor: "-".into(),
                    ours: "-".into(),
                    ratio: None,
                    target: Target::Info,
                });
                return Ok(());
            }
        };
        let conninfo = pg.conninfo();
        let store = PostgresStore::connect(&conninfo)?;
        let n = keys.all.len();
        eprintln!("  filling {n} keys...");
        let t = Instant::now();
        fill(&conninfo, &keys.all)?;
        eprintln!("  filled in {:.1} s", t.elapsed().as_secs_f64());
        summary.push(("pg_fill_s".into(), t.elapsed().as_secs_f64()));
        std::thread::sleep(Duration::from_millis(300));

        // ---- latency, revocation ----
        {
            let ctx = zmq::Context::new();
            let auth = ThreadAuthenticator::start(&ctx)?;
            auth.configure_curve_store(DOMAIN, store.clone())?;
            let cached = keys.working_set()[..p.store_latency.min(keys.working)].to_vec();
            let uncached = keys.fresh(p.store_latency)?.to_vec();
            let (c, u) = latencies(&ctx, &cached, &uncached)?;
            summary.push(("pg_uncached_p50_us".into(), u.0.as_secs_f64() * 1e6));
            summary.push(("pg_uncached_p99_us".into(), u.1.as_secs_f64() * 1e6));
            rows.push(latency_rows(
                &format!("PostgreSQL {n} keys"),
                uncached.len(),
                c,
                u,
            ));
            let other = PostgresStore::connect(&conninfo)?;
            let revoked = keys.fresh(p.store_revocations)?.to_vec();
            let v = revocations(&ctx, &revoked, &|k| {
                other.revoke_key(DOMAIN, k).map(|r| r.removed)
            })?;
            summary.push((
                "pg_revocation_worst_ms".into(),
                v.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3,
            ));
            rows.push(revocation_row(
                "PostgreSQL (another connection; LISTEN/NOTIFY)",
                v,
            ));
        }

        // ---- the store against a callback doing the same queries, no cache ----
        eprintln!("  store vs callback...");
        let cfgs = [
            Cfg::StoreCached,
            Cfg::CallbackCached,
            Cfg::StoreUncached,
            Cfg::CallbackUncached,
        ];
        let repeat = keys.working_set()[..p.pg_repeat_keys.min(keys.working)].to_vec();
        let w_repeat = Workload::curve(DOMAIN, &repeat);
        let conninfo: Arc<str> = Arc::from(conninfo.as_str());
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); cfgs.len()];
        let rounds = p.rounds.min(3);
        for round in 0..rounds {
            for k in 0..cfgs.len() {
                let i = (k + round) % cfgs.len();
                let ctx = zmq::Context::new();
                let auth = ThreadAuthenticator::start_with(&ctx, EngineOptions::default())?;
                let inflight = CALLBACK_INFLIGHT;
                let r = match cfgs[i] {
                    Cfg::StoreCached => {
                        auth.configure_curve_store(DOMAIN, store.clone())?;
                        zap::throughput(&ctx, &w_repeat, 0, repeat.len(), inflight)?;
                        zap::throughput(&ctx, &w_repeat, p.warmup, p.requests, inflight)?
                    }
                    Cfg::CallbackCached => {
                        auth.configure_curve_callback(DOMAIN, callback(Arc::clone(&conninfo)))?;
                        zap::throughput(&ctx, &w_repeat, inflight, p.pg_requests, inflight)?
                    }
                    Cfg::StoreUncached | Cfg::CallbackUncached => {
                        if cfgs[i] == Cfg::StoreUncached {
                            auth.configure_curve_store(DOMAIN, store.clone())?;
                        } else {
                            auth.configure_curve_callback(DOMAIN, callback(Arc::clone(&conninfo)))?;
                        }
                        let fresh = keys.fresh(inflight + p.pg_requests)?;
                        let w = Workload::curve(DOMAIN, fresh);
                        zap::throughput(&ctx, &w, inflight, p.pg_requests, inflight)?
                    }
                };
                results[i].push(r);
            }
        }
        let med: Vec<f64> = results.into_iter().map(median_f).collect();
        let [sc, cc, su, cu] = [med[0], med[1], med[2], med[3]];
        for (k, v) in [
            ("pg_store_cached", sc),
            ("pg_callback_repeat", cc),
            ("pg_store_uncached", su),
            ("pg_callback_uncached", cu),
        ] {
            summary.push((k.into(), v));
        }
        rows.push(Row {
            name: format!(
                "ZAP CURVE, PostgreSQL store vs callback (same queries, own connection, no cache), {} keys repeated, {CALLBACK_INFLIGHT} in flight",
                repeat.len()
            ),
            floor: rate(cc),
            ours: rate(sc),
            ratio: Some(sc / cc),
            target: Target::Info,
        });
        rows.push(Row {
            name: format!(
                "  same, every key new (both ask the database every time; {rounds} round(s))"
            ),
            floor: rate(cu),
            ours: rate(su),
            ratio: Some(su / cu),
            target: Target::Info,
        });
        drop(store);
        drop(pg);
        Ok(())
    }
}

/// Every store row this build can make (features `sqlite`, `postgres`).
pub fn rows(
    p: &Params,
    rows: &mut Vec<Row>,
    summary: &mut Vec<(String, f64)>,
) -> Result<(), BoxError> {
    eprintln!("credential stores: {} random keys...", p.store_keys);
    let mut keys = Keys::new(p);
    #[cfg(feature = "sqlite")]
    sqlite::rows(p, &mut keys, rows, summary)?;
    #[cfg(feature = "postgres")]
    postgres_rows::rows(p, &mut keys, rows, summary)?;
    // Issue 19: a burst to an uncached store, the cache's invalidate pause and budget.
    crate::store_scale::rows(p, rows, summary)?;
    let _ = &mut keys;
    Ok(())
}
