//! ZAP throughput: each configuration in its own context, against its floor.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zmq_auth::zmq;
use zmq_auth::ThreadAuthenticator;

use crate::certs::CertDir;
use crate::zap::{self, BoxError, Workload};
use crate::{Params, DOMAIN};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Config {
    BareNull,
    Null,
    BarePlain,
    Plain,
    BareCurve,
    /// [`BareCurve`](Config::BareCurve) sending the key's Z85 text as User-Id (info).
    BareCurveUid,
    /// A bare responder through raw libzmq calls ([`crate::raw_bare`]; info), NULL.
    RawNull,
    /// The same, CURVE, sending the key's Z85 text as User-Id (info).
    RawCurveUid,
    CurveDir,
    CurveCallback,
    CurveSmall,
    CurveBig,
    /// The CURVE request stream with [`CALLBACK_INFLIGHT`] in flight (the callback row's
    /// floor).
    BareCurveCb,
    /// NULL while a second DEALER keeps the pool busy with a 50 ms CURVE callback.
    NullBusy,
    /// PLAIN, same.
    PlainBusy,
    /// NULL, PLAIN and CURVE (directory) with the lock-out on ([`lockout`]).
    LockNull,
    LockPlain,
    LockCurve,
}

pub const CONFIGS: [Config; 18] = [
    Config::BareNull,
    Config::Null,
    Config::BarePlain,
    Config::Plain,
    Config::BareCurve,
    Config::BareCurveUid,
    Config::RawNull,
    Config::RawCurveUid,
    Config::CurveDir,
    Config::CurveCallback,
    Config::CurveSmall,
    Config::CurveBig,
    Config::BareCurveCb,
    Config::NullBusy,
    Config::PlainBusy,
    Config::LockNull,
    Config::LockPlain,
    Config::LockCurve,
];

/// The lock-out of the `Lock*` rows: 5 failures in 60 s ban an address for 15 minutes
/// (README's example). The load is all admitted, so no address is ever banned: the rows
/// show what the check costs every request.
pub fn lockout(a: &ThreadAuthenticator) -> zmq_auth::Result<()> {
    a.limit_failures(5, Duration::from_secs(60), Duration::from_secs(900))
}

/// Requests in flight for the CURVE callback row. With the default pool (4 threads,
/// 16 waiting requests per thread) more than 64 waiting requests are answered 300 at
/// once by design (saturation, DESIGN.md §5 item 6), so the row runs at the deepest
/// load the default pool accepts, and so does its floor.
pub const CALLBACK_INFLIGHT: usize = 64;
/// How long the busy CURVE callback of the `*Busy` rows takes.
pub const BUSY_CALLBACK: Duration = Duration::from_millis(50);
/// CURVE requests the second DEALER keeps in flight in the `*Busy` rows: every pool
/// thread busy and as many waiting, far from saturation.
pub const BUSY_INFLIGHT: usize = 8;

/// One measurement: requests/s of the timed stream; for the `*Busy` rows also the
/// slow CURVE answers/s the second DEALER got meanwhile.
pub struct Measured {
    pub rate: f64,
    pub side_rate: Option<f64>,
}

pub struct Data {
    pub dir: CertDir,
    pub small: CertDir,
    pub big: CertDir,
    pub users: Vec<(String, String)>,
    pub z85: Arc<HashSet<String>>,
    pub w_null: Workload,
    pub w_plain: Workload,
    pub w_curve: Workload,
    pub w_small: Workload,
    pub w_big: Workload,
}

/// Waits until the process has been idle for 300 ms (under 2 ms of CPU in each 50 ms;
/// at most 5 s in all): configuring a certificate directory is followed at once (the
/// call wakes the watcher) by its catch-up pass (it lists and stats the
/// directory once more: about 150 ms of CPU at 100,000 certificates), which the timed
/// stream would otherwise share the cores with. The rows measure the steady state;
/// that one-off cost is its own row (the safety-net full pass).
fn quiet() {
    let start = Instant::now();
    let mut before = crate::watch::cpu_time();
    let mut idle = 0;
    while idle < 6 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        let now = crate::watch::cpu_time();
        if now.saturating_sub(before) < Duration::from_millis(2) {
            idle += 1;
        } else {
            idle = 0;
        }
        before = now;
    }
}

pub fn measure(cfg: Config, d: &Data, p: &Params) -> Result<Measured, BoxError> {
    let ctx = zmq::Context::new();
    let run =
        |w: &Workload, inflight: usize| zap::throughput(&ctx, w, p.warmup, p.requests, inflight);
    let plain = |r: Result<f64, BoxError>| {
        r.map(|rate| Measured {
            rate,
            side_rate: None,
        })
    };
    let bare_with = |w: &Workload, inflight: usize, uid: bool| -> Result<Measured, BoxError> {
        let _b = zap::start_bare_with(&ctx, uid)?;
        // As before ours: both streams start from the same idle state.
        quiet();
        plain(run(w, inflight))
    };
    let bare = |w: &Workload, inflight: usize| bare_with(w, inflight, false);
    let raw = |w: &Workload, uid: bool| -> Result<Measured, BoxError> {
        let _b = if uid {
            crate::raw_bare::start::<true>(&ctx)?
        } else {
            crate::raw_bare::start::<false>(&ctx)?
        };
        quiet();
        plain(run(w, p.inflight))
    };
    let ours = |setup: &dyn Fn(&ThreadAuthenticator) -> zmq_auth::Result<()>,
                w: &Workload|
     -> Result<Measured, BoxError> {
        let auth = ThreadAuthenticator::start(&ctx)?;
        setup(&auth)?;
        quiet();
        plain(run(w, p.inflight))
    };
    let busy = |setup: &dyn Fn(&ThreadAuthenticator) -> zmq_auth::Result<()>,
                w: &Workload|
     -> Result<Measured, BoxError> {
        let auth = ThreadAuthenticator::start(&ctx)?;
        setup(&auth)?;
        auth.configure_curve_callback(DOMAIN, |_: &str, _: &str| {
            std::thread::sleep(BUSY_CALLBACK);
            true
        })?;
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let side = s.spawn(|| zap::keep_busy(&ctx, &d.w_curve, BUSY_INFLIGHT, &stop));
            // Let the pool fill up before the timed stream starts.
            std::thread::sleep(BUSY_CALLBACK);
            let rate = run(w, p.inflight);
            stop.store(true, Ordering::Release);
            let side = side.join().map_err(|_| "the busy CURVE client panicked")?;
            let (answers, elapsed) = side?;
            Ok(Measured {
                rate: rate?,
                side_rate: Some(answers as f64 / elapsed.as_secs_f64()),
            })
        })
    };
    match cfg {
        Config::BareNull => bare(&d.w_null, p.inflight),
        Config::BarePlain => bare(&d.w_plain, p.inflight),
        Config::BareCurve => bare(&d.w_curve, p.inflight),
        Config::BareCurveUid => bare_with(&d.w_curve, p.inflight, true),
        Config::RawNull => raw(&d.w_null, false),
        Config::RawCurveUid => raw(&d.w_curve, true),
        Config::BareCurveCb => bare(&d.w_curve, CALLBACK_INFLIGHT.min(p.inflight)),
        Config::Null => ours(&|_| Ok(()), &d.w_null),
        Config::Plain => ours(&|a| a.configure_plain(DOMAIN, d.users.clone()), &d.w_plain),
        Config::CurveDir => ours(&|a| a.configure_curve(DOMAIN, &d.dir.dir), &d.w_curve),
        Config::CurveCallback => {
            let auth = ThreadAuthenticator::start(&ctx)?;
            let set = Arc::clone(&d.z85);
            auth.configure_curve_callback(DOMAIN, move |_: &str, key: &str| set.contains(key))?;
            plain(run(&d.w_curve, CALLBACK_INFLIGHT.min(p.inflight)))
        }
        Config::CurveSmall => ours(&|a| a.configure_curve(DOMAIN, &d.small.dir), &d.w_small),
        Config::CurveBig => ours(&|a| a.configure_curve(DOMAIN, &d.big.dir), &d.w_big),
        Config::NullBusy => busy(&|_| Ok(()), &d.w_null),
        Config::PlainBusy => busy(&|a| a.configure_plain(DOMAIN, d.users.clone()), &d.w_plain),
        Config::LockNull => ours(&lockout, &d.w_null),
        Config::LockPlain => ours(
            &|a| {
                lockout(a)?;
                a.configure_plain(DOMAIN, d.users.clone())
            },
            &d.w_plain,
        ),
        Config::LockCurve => ours(
            &|a| {
                lockout(a)?;
                a.configure_curve(DOMAIN, &d.dir.dir)
            },
            &d.w_curve,
        ),
    }
}

/// `keys` repeated (or cut) to `len` entries, so that the generator walks a
/// credential table of the same size whatever the number of distinct keys.
pub fn cycle_to(keys: &[[u8; 32]], len: usize) -> Vec<[u8; 32]> {
    keys.iter().copied().cycle().take(len).collect()
}
