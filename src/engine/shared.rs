//! State shared by the caller's handle, the ZAP loop, the pool and the watcher. The
//! cross-thread protocol itself (snapshots, wake-ups, stop) is in [`super::handoff`],
//! where loom checks it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use super::handoff::{Bell, Handoff};
use crate::authenticator::Authenticator;
use crate::policy::Policy;
use crate::sources::Source;

/// The caller's end of the control pipe: one byte means "look at the stop flag and the
/// results queue". `None` once stopped.
pub(super) struct Waker(Mutex<Option<zmq::Socket>>);

impl Bell for Waker {
    fn ring(&self) {
        if let Some(pipe) = self.0.lock().as_ref() {
            // A full pipe already holds a wake-up; a closed peer means the loop is gone.
            let _ = pipe.send(&[0u8][..], zmq::DONTWAIT);
        }
    }
}

pub(super) struct Shared {
    /// The configuration; its lock serialises configuration calls and the watcher's
    /// republishing, never the ZAP loop.
    pub(super) config: Mutex<Authenticator>,
    /// The thread inside a `configure` closure, to refuse a nested call (a deadlock).
    pub(super) configuring: Mutex<Option<ThreadId>>,
    /// The snapshot the ZAP loop answers from, its generation, stop and wake-ups.
    handoff: Handoff<Policy, Waker>,
    /// The reload interval in ns, for the watcher (never waits on the config lock).
    reload_ns: AtomicU64,
    /// The file sources of the published snapshot, each with the version it had when
    /// the snapshot was taken: what the watcher compares them with.
    published: Mutex<Vec<(Source, u64)>>,
    /// Wakes the watcher when a configuration call published (coalesced: one slot), so
    /// that it follows a new source at once rather than at its next step (up to 250
    /// ms, a window in which a change would only be caught by the catch-up pass).
    watcher_bell: (Sender<()>, Receiver<()>),
    /// Snapshots the ZAP loop has let go of, for the watcher to free: the last one to
    /// hold a snapshot frees it, and a replaced key table can be megabytes (with an
    /// `Arc` per certificate that has metadata), no pause for the ZAP loop to take.
    retired: (Sender<Arc<Policy>>, Receiver<Arc<Policy>>),
}

/// Snapshots waiting for the watcher; beyond this the ZAP loop frees them itself (the
/// watcher is busy with a long pass and the configuration changes that fast).
const RETIRED: usize = 16;

impl Shared {
    pub(super) fn new(config: Authenticator, waker: zmq::Socket) -> Shared {
        let policy = config.snapshot();
        Shared {
            config: Mutex::new(config),
            configuring: Mutex::new(None),
            handoff: Handoff::new(policy, Waker(Mutex::new(Some(waker)))),
            reload_ns: AtomicU64::new(1_000_000_000),
            published: Mutex::new(Vec::new()),
            watcher_bell: bounded(1),
            retired: bounded(RETIRED),
        }
    }

    /// Hands a snapshot the ZAP loop no longer uses to the watcher, to be freed there
    /// (here when the queue is full).
    pub(super) fn retire(&self, policy: Arc<Policy>) {
        let _ = self.retired.0.try_send(policy);
    }

    /// The snapshots the watcher frees.
    pub(super) fn retired(&self) -> &Receiver<Arc<Policy>> {
        &self.retired.1
    }

    /// Tells the watcher a configuration call published (a full slot already does).
    pub(super) fn ring_watcher(&self) {
        let _ = self.watcher_bell.0.try_send(());
    }

    /// What the watcher waits on besides its events and its stop.
    pub(super) fn watcher_bell(&self) -> &Receiver<()> {
        &self.watcher_bell.1
    }

    /// The configured reload interval (without waiting for a configuration call).
    pub(super) fn reload_interval(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.reload_ns.load(Ordering::Acquire))
    }

    /// Makes `config`'s snapshot the policy every later request is decided by, and
    /// notes its reload interval and the versions of its sources. (Versions are read
    /// before the snapshot: a change in between makes the watcher publish once more,
    /// never miss it.)
    pub(super) fn publish_config(&self, config: &Authenticator) {
        let ns = u64::try_from(config.reload_interval().as_nanos()).unwrap_or(u64::MAX);
        self.reload_ns.store(ns, Ordering::Release);
        let versions: Vec<(Source, u64)> = config
            .sources()
            .into_iter()
            .map(|s| {
                let v = s.version();
                (s, v)
            })
            .collect();
        let policy = config.snapshot();
        *self.published.lock() = versions;
        self.publish(policy);
    }

    /// Does a source yield something else now than in the published snapshot?
    pub(super) fn stale(&self) -> bool {
        self.published.lock().iter().any(|(s, v)| s.version() != *v)
    }

    /// Makes `policy` the one every later request is decided by.
    fn publish(&self, policy: Policy) {
        self.handoff.publish(policy);
    }

    pub(super) fn generation(&self) -> u64 {
        self.handoff.generation()
    }

    /// The current snapshot and its generation.
    pub(super) fn current(&self) -> (Arc<Policy>, u64) {
        self.handoff.current()
    }

    /// Wakes the ZAP loop for new results (coalesced).
    pub(super) fn wake(&self) {
        self.handoff.wake();
    }

    /// The loop is about to look at the results one last time before it sleeps.
    pub(super) fn woken(&self) {
        self.handoff.woken();
    }

    /// Asks every thread to stop and wakes the ZAP loop (never coalesced).
    pub(super) fn stop(&self) {
        self.handoff.stop();
    }

    /// Sets the stop flag only (start failed before the loop ran).
    pub(super) fn stop_quietly(&self) {
        self.handoff.stop_quietly();
    }

    /// Has `stop` been called?
    pub(super) fn stopping(&self) -> bool {
        self.handoff.stopping()
    }

    /// Closes the caller's end of the pipe (after the loop ended).
    pub(super) fn close_waker(&self) {
        self.handoff.bell().0.lock().take();
    }
}
