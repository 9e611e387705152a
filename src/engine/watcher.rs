//! The watcher: re-checks file sources every reload interval, off the ZAP loop, and
//! publishes a new snapshot when what they yield changed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::shared::Shared;

/// Re-checks never come closer together than this (a zero interval would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest the watcher sleeps before looking at the interval (and stop) again.
const STEP: Duration = Duration::from_millis(50);

/// Runs until `stop` is dropped or sent to.
pub(super) fn run(shared: &Arc<Shared>, stop: &Receiver<()>) {
    let mut last = Instant::now();
    loop {
        // Wait in short steps, so a new reload interval applies at once.
        let interval = shared.reload_interval().max(MIN_INTERVAL);
        // A huge interval (Duration::MAX) must not overflow: it saturates.
        let due = crate::policy::lockout::saturating_after(last, interval);
        let now = Instant::now();
        if now < due {
            match stop.recv_timeout(due.saturating_duration_since(now).min(STEP)) {
                Err(RecvTimeoutError::Timeout) => continue,
                _ => return,
            }
        }
        last = Instant::now();
        // Take the sources under the lock, re-check them without it: a long pass over a
        // big directory holds up neither configuration calls nor, ever, the ZAP loop.
        let sources = shared.config.lock().sources();
        let mut changed = false;
        for s in &sources {
            changed |= s.recheck();
        }
        if changed {
            let config = shared.config.lock();
            shared.publish(config.snapshot());
        }
    }
}
