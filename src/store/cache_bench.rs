//! Measurements of the store cache for `benches/auth` (issue 19): the pause an
//! `invalidate` makes a cached look-up wait, and the negative cache's bytes at its
//! budget. Hidden: the cache is internal, and only the bench calls these.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache::{Cache, KeyEntry};

/// What [`invalidate_pause`] measured.
#[derive(Debug, Clone)]
pub struct InvalidatePause {
    /// Known and unknown keys offered (half each).
    pub inserted: usize,
    /// Entries the tables held when `invalidate` was called (known, unknown): the byte
    /// budgets cap them below what was inserted.
    pub held: (usize, usize),
    /// Bytes the tables held then (known, unknown).
    pub bytes: (usize, usize),
    /// How long the `invalidate` call itself took.
    pub call: Duration,
    /// The longest a cached look-up on another thread took while `invalidate` ran
    /// (including its own probe).
    pub worst_lookup: Duration,
    /// The same over a window of look-ups with no `invalidate` (the reader's noise).
    pub worst_lookup_idle: Duration,
}

/// A key that differs from its neighbours in its first bytes.
fn key(i: usize, salt: u8) -> [u8; 32] {
    let mut k = [salt; 32];
    k[..8].copy_from_slice(&(i as u64).to_le_bytes());
    k
}

/// The most entries of each kind the budgets keep when `entries` known and `entries`
/// unknown keys are cached in turn (a table past its budget is emptied and refilled).
fn most_held(entries: usize) -> (usize, usize) {
    let c = Cache::new(true);
    let (mut known, mut unknown) = (0, 0);
    for i in 0..entries {
        let entry = KeyEntry::Known {
            metadata: None,
            expires: None,
        };
        c.put_key(c.generation(), "*", key(i, 0), entry);
        c.put_key(c.generation(), "*", key(i, 1), KeyEntry::Unknown);
        let (k, u) = c.lens();
        (known, unknown) = (known.max(k), unknown.max(u));
    }
    (known, unknown)
}

/// Fills a cache as full as its byte budgets let `entries` known and `entries` unknown
/// keys make it, then times `invalidate` while another thread keeps looking up a cached
/// key.
pub fn invalidate_pause(entries: usize) -> InvalidatePause {
    let (known, unknown) = most_held(entries);
    let c = Arc::new(Cache::new(true));
    for i in 0..known {
        let entry = KeyEntry::Known {
            metadata: None,
            expires: None,
        };
        c.put_key(c.generation(), "*", key(i, 0), entry);
    }
    for i in 0..unknown {
        c.put_key(c.generation(), "*", key(i, 1), KeyEntry::Unknown);
    }
    let probe = key(0, 0);
    let held = c.lens();
    let (kb, ub, _) = c.bytes();
    let worst_lookup_idle = worst_during(&c, probe, || ());
    let mut call = Duration::ZERO;
    let worst_lookup = worst_during(&c, probe, || {
        let t = Instant::now();
        c.invalidate();
        call = t.elapsed();
    });
    InvalidatePause {
        inserted: entries.saturating_mul(2),
        held,
        bytes: (kb, ub),
        call,
        worst_lookup,
        worst_lookup_idle,
    }
}

/// The longest look-up of `probe` on another thread while `during` runs (with 20 ms
/// of look-ups before it and 30 ms after).
fn worst_during(c: &Arc<Cache>, probe: [u8; 32], during: impl FnOnce()) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let reader = {
        let (c, stop, started) = (Arc::clone(c), Arc::clone(&stop), Arc::clone(&started));
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Acquire) {
                let t = Instant::now();
                let _ = c.get_key("*", &probe);
                worst = worst.max(t.elapsed());
                started.store(true, Ordering::Release);
            }
            worst
        })
    };
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20));
    during();
    std::thread::sleep(Duration::from_millis(30));
    stop.store(true, Ordering::Release);
    reader.join().unwrap_or_default()
}

/// The negative cache's peak bytes and entries while `inserted` distinct unknown keys
/// are cached one after another, and its budget: (peak bytes, entries then, budget).
pub fn negative_peak(inserted: usize) -> (usize, usize, usize) {
    let c = Cache::new(true);
    let (mut peak, mut at_peak) = (0, 0);
    for i in 0..inserted {
        c.put_key(c.generation(), "*", key(i, 2), KeyEntry::Unknown);
        let (_, unknown, _) = c.bytes();
        if unknown > peak {
            peak = unknown;
            at_peak = c.lens().1;
        }
    }
    (peak, at_peak, super::cache::UNKNOWN_BUDGET)
}
