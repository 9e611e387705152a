//! Instrumentation for this crate's own tests (feature `test-hooks`, which only the
//! crate's dev-dependency on itself turns on). Not a stable API; do not use it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
struct Gate {
    /// (re-checks that entered and wait, released)
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

static HOLD: Mutex<Option<(Arc<Gate>, bool)>> = Mutex::new(None);

/// While this lives, every source re-check blocks as it starts (the watcher is stuck
/// "in the middle of a pass"); dropping it lets them go on.
pub struct RecheckHold {
    gate: Arc<Gate>,
}

/// Makes every re-check of a certificate directory or password file block until the
/// returned hold is dropped.
pub fn hold_rechecks() -> RecheckHold {
    hold(false)
}

/// As [`hold_rechecks`], but only the engines' watcher threads are held: a re-check made
/// on another thread (a `configure` closure's) goes through.
pub fn hold_watcher_rechecks() -> RecheckHold {
    hold(true)
}

fn hold(watcher_only: bool) -> RecheckHold {
    let gate = Arc::new(Gate::default());
    *HOLD.lock() = Some((Arc::clone(&gate), watcher_only));
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
    let on_watcher = std::thread::current().name() == Some("zmq-auth-watcher");
    if let Some((gate, _)) = gate.filter(|(_, only)| !only || on_watcher) {
        let mut state = gate.state.lock();
        state.0 += 1;
        gate.changed.notify_all();
        while !state.1 {
            gate.changed.wait(&mut state);
        }
    }
}

/// Whether any ZAP-loop hook is armed: one relaxed load per request when none is.
static ZAP_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The per-request step of the ZAP loop that panics, if any.
static ZAP_PANIC_STEP: Mutex<Option<&'static str>> = Mutex::new(None);
/// Set to make the ZAP loop end as if its poll had failed.
static ZAP_END: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every request's step `step` of the ZAP loop panic, as a bug there would
/// (`None`: no more panics). Steps: `parse`, `decide`, `lockout`, `answer` (reply and
/// metrics), `event`, `reply` (sending it); for an answer back from the pool also
/// `pooled-parse` and `pooled-lockout`; and `prefetch`, the hint for a request received
/// ahead of the one being answered (the request itself is then served as usual).
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

/// Whether any ZAP-loop hook is armed: the ZAP loop looks once per request (one relaxed
/// load), and calls [`zap_step`] at each step only when this said yes.
#[inline(always)]
pub(crate) fn zap_armed() -> bool {
    ZAP_ARMED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Called by the ZAP loop as it starts each per-request step, when [`zap_armed`] said
/// so for that request.
#[cold]
#[inline(never)]
pub(crate) fn zap_step(step: &str) {
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

/// Full passes (list and stat everything) per source path.
static FULL_PASSES: Mutex<Option<HashMap<PathBuf, u64>>> = Mutex::new(None);

/// How many full passes (listing the directory and stat'ing every file, or a password
/// file's periodic re-read) the engines made over the source configured as `path` (the
/// path exactly as given to `configure_curve` / `configure_plain_file`).
pub fn full_passes(path: &Path) -> u64 {
    FULL_PASSES
        .lock()
        .as_ref()
        .and_then(|m| m.get(path).copied())
        .unwrap_or(0)
}

pub(crate) fn full_pass_done(path: &Path) {
    let mut map = FULL_PASSES.lock();
    let n = map
        .get_or_insert_with(HashMap::new)
        .entry(path.to_path_buf())
        .or_insert(0);
    *n = n.saturating_add(1);
}

/// Directories whose event watch is refused, as if the OS could not watch them.
static REFUSED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Makes every later attempt to watch directory `dir` (absolute) for events fail, so
/// that its sources fall back to polling.
pub fn refuse_watch(dir: &Path) {
    REFUSED.lock().push(dir.to_path_buf());
}

pub(crate) fn watch_refused(dir: &Path) -> bool {
    REFUSED.lock().iter().any(|d| d == dir)
}

/// Event intakes by watched directory: how [`overflow_events`] reaches them.
#[allow(clippy::type_complexity)]
static INTAKES: Mutex<Vec<(PathBuf, std::sync::Weak<dyn Fn() + Send + Sync>)>> =
    Mutex::new(Vec::new());

pub(crate) fn register_intake(dir: &Path, inject: &Arc<dyn Fn() + Send + Sync>) {
    let mut list = INTAKES.lock();
    list.retain(|(_, w)| w.strong_count() > 0);
    list.push((dir.to_path_buf(), Arc::downgrade(inject)));
}

/// Delivers an event-queue overflow (what the OS reports as `IN_Q_OVERFLOW`, notify as
/// its rescan flag) to every engine watching directory `dir` (absolute), through the
/// same handler real events take. Returns how many engines got it.
pub fn overflow_events(dir: &Path) -> usize {
    let hits: Vec<_> = INTAKES
        .lock()
        .iter()
        .filter(|(d, _)| d == dir)
        .filter_map(|(_, w)| w.upgrade())
        .collect();
    for inject in &hits {
        inject();
    }
    hits.len()
}

/// Policy snapshots freed, by the thread that freed them: the ZAP loop's, the watcher's.
static FREED_ON_ZAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static FREED_ON_WATCHER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many policy snapshots were freed on a ZAP loop thread (`zmq-auth`), and how many
/// on a watcher thread, in this process.
pub fn snapshots_freed() -> (u64, u64) {
    (
        FREED_ON_ZAP.load(std::sync::atomic::Ordering::SeqCst),
        FREED_ON_WATCHER.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// A field of every policy snapshot: counts where snapshots are freed.
#[derive(Default)]
pub(crate) struct DropProbe;

impl Drop for DropProbe {
    fn drop(&mut self) {
        let counter = match std::thread::current().name() {
            Some("zmq-auth") => &FREED_ON_ZAP,
            Some("zmq-auth-watcher") => &FREED_ON_WATCHER,
            _ => return,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}
