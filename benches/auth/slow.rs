//! The engine's slow parts seen from a client: the callback pool's throughput, and ZAP
//! round trips while the watcher re-checks a big certificate directory.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use zmq_auth::zmq;
use zmq_auth::{EngineOptions, ThreadAuthenticator};

use crate::certs::pyzmq_public_text;
use crate::zap::{self, BoxError, Workload};
use crate::DOMAIN;

/// CURVE requests/s of a `ThreadAuthenticator` whose pool has `threads` threads and
/// whose callback sleeps `callback` (and admits), `n` timed requests after a warm-up,
/// with 8 requests in flight per pool thread (half of what saturates it).
pub fn pool_throughput(
    threads: usize,
    callback: Duration,
    keys: &[[u8; 32]],
    n: usize,
) -> Result<f64, BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start_with(&ctx, EngineOptions::default().pool_size(threads))?;
    auth.configure_curve_callback(DOMAIN, move |_: &str, _: &str| {
        std::thread::sleep(callback);
        true
    })?;
    let w = Workload::curve(DOMAIN, keys);
    zap::throughput(&ctx, &w, threads * 4, n, threads * 8)
}

pub struct RecheckRtt {
    /// Every NULL round trip (1 in flight) while the watcher re-checked the directory.
    pub ours: Vec<Duration>,
    /// The bare responder's, over the same time, in the same rounds.
    pub bare: Vec<Duration>,
    /// From removing one certificate until a request with its key was refused
    /// (median over the rounds).
    pub revoked_after: Duration,
}

/// Polls until a CURVE request with `key` gets `status`; the time it took.
fn wait_for_status(ctx: &zmq::Context, key: &[u8; 32], status: u16) -> Result<Duration, BoxError> {
    let w = Workload::curve(DOMAIN, &[*key]);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if zap::status_of(ctx, &w)? == status {
            return Ok(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!("no {status} within 10 s of a certificate change").into())
}

/// NULL round trips for `window`, while a second client asks about the CURVE key
/// `known` every 20 ms (every answer must be 200). Before the redesign the directory
/// was re-checked on the ZAP thread when a CURVE request came, so without these the
/// old design would never have re-checked during the window.
fn probe(
    ctx: &zmq::Context,
    known: &[u8; 32],
    window: Duration,
) -> Result<Vec<Duration>, BoxError> {
    let stop = AtomicBool::new(false);
    let curve = Workload::curve(DOMAIN, &[*known]);
    std::thread::scope(|s| {
        let side = s.spawn(|| -> Result<(), BoxError> {
            while !stop.load(Ordering::Acquire) {
                let status = zap::status_of(ctx, &curve)?;
                if status != 200 {
                    return Err(format!("known CURVE key: status {status}").into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        });
        let rtts = zap::round_trips_for(ctx, &Workload::null(DOMAIN), window);
        stop.store(true, Ordering::Release);
        side.join().map_err(|_| "the CURVE client panicked")??;
        rtts
    })
}

/// `rounds` × (bare responder, then `ThreadAuthenticator` with `dir` configured and the
/// reload interval set to `interval`), `window` of NULL round trips each (see
/// [`probe`]; `known` is a key in `dir`). Before our window, a certificate is added and
/// waited for, which proves the watcher runs at the short interval; after it, the
/// certificate is removed and the time until it is refused is taken. The directory is
/// left as it was found.
pub fn rtt_during_recheck(
    dir: &Path,
    known: &[u8; 32],
    interval: Duration,
    window: Duration,
    rounds: usize,
) -> Result<RecheckRtt, BoxError> {
    let extra = zmq::CurveKeyPair::new()?.public_key;
    let extra_path = dir.join("zz-bench-recheck.key");
    let (mut ours, mut bare, mut revoked) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        {
            let ctx = zmq::Context::new();
            let _b = zap::start_bare(&ctx)?;
            bare.extend(probe(&ctx, known, window)?);
        }
        let ctx = zmq::Context::new();
        let auth = ThreadAuthenticator::start(&ctx)?;
        auth.configure_curve(DOMAIN, dir)?;
        auth.set_reload_interval(interval)?;
        let result = (|| -> Result<(), BoxError> {
            std::fs::write(&extra_path, pyzmq_public_text(&extra))?;
            wait_for_status(&ctx, &extra, 200)?;
            ours.extend(probe(&ctx, known, window)?);
            std::fs::remove_file(&extra_path)?;
            revoked.push(wait_for_status(&ctx, &extra, 400)?);
            Ok(())
        })();
        let _ = std::fs::remove_file(&extra_path);
        result?;
    }
    revoked.sort();
    Ok(RecheckRtt {
        ours,
        bare,
        revoked_after: revoked[revoked.len() / 2],
    })
}

/// The `q` quantile (0..=1) of `v` (sorted in place).
pub fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}
