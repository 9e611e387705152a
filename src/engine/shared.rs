//! State shared by the caller's handle, the ZAP loop, the pool and the watcher.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::Mutex;

use crate::authenticator::Authenticator;
use crate::policy::Policy;
use crate::sources::Source;

pub(super) struct Shared {
    /// The configuration; its lock serialises configuration calls and the watcher's
    /// republishing, never the ZAP loop.
    pub(super) config: Mutex<Authenticator>,
    /// The thread inside a `configure` closure, to refuse a nested call (a deadlock).
    pub(super) configuring: Mutex<Option<ThreadId>>,
    /// The snapshot the ZAP loop answers from.
    policy: Mutex<Arc<Policy>>,
    /// Bumped after each publish: the ZAP loop reloads `policy` when it moved.
    generation: AtomicU64,
    /// Set once by `stop`; never lost, whatever else is queued.
    pub(super) stop: AtomicBool,
    /// The caller's end of the control pipe: one byte means "look at the stop flag and
    /// the results queue". `None` once stopped.
    waker: Mutex<Option<zmq::Socket>>,
    /// A wake-up byte is on its way; spares a send per result under load.
    wake_pending: AtomicBool,
    /// The reload interval in ns, for the watcher (never waits on the config lock).
    reload_ns: AtomicU64,
    /// The file sources of the published snapshot, each with the version it had when
    /// the snapshot was taken: what the watcher compares them with.
    published: Mutex<Vec<(Source, u64)>>,
}

impl Shared {
    pub(super) fn new(config: Authenticator, waker: zmq::Socket) -> Shared {
        let policy = Arc::new(config.snapshot());
        Shared {
            config: Mutex::new(config),
            configuring: Mutex::new(None),
            policy: Mutex::new(policy),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            waker: Mutex::new(Some(waker)),
            wake_pending: AtomicBool::new(false),
            reload_ns: AtomicU64::new(1_000_000_000),
            published: Mutex::new(Vec::new()),
        }
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
        *self.policy.lock() = Arc::new(policy);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current snapshot and its generation.
    pub(super) fn current(&self) -> (Arc<Policy>, u64) {
        // Generation first: a publish in between makes us reload once more, never miss.
        let generation = self.generation();
        (Arc::clone(&self.policy.lock()), generation)
    }

    /// Wakes the ZAP loop for new results (coalesced).
    pub(super) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.send_wake();
        }
    }

    /// Wakes the ZAP loop unconditionally (stop).
    pub(super) fn wake_now(&self) {
        self.send_wake();
    }

    fn send_wake(&self) {
        if let Some(pipe) = self.waker.lock().as_ref() {
            // A full pipe already holds a wake-up; a closed peer means the loop is gone.
            let _ = pipe.send(&[0u8][..], zmq::DONTWAIT);
        }
    }

    /// The loop is about to look at the results one last time before it sleeps: later
    /// ones need a new wake-up. A read-modify-write (a full barrier), so the loop's
    /// following look at the results cannot be ordered before it.
    pub(super) fn woken(&self) {
        self.wake_pending.swap(false, Ordering::SeqCst);
    }

    /// Closes the caller's end of the pipe (after the loop ended).
    pub(super) fn close_waker(&self) {
        self.waker.lock().take();
    }
}
