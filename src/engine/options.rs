//! [`EngineOptions`]: the pool size, the deadline of slow answers and the bound on
//! requests waiting for the pool.

use std::time::Duration;

/// Settings of [`crate::ThreadAuthenticator::start_with`].
///
/// ```
/// use std::time::Duration;
/// let options = zmq_auth::EngineOptions::default()
///     .pool_size(2)
///     .deadline(Duration::from_millis(250));
/// assert_eq!(format!("{options:?}"), "EngineOptions { pool_size: 2, deadline: 250ms, max_waiting: 10000 }");
/// ```
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pool_size: usize,
    deadline: Duration,
    max_waiting: usize,
}

impl Default for EngineOptions {
    /// Four pool threads per source, a two-second deadline, at most 10,000 waiting.
    fn default() -> Self {
        EngineOptions {
            pool_size: 4,
            deadline: Duration::from_secs(2),
            max_waiting: 10_000,
        }
    }
}

impl EngineOptions {
    /// Threads that run the slow answers of one source at once (at least 1): a
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
    /// assert_eq!(format!("{options:?}"), "EngineOptions { pool_size: 1, deadline: 2s, max_waiting: 10000 }");
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
    /// assert_eq!(format!("{options:?}"), "EngineOptions { pool_size: 4, deadline: 1s, max_waiting: 10000 }");
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
    /// assert_eq!(
    ///     format!("{options:?}"),
    ///     "EngineOptions { pool_size: 4, deadline: 2s, max_waiting: 500 }"
    /// );
    /// ```
    pub fn max_waiting(mut self, requests: usize) -> Self {
        self.max_waiting = requests.max(1);
        self
    }

    pub(crate) fn max_waiting_value(&self) -> usize {
        self.max_waiting
    }

    pub(crate) fn pool_size_value(&self) -> usize {
        self.pool_size
    }

    pub(crate) fn deadline_value(&self) -> Duration {
        self.deadline
    }
}
