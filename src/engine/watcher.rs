//! The watcher: re-checks file sources every reload interval, off the ZAP loop, and
//! publishes a new snapshot when what they yield changed.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::shared::Shared;

/// Re-checks never come closer together than this (a zero interval would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Runs until `stop` is dropped or sent to.
pub(super) fn run(shared: &Arc<Shared>, stop: &Receiver<()>) {
    loop {
        let interval = shared.config.lock().reload_interval().max(MIN_INTERVAL);
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
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
