//! [`ThreadAuthenticator`]: an [`Authenticator`] serving the ZAP socket on its own thread.
//!
//! This module moves bytes and commands; it never decides anything itself.

mod config;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::policy::{AuthEvent, Authenticator};
use crate::ZAP_ENDPOINT;
use worker::{cancel, Command, Worker, QUEUED};

/// How long `start` waits for the thread to report that it serves.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a configuration call waits for the thread (loading a large certificate
/// directory takes a fraction of a second; a stuck user callback must not hang callers
/// forever).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits for the thread to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Capacity of the decision event stream.
const EVENT_CAPACITY: usize = 1024;

/// The caller's side of a running thread.
struct Running {
    commands: Sender<Command>,
    /// Caller end of the inproc PAIR control pipe: a byte here wakes the thread's poll.
    pipe: zmq::Socket,
    handle: Option<JoinHandle<()>>,
    alive: Arc<AtomicBool>,
    done: Receiver<()>,
    /// `stop` was called (it may have timed out): no more configuration.
    stopping: bool,
}

/// A ZAP handler on a background thread, configured at run time from any thread.
///
/// `start` binds [`ZAP_ENDPOINT`] in the given context and returns once the thread
/// serves. Every configuration method returns only after the thread has applied the
/// change (so a connection made right after sees it), with the thread's result.
/// Dropping the handle stops the thread and frees the endpoint.
///
/// Stop or drop it before terminating the context yourself (`Context::destroy`): its
/// thread holds two sockets in that context, and libzmq's context termination waits for
/// every socket. (Dropping the last `Context` handle is fine: the thread's sockets keep
/// the context alive until the authenticator stops.)
///
/// **While it is stopped, libzmq authenticates nobody**: CURVE clients with any key and
/// NULL clients of a domain get in. Keep it running as long as your server sockets.
///
/// ```
/// use zmq_auth::{zmq, ThreadAuthenticator};
/// let ctx = zmq::Context::new();
/// let mut auth = ThreadAuthenticator::start(&ctx).unwrap();
/// auth.deny(["192.0.2.1"]).unwrap();
/// assert!(auth.is_alive());
/// // A second handler on the same context is refused.
/// assert!(ThreadAuthenticator::start(&ctx).is_err());
/// auth.stop().unwrap();
/// assert!(!auth.is_alive());
/// ```
pub struct ThreadAuthenticator {
    running: Mutex<Option<Running>>,
    /// Outside the mutex so `is_alive` never waits behind a configuration call.
    alive: Arc<AtomicBool>,
    /// To refuse calls made from the thread itself (a callback), which would deadlock.
    worker: ThreadId,
    events: Receiver<AuthEvent>,
    events_dropped: Arc<AtomicU64>,
    /// Turned on by the first [`events`](Self::events) call.
    events_on: Arc<AtomicBool>,
}

fn next_pipe_endpoint() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Never reused: a closed inproc endpoint is not always free at once.
    format!(
        "inproc://zmq-auth-control-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl ThreadAuthenticator {
    /// Binds the ZAP socket in `ctx` and starts the authenticator thread.
    ///
    /// Fails with [`Error::AlreadyRunning`] when another ZAP handler is bound in
    /// this context.
    ///
    /// ```
    /// use zmq_auth::{zmq, Error, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let first = ThreadAuthenticator::start(&ctx).unwrap();
    /// assert!(matches!(ThreadAuthenticator::start(&ctx), Err(Error::AlreadyRunning)));
    /// // Each context has its own ZAP endpoint.
    /// let other = zmq::Context::new();
    /// assert!(ThreadAuthenticator::start(&other).is_ok());
    /// drop(first);
    /// assert!(ThreadAuthenticator::start(&ctx).is_ok());
    /// ```
    pub fn start(ctx: &zmq::Context) -> Result<Self> {
        let zap = ctx.socket(zmq::ROUTER)?;
        zap.set_linger(0)?;
        match zap.bind(ZAP_ENDPOINT) {
            Ok(()) => {}
            Err(zmq::Error::EADDRINUSE) => return Err(Error::AlreadyRunning),
            Err(e) => return Err(e.into()),
        }
        let endpoint = next_pipe_endpoint();
        let thread_pipe = ctx.socket(zmq::PAIR)?;
        thread_pipe.set_linger(0)?;
        thread_pipe.bind(&endpoint)?;
        let pipe = ctx.socket(zmq::PAIR)?;
        pipe.set_linger(0)?;
        pipe.connect(&endpoint)?;

        let (cmd_tx, cmd_rx) = bounded::<Command>(64);
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let (done_tx, done_rx) = bounded::<()>(1);
        let (event_tx, event_rx) = bounded::<AuthEvent>(EVENT_CAPACITY);
        let events_dropped = Arc::new(AtomicU64::new(0));
        let events_on = Arc::new(AtomicBool::new(false));
        let alive = Arc::new(AtomicBool::new(true));
        let worker = Worker::new(
            zap,
            thread_pipe,
            cmd_rx,
            event_tx,
            event_rx.clone(),
            Arc::clone(&events_dropped),
            Arc::clone(&events_on),
        );
        let alive_t = Arc::clone(&alive);
        let handle = std::thread::Builder::new()
            .name("zmq-auth".into())
            .spawn(move || {
                // Marks the thread dead however it ends, panic included.
                struct Guard(Arc<AtomicBool>, Sender<()>);
                impl Drop for Guard {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::SeqCst);
                        let _ = self.1.try_send(());
                    }
                }
                let _guard = Guard(alive_t, done_tx);
                let _ = ready_tx.send(());
                worker.run();
            })
            .map_err(|e| Error::io(PathBuf::from("<thread>"), e))?;
        if ready_rx.recv_timeout(START_TIMEOUT).is_err() {
            // Tell the late thread to go away instead of serving with no controller.
            let _ = cmd_tx.try_send(Command::Stop);
            let _ = wake(&pipe);
            return Err(Error::Timeout("start"));
        }
        let worker = handle.thread().id();
        Ok(ThreadAuthenticator {
            worker,
            running: Mutex::new(Some(Running {
                commands: cmd_tx,
                pipe,
                handle: Some(handle),
                alive: Arc::clone(&alive),
                done: done_rx,
                stopping: false,
            })),
            alive,
            events: event_rx,
            events_dropped,
            events_on,
        })
    }

    /// Runs `f` on the authenticator thread, between two ZAP requests, and returns its
    /// result. Use it to apply several changes at once: no request sees half of them.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// # let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure(|a| {
    ///     a.allow(["127.0.0.1"])?;
    ///     a.configure_plain("*", [("admin", "correct-horse")])
    /// }).unwrap();
    /// // The closure's error is the call's error.
    /// let err = auth.configure(|a| a.deny(["192.0.2.1"])).unwrap_err();
    /// assert!(matches!(err, zmq_auth::Error::AllowDenyConflict));
    /// ```
    pub fn configure<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&mut Authenticator) -> Result<()> + Send + 'static,
    {
        if std::thread::current().id() == self.worker {
            return Err(Error::Reentrant);
        }
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (tx, rx) = bounded(1);
        {
            // The lock covers only the hand-over (the pipe socket is not Sync), not the
            // wait: other callers and `is_alive` are not held up by a slow change.
            let guard = self.running.lock();
            let running = guard.as_ref().ok_or(Error::NotRunning)?;
            if running.stopping || !running.alive.load(Ordering::SeqCst) {
                return Err(Error::NotRunning);
            }
            running
                .commands
                .send_timeout(
                    Command::Apply(Box::new(f), tx, Arc::clone(&state)),
                    CALL_TIMEOUT,
                )
                .map_err(|_| Error::NotRunning)?;
            if let Err(e) = wake(&running.pipe) {
                if cancel(&state) {
                    return Err(e);
                }
            }
        }
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(result) => result,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(if cancel(&state) {
                Error::Timeout("configure (cancelled, not applied)")
            } else {
                Error::Timeout("configure (started on the thread, still running)")
            }),
            // The thread dropped the command unanswered: it died.
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::NotRunning),
        }
    }

    /// The stream of decisions (domain, address, mechanism, status, user id, reason),
    /// for audit logs and tests. Bounded (1024): when it is full the *oldest* unread
    /// event is dropped and counted by [`events_dropped`](Self::events_dropped), so
    /// readers always see the latest decisions; the thread never waits. Malformed
    /// requests produce no event. **Recording starts with the first call**: decisions
    /// made before it are not in the stream (an unread stream would cost every request
    /// four allocations), so call it before the connections you want to observe.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zmq_auth::{zmq, StatusCode, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.deny(["127.0.0.1"]).unwrap();
    /// let events = auth.events();
    /// assert!(events.is_empty());
    ///
    /// let server = ctx.socket(zmq::PULL).unwrap();
    /// server.set_zap_domain("global").unwrap();
    /// server.bind("tcp://127.0.0.1:*").unwrap();
    /// let client = ctx.socket(zmq::PUSH).unwrap();
    /// client.set_linger(0).unwrap();
    /// client.connect(&server.get_last_endpoint().unwrap().unwrap()).unwrap();
    ///
    /// let event = events.recv_timeout(Duration::from_secs(5)).unwrap();
    /// assert_eq!(event.status, StatusCode::AuthenticationFailure);
    /// assert_eq!(event.reason, "Address denied");
    /// ```
    pub fn events(&self) -> Receiver<AuthEvent> {
        self.events_on.store(true, Ordering::Relaxed);
        self.events.clone()
    }

    /// How many events were dropped because the stream was full.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// assert_eq!(auth.events_dropped(), 0);
    /// ```
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    /// Is the thread running and serving?
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let mut auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// assert!(auth.is_alive());
    /// auth.stop().unwrap();
    /// assert!(!auth.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Stops the thread and unbinds the ZAP endpoint, so a new authenticator can start on
    /// the same context. Idempotent, and bounded in time (2 s) even if the thread is
    /// stuck in user code: then [`Error::Timeout`] is returned, configuration calls fail
    /// with [`Error::NotRunning`], the thread stops as soon as the user code returns, and
    /// calling `stop` again waits again. Takes `&self`, so it works through an `Arc`.
    ///
    /// ```
    /// use zmq_auth::{zmq, Error, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let mut auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.stop().unwrap();
    /// auth.stop().unwrap(); // idempotent
    /// assert!(matches!(auth.allow(["127.0.0.1"]), Err(Error::NotRunning)));
    /// // The endpoint is free again.
    /// let _again = ThreadAuthenticator::start(&ctx).unwrap();
    /// ```
    pub fn stop(&self) -> Result<()> {
        if std::thread::current().id() == self.worker {
            return Err(Error::Reentrant);
        }
        let mut guard = self.running.lock();
        let Some(running) = guard.as_mut() else {
            return Ok(());
        };
        running.stopping = true;
        let _ = running.commands.try_send(Command::Stop);
        // The pipe peer may be gone if the thread died; failure to wake is then harmless.
        let _ = wake(&running.pipe);
        let finished = !running.alive.load(Ordering::SeqCst)
            || running.done.recv_timeout(STOP_TIMEOUT).is_ok()
            || !running.alive.load(Ordering::SeqCst);
        if !finished {
            // Keep the handle: a later `stop` waits again.
            return Err(Error::Timeout("stop"));
        }
        if let Some(h) = running.handle.take() {
            let _ = h.join();
        }
        *guard = None;
        Ok(())
    }
}

impl std::fmt::Debug for ThreadAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields = |f: &mut std::fmt::Formatter<'_>| {
            f.debug_struct("ThreadAuthenticator")
                .field("alive", &self.is_alive())
                .field("events_dropped", &self.events_dropped())
                .finish_non_exhaustive()
        };
        // An audit build records what Debug shows (see src/audit.rs).
        #[cfg(zmq_auth_audit)]
        crate::audit::debug_text(&fields);
        fields(f)
    }
}

impl Drop for ThreadAuthenticator {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            zlog!(Error, "stopping the authenticator: {e}");
        }
    }
}

fn wake(pipe: &zmq::Socket) -> Result<()> {
    match pipe.send(&[0u8][..], zmq::DONTWAIT) {
        // A full pipe already holds a wake-up.
        Ok(()) | Err(zmq::Error::EAGAIN) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
