//! The cross-thread hand-off every fail-closed promise of the engine rests on, on its own
//! so that `loom` can check it (tests/loom_handoff.rs includes this file and builds it
//! with loom's atomics and mutex under `--cfg loom`; FUZZING.md says what is checked).
//!
//! Three protocols between the caller's handle and watcher (publishers), the pool
//! (wakers) and the ZAP loop (the one reader):
//!
//! - **Snapshots.** [`Handoff::publish`] stores the snapshot, then bumps the generation
//!   (release). The loop compares [`Handoff::generation`] with the one it holds before
//!   each decision and reloads with [`Handoff::current`], which reads the generation
//!   first: a publish in between makes it reload once more, never keep an old snapshot
//!   under a new generation.
//! - **Wake-ups.** A pool thread queues its answer, then [`Handoff::wake`]: the first
//!   wake after the loop re-armed rings the bell (one byte on the control pipe); later
//!   ones are coalesced. The loop, before it sleeps, calls [`Handoff::woken`] (re-arm)
//!   and *then* looks at the answers once more: an answer queued before the re-arm is
//!   seen by that look, one queued after rings again.
//! - **Stop.** [`Handoff::stop`] sets a flag and rings unconditionally (never coalesced:
//!   a stop must not ride on a wake-up the loop already consumed). The loop reads the
//!   flag after draining the pipe, so the byte that woke it cannot hide the stop.

use std::sync::Arc;

#[cfg(all(loom, test))]
use loom::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Mutex, MutexGuard,
};
#[cfg(not(all(loom, test)))]
use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Mutex, MutexGuard,
};

/// How the hand-off wakes the ZAP loop: in the engine, one byte on the control pipe
/// (a full pipe already holds a wake-up; a closed one means the loop is gone).
pub(crate) trait Bell {
    /// Makes the loop's next (or current) wait return.
    fn ring(&self);
}

/// The snapshot slot, the generation, the stop flag and the wake-up coalescing.
pub(crate) struct Handoff<T, B> {
    /// The snapshot the ZAP loop answers from.
    snapshot: Mutex<Arc<T>>,
    /// Bumped after each publish: the loop reloads `snapshot` when it moved.
    generation: AtomicU64,
    /// Set once by `stop`; never lost, whatever else is queued.
    stop: AtomicBool,
    /// A wake-up byte is on its way: spares a send per answer under load.
    wake_pending: AtomicBool,
    bell: B,
}

/// The slot's lock; a panic while it was held cannot leave a half-written `Arc`.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T, B: Bell> Handoff<T, B> {
    /// Starts at generation 0 with `initial`.
    pub(crate) fn new(initial: T, bell: B) -> Handoff<T, B> {
        Handoff {
            snapshot: Mutex::new(Arc::new(initial)),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            bell,
        }
    }

    /// Makes `snapshot` the one every later request is decided by. Publishers are
    /// serialised by the caller (the engine's configuration lock).
    pub(crate) fn publish(&self, snapshot: T) {
        *lock(&self.snapshot) = Arc::new(snapshot);
        // After the store: a loop that sees the new generation finds the new snapshot.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The generation published last (cheap: the loop asks before every decision).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current snapshot and a generation it is at least as new as.
    pub(crate) fn current(&self) -> (Arc<T>, u64) {
        // Generation first: a publish in between makes the loop reload once more.
        let generation = self.generation();
        (Arc::clone(&lock(&self.snapshot)), generation)
    }

    /// Wakes the loop for new answers (coalesced); call after queueing the answer.
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.bell.ring();
        }
    }

    /// The loop is about to look at the answers one last time before it sleeps: later
    /// ones need a new wake-up. A read-modify-write (a full barrier), so the loop's
    /// following look at the answers cannot be ordered before it.
    pub(crate) fn woken(&self) {
        self.wake_pending.swap(false, Ordering::SeqCst);
    }

    /// Asks the loop (and the pool) to stop, and wakes the loop unconditionally.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.bell.ring();
    }

    /// Sets the stop flag without waking anyone (the loop never started).
    pub(crate) fn stop_quietly(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Has `stop` been called? The loop asks after draining the pipe.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The bell (the engine closes its end of the pipe after the loop ended).
    pub(crate) fn bell(&self) -> &B {
        &self.bell
    }
}
