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

/// Whether any ZAP-loop hook is armed: one relaxed load per step when none is.
static ZAP_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The per-request step of the ZAP loop that panics, if any.
static ZAP_PANIC_STEP: Mutex<Option<&'static str>> = Mutex::new(None);
/// Set to make the ZAP loop end as if its poll had failed.
static ZAP_END: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every request's step `step` of the ZAP loop panic, as a bug there would
/// (`None`: no more panics). Steps: `parse`, `decide`, `lockout`, `answer` (reply and
/// metrics), `event`, `reply` (sending it); for an answer back from the pool also
/// `pooled-parse` and `pooled-lockout`.
pub fn panic_in_zap_step(step: Option<&'static str>) {
    *ZAP_PANIC_STEP.lock() = step;
    ZAP_ARMED.store(
        step.is_some() || ZAP_END.load(std::sync::atomic::Ordering::SeqCst),
        std::sync::atomic::Ordering::SeqCst,
    );
}

/// Makes the ZAP loop end at its next wake-up as if libzmq's poll had failed (an
/// unexpected exit, not a stop).
pub fn end_zap_loop() {
    ZAP_END.store(true, std::sync::atomic::Ordering::SeqCst);
    ZAP_ARMED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Called by the ZAP loop as it starts each per-request step.
pub(crate) fn zap_step(step: &str) {
    if !ZAP_ARMED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let armed = *ZAP_PANIC_STEP.lock();
    if armed == Some(step) {
        panic!("test hook: deliberate panic in ZAP step {step}");
    }
}

/// Called by the ZAP loop at each wake-up: true once after [`end_zap_loop`].
pub(crate) fn zap_loop_should_end() -> bool {
    ZAP_ARMED.load(std::sync::atomic::Ordering::Relaxed)
        && ZAP_END.swap(false, std::sync::atomic::Ordering::SeqCst)
}
