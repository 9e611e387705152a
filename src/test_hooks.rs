//! Instrumentation for this crate's own tests (feature `test-hooks`, which only the
//! crate's dev-dependency on itself turns on). Not a stable API; do not use it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
struct Gate {
    /// (re-checks that entered and wait, released)
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

static HOLD: Mutex<Option<Arc<Gate>>> = Mutex::new(None);

/// While this lives, every source re-check blocks as it starts (the watcher is stuck
/// "in the middle of a pass"); dropping it lets them go on.
pub struct RecheckHold {
    gate: Arc<Gate>,
}

/// Makes every re-check of a certificate directory or password file block until the
/// returned hold is dropped.
pub fn hold_rechecks() -> RecheckHold {
    let gate = Arc::new(Gate::default());
    *HOLD.lock() = Some(Arc::clone(&gate));
    RecheckHold { gate }
}

impl RecheckHold {
    /// Waits until a re-check is blocked by this hold; false on timeout.
    pub fn wait_entered(&self, timeout: Duration) -> bool {
        let mut state = self.gate.state.lock();
        if state.0 == 0 {
            let _ = self.gate.changed.wait_for(&mut state, timeout);
        }
        state.0 > 0
    }
}

impl Drop for RecheckHold {
    fn drop(&mut self) {
        HOLD.lock().take();
        self.gate.state.lock().1 = true;
        self.gate.changed.notify_all();
    }
}

/// Decides `request` like [`Authenticator::handle_zap_message`](crate::Authenticator::handle_zap_message),
/// with the lock-out clock at `now`: the fuzz targets drive failures, windows and bans
/// with a simulated clock (years pass in one run).
pub fn handle_zap_message_at(
    auth: &mut crate::Authenticator,
    request: &[&[u8]],
    now: std::time::Instant,
) -> crate::ZapReply {
    auth.handle_zap_message_at(request, now)
}

static PANICS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// While on, every source re-check panics (as a bug would).
pub fn set_recheck_panics(on: bool) {
    PANICS.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Called by every source re-check before it touches the file system.
pub(crate) fn recheck_started() {
    if PANICS.load(std::sync::atomic::Ordering::SeqCst) {
        panic!("test hook: deliberate test panic in a re-check");
    }
    let gate = HOLD.lock().clone();
    if let Some(gate) = gate {
        let mut state = gate.state.lock();
        state.0 += 1;
        gate.changed.notify_all();
        while !state.1 {
            gate.changed.wait(&mut state);
        }
    }
}
