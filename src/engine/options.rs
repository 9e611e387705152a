//! [`EngineOptions`]: the pool size and the deadline of slow answers.

use std::time::Duration;

/// Settings of [`crate::ThreadAuthenticator::start_with`].
///
/// ```
/// use std::time::Duration;
/// let options = zmq_auth::EngineOptions::default()
///     .pool_size(2)
///     .deadline(Duration::from_millis(250));
/// assert_eq!(format!("{options:?}"), "EngineOptions { pool_size: 2, deadline: 250ms }");
/// ```
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pool_size: usize,
    deadline: Duration,
}

impl Default for EngineOptions {
    /// Four pool threads, a two-second deadline.
    fn default() -> Self {
        EngineOptions {
            pool_size: 4,
            deadline: Duration::from_secs(2),
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
    /// assert_eq!(format!("{options:?}"), "EngineOptions { pool_size: 1, deadline: 2s }");
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
    /// assert_eq!(format!("{options:?}"), "EngineOptions { pool_size: 4, deadline: 1s }");
    /// ```
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub(crate) fn pool_size_value(&self) -> usize {
        self.pool_size
    }

    pub(crate) fn deadline_value(&self) -> Duration {
        self.deadline
    }
}
