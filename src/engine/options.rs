//! [`EngineOptions`]: the pool size, the deadline of slow answers, the bound on
//! requests waiting for the pool, and how file sources are watched.

use std::time::Duration;

/// Settings of [`crate::ThreadAuthenticator::start_with`].
///
/// ```
/// use std::time::Duration;
/// let options = zmq_auth::EngineOptions::default()
///     .pool_size(2)
///     .deadline(Duration::from_millis(250));
/// assert!(format!("{options:?}").starts_with("EngineOptions { pool_size: 2, deadline: 250ms"));
/// ```
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pool_size: usize,
    deadline: Duration,
    max_waiting: usize,
    watch_mode: WatchMode,
    full_pass_interval: Option<Duration>,
}

/// How the engine learns that certificate directories and password files changed
/// ([`EngineOptions::watch_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WatchMode {
    /// File events from the OS (inotify, kqueue, FSEvents, ReadDirectoryChangesW): only
    /// the files that changed are read again, at once. A look every reload interval
    /// covers what events cannot tell (symbolic links to elsewhere, a directory replaced
    /// or remounted), and a full pass is the safety net (see
    /// [`EngineOptions::full_pass_interval`]) and follows every event-queue overflow.
    /// A source falls back to [`WatchMode::Polling`] by itself when it cannot be watched
    /// (no event support, the OS watch limit reached, or a network filesystem: NFS,
    /// SMB/CIFS, FUSE, Ceph, AFS, 9P, Lustre, GFS2, OCFS2 or GPFS, where another machine's
    /// changes raise no event here); it says so in a warning.
    #[default]
    Events,
    /// A full pass over every source each reload interval (stat every file of a
    /// directory, read those whose stamps moved or may hide a change; re-read password
    /// files). For filesystems that events do not cover and this crate does not detect.
    Polling,
}

impl Default for EngineOptions {
    /// Four pool threads per source, a two-second deadline, at most 10,000 requests
    /// waiting, file events with the automatic full-pass interval.
    fn default() -> Self {
        EngineOptions {
            pool_size: 4,
            deadline: Duration::from_secs(2),
            watch_mode: WatchMode::Events,
            full_pass_interval: None,
            max_waiting: 10_000,
        }
    }
}

impl EngineOptions {
    /// The largest [`pool_size`](Self::pool_size): threads per source.
    pub const MAX_POOL_SIZE: usize = 1024;

    /// Threads that run the slow answers of one source at once (at least 1, at most
    /// [`MAX_POOL_SIZE`](Self::MAX_POOL_SIZE): a larger value is clamped): a
    /// credentials provider (with the CURVE user-id function), a credential store, or
    /// the argon2id checks of password files and maps. Each source has its own share
    /// of this size (a bulkhead), so a source that hangs never delays another one.
    ///
    /// A request waits for a thread as long as it can still be answered before its
    /// deadline (estimated from the source's recent answer times and the requests
    /// ahead of it); one that cannot is answered 300 at once, and so is one that finds
    /// [`max_waiting`](Self::max_waiting) requests already waiting.
    ///
    /// ```
    /// let options = zmq_auth::EngineOptions::default().pool_size(0);
    /// assert!(format!("{options:?}").starts_with("EngineOptions { pool_size: 1, deadline: 2s"));
    /// let options = zmq_auth::EngineOptions::default().pool_size(usize::MAX);
    /// assert!(format!("{options:?}").starts_with("EngineOptions { pool_size: 1024,"));
    /// ```
    pub fn pool_size(mut self, threads: usize) -> Self {
        // Each source's lane keeps a slot per thread: an unbounded size would be an
        // allocation the process cannot survive (found by the engine_options fuzz target).
        self.pool_size = threads.clamp(1, Self::MAX_POOL_SIZE);
        self
    }

    /// How long a request may wait for user code before it is answered 300 `Try later`
    /// (libzmq then drops the connection and the client reconnects). `Duration::MAX`
    /// means no deadline.
    ///
    /// ```
    /// let options = zmq_auth::EngineOptions::default().deadline(std::time::Duration::from_secs(1));
    /// assert!(format!("{options:?}").starts_with("EngineOptions { pool_size: 4, deadline: 1s"));
    /// ```
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Requests that may wait for the pool at once, across all sources (at least 1):
    /// the memory bound. Beyond it a request is answered 300 at once.
    ///
    /// ```
    /// let options = zmq_auth::EngineOptions::default().max_waiting(500);
    /// assert!(format!("{options:?}").contains("max_waiting: 500"));
    /// ```
    pub fn max_waiting(mut self, requests: usize) -> Self {
        self.max_waiting = requests.max(1);
        self
    }

    pub(crate) fn max_waiting_value(&self) -> usize {
        self.max_waiting
    }

    /// How certificate directories and password files are watched (default
    /// [`WatchMode::Events`]).
    ///
    /// ```
    /// use zmq_auth::{EngineOptions, WatchMode};
    /// // E.g. for certificates on a network filesystem this crate does not recognise.
    /// let options = EngineOptions::default().watch_mode(WatchMode::Polling);
    /// assert!(format!("{options:?}").contains("watch_mode: Polling"));
    /// ```
    pub fn watch_mode(mut self, mode: WatchMode) -> Self {
        self.watch_mode = mode;
        self
    }

    /// With [`WatchMode::Events`]: how often the safety-net full pass runs over each
    /// source (at least the reload interval). By default it is automatic: every 30 s, or
    /// less often for a directory so big that its pass would cost more than 0.1 % of a
    /// core (the pass's measured time × 1000; at most 15 minutes).
    ///
    /// ```
    /// let options = zmq_auth::EngineOptions::default()
    ///     .full_pass_interval(std::time::Duration::from_secs(60));
    /// assert!(format!("{options:?}").contains("full_pass_interval: Some(60s)"));
    /// ```
    pub fn full_pass_interval(mut self, interval: Duration) -> Self {
        self.full_pass_interval = Some(interval);
        self
    }

    pub(crate) fn watch_mode_value(&self) -> WatchMode {
        self.watch_mode
    }

    pub(crate) fn full_pass_interval_value(&self) -> Option<Duration> {
        self.full_pass_interval
    }

    pub(crate) fn pool_size_value(&self) -> usize {
        self.pool_size
    }

    pub(crate) fn deadline_value(&self) -> Duration {
        self.deadline
    }
}
