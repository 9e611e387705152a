//! [`EngineOptions`]: the pool size, the deadline of slow answers, and how file sources
//! are watched.

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
    /// Four pool threads, a two-second deadline, file events with the automatic
    /// full-pass interval.
    fn default() -> Self {
        EngineOptions {
            pool_size: 4,
            deadline: Duration::from_secs(2),
            watch_mode: WatchMode::Events,
            full_pass_interval: None,
        }
    }
}

impl EngineOptions {
    /// Threads that run credentials providers and the CURVE user-id function (at
    /// least 1). With all of them busy, up to 16 requests per thread wait; beyond that a
    /// request is answered 300 at once.
    ///
    /// ```
    /// let options = zmq_auth::EngineOptions::default().pool_size(0);
    /// assert!(format!("{options:?}").starts_with("EngineOptions { pool_size: 1, deadline: 2s"));
    /// ```
    pub fn pool_size(mut self, threads: usize) -> Self {
        self.pool_size = threads.max(1);
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
