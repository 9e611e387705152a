//! [`ThreadAuthenticator`]: the engine. One thread serves the ZAP socket from an
//! immutable policy snapshot; a watcher re-checks file sources and publishes new
//! snapshots; a small pool runs user code under a deadline. Configuration calls build
//! and validate the new snapshot on the caller's thread and swap it in.
//!
//! This module moves bytes, snapshots and work; it never decides anything itself.

#![warn(clippy::arithmetic_side_effects)]

mod config;
mod frame;
mod handoff;
mod options;
mod pool;
mod shared;
mod watcher;
mod zap_loop;
mod zap_parts;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::authenticator::Authenticator;
use crate::error::{Error, Result};
use crate::policy::AuthEvent;
use crate::ZAP_ENDPOINT;
pub use options::{EngineOptions, WatchMode};
use pool::Pool;
use shared::Shared;
use zap_loop::ZapLoop;
use zap_parts::EventSink;

/// How long `start` waits for the thread to report that it serves.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `stop` waits for the thread to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Capacity of the decision event stream.
const EVENT_CAPACITY: usize = 1024;

/// The caller's side of the running threads.
struct Running {
    handle: Option<JoinHandle<()>>,
    done: Receiver<()>,
    /// Dropped to stop the watcher.
    watcher_stop: Option<Sender<()>>,
}

/// A ZAP handler on a background thread, configured at run time from any thread.
///
/// `start` binds [`ZAP_ENDPOINT`] in the given context and returns once the thread
/// serves. How it works, and what it promises:
///
/// - **Configuration calls** (`allow`, `configure_curve`, [`configure`](Self::configure),
///   ...) run on the caller's thread: they load files, validate everything, build a new
///   policy snapshot and swap it in. They are all or nothing (on error, nothing changed)
///   and return once the snapshot is in place, so a connection made afterwards sees it.
/// - **The ZAP thread** answers every request from the current snapshot. It never reads
///   a file and never runs user code, so nothing slow can hold up a handshake.
/// - **A watcher thread** follows certificate directories and password files (file
///   events, or polling every reload interval: [`EngineOptions::watch_mode`]) and
///   publishes a new snapshot whenever what they yield differs from what was published.
///   A source that can no longer be read refuses what it would decide (500), never keeps
///   old grants.
/// - **A pool** ([`EngineOptions::pool_size`], default 4 threads per source) runs
///   credentials providers, the CURVE user-id function, store look-ups and argon2id
///   checks. An answer later than the deadline ([`EngineOptions::deadline`], default
///   2 s), a request that cannot be answered before it, or one beyond
///   [`EngineOptions::max_waiting`], is answered 300 `Try later`; other requests are
///   answered meanwhile (replies may go out of order: each carries its request's
///   envelope and id).
/// - **Stop** ([`stop`](Self::stop), or drop) is a flag, never lost, and returns within
///   2 s; the ZAP endpoint is unbound when the thread exits.
///
/// Stop or drop it before terminating the context yourself (`Context::destroy`): its
/// threads hold sockets in that context, and libzmq's context termination waits for
/// every socket. (Dropping the last `Context` handle is fine.)
///
/// **While it is stopped, libzmq authenticates nobody**: CURVE clients with any key and
/// NULL clients of a domain get in — unless the server socket was set up with
/// [`require_zap`](crate::require_zap), which makes libzmq refuse them instead.
///
/// ```
/// use zmq_auth::{zmq, ThreadAuthenticator};
/// let ctx = zmq::Context::new();
/// let auth = ThreadAuthenticator::start(&ctx).unwrap();
/// auth.deny(["192.0.2.1"]).unwrap();
/// assert!(auth.is_alive());
/// // A second handler on the same context is refused.
/// assert!(ThreadAuthenticator::start(&ctx).is_err());
/// auth.stop().unwrap();
/// assert!(!auth.is_alive());
/// ```
#[must_use = "authentication stops when the ThreadAuthenticator is dropped: keep it alive \
              as long as the server sockets (`start(&ctx)?;` alone drops it at once)"]
pub struct ThreadAuthenticator {
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
    /// Outside the mutex so `is_alive` never waits.
    alive: Arc<AtomicBool>,
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
    /// Binds the ZAP socket in `ctx` and starts the authenticator with the default
    /// [`EngineOptions`].
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
    #[must_use = "authentication stops when the returned ThreadAuthenticator is dropped"]
    pub fn start(ctx: &zmq::Context) -> Result<Self> {
        Self::start_with(ctx, EngineOptions::default())
    }

    /// [`start`](Self::start) with other pool size or deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let options = EngineOptions::default().pool_size(8).deadline(Duration::from_millis(500));
    /// let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    /// assert!(auth.is_alive());
    /// ```
    #[must_use = "authentication stops when the returned ThreadAuthenticator is dropped"]
    pub fn start_with(ctx: &zmq::Context, options: EngineOptions) -> Result<Self> {
        let zap = ctx.socket(zmq::ROUTER)?;
        zap.set_linger(0)?;
        match zap.bind(ZAP_ENDPOINT) {
            Ok(()) => {}
            Err(zmq::Error::EADDRINUSE) => return Err(Error::AlreadyRunning),
            Err(e) => return Err(e.into()),
        }
        // From here on, a failure must unbind: dropping `zap` unaided may not free it.
        let unbind_on_error = |zap: &mut zmq::Socket| {
            if let Ok(ep) = std::ffi::CString::new(ZAP_ENDPOINT) {
                // SAFETY: the socket pointer is valid while `zap` lives; `ep` is NUL-terminated.
                unsafe {
                    crate::ffi::zmq_unbind(zap.as_mut_ptr(), ep.as_ptr());
                }
            }
        };
        let mut zap = zap;
        let setup = (|| -> Result<(zmq::Socket, zmq::Socket)> {
            let endpoint = next_pipe_endpoint();
            let thread_pipe = ctx.socket(zmq::PAIR)?;
            thread_pipe.set_linger(0)?;
            thread_pipe.bind(&endpoint)?;
            let waker = ctx.socket(zmq::PAIR)?;
            waker.set_linger(0)?;
            waker.connect(&endpoint)?;
            Ok((thread_pipe, waker))
        })();
        let (thread_pipe, waker) = match setup {
            Ok(p) => p,
            Err(e) => {
                unbind_on_error(&mut zap);
                return Err(e);
            }
        };
        let shared = Arc::new(Shared::new(Authenticator::new(), waker));
        let (answer_tx, answer_rx) = unbounded();
        let pool = match Pool::start(
            options.pool_size_value(),
            options.max_waiting_value(),
            &shared,
            answer_tx,
        ) {
            Ok(p) => p,
            Err(e) => {
                shared.stop_quietly();
                unbind_on_error(&mut zap);
                return Err(e);
            }
        };
        let (event_tx, event_rx) = bounded::<AuthEvent>(EVENT_CAPACITY);
        let events_dropped = Arc::new(AtomicU64::new(0));
        let events_on = Arc::new(AtomicBool::new(false));
        let zap_loop = ZapLoop::new(
            zap,
            thread_pipe,
            Arc::clone(&shared),
            pool,
            answer_rx,
            options.deadline_value(),
            EventSink {
                tx: event_tx,
                oldest: event_rx.clone(),
                dropped: Arc::clone(&events_dropped),
                on: Arc::clone(&events_on),
            },
        );

        let (ready_tx, ready_rx) = bounded::<()>(1);
        let (done_tx, done_rx) = bounded::<()>(1);
        let alive = Arc::new(AtomicBool::new(true));
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
                zap_loop.run();
            })
            .map_err(|e| {
                shared.stop_quietly();
                Error::io("<thread>", e)
            })?;
        let (watcher_stop, watcher_rx) = bounded::<()>(1);
        let shared_w = Arc::clone(&shared);
        let (watch_mode, full_every) = (
            options.watch_mode_value(),
            options
                .full_pass_interval_value()
                .map_or(watcher::FullEvery::Auto, watcher::FullEvery::Fixed),
        );
        let watcher = std::thread::Builder::new()
            .name("zmq-auth-watcher".into())
            .spawn(move || watcher::run(&shared_w, &watcher_rx, watch_mode, full_every));
        let started = ready_rx.recv_timeout(START_TIMEOUT).is_ok();
        let auth = ThreadAuthenticator {
            shared,
            running: Mutex::new(Some(Running {
                handle: Some(handle),
                done: done_rx,
                watcher_stop: Some(watcher_stop),
            })),
            alive,
            events: event_rx,
            events_dropped,
            events_on,
        };
        if let Err(e) = watcher {
            // Without a watcher, sources would never be re-checked: do not serve at all.
            let _ = auth.stop();
            return Err(Error::io("<thread>", e));
        }
        if !started {
            // Tell the late thread to go away instead of serving with no controller.
            let _ = auth.stop();
            return Err(Error::Timeout("start"));
        }
        Ok(auth)
    }

    /// Applies several changes at once, all or nothing: `f` runs on the caller's thread
    /// on a copy of the configuration; if it returns `Ok`, the copy becomes the policy
    /// in one step (no request sees half of it); if it returns an error or panics,
    /// nothing changed. Calls are serialised; a call made from inside `f` is refused with
    /// [`Error::Reentrant`].
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// # let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure(|a| {
    ///     a.allow(["127.0.0.1"])?;
    ///     a.configure_plain("*", [("admin", "correct-horse")])
    /// }).unwrap();
    /// // The closure's error is the call's error, and nothing of it applies.
    /// let err = auth.configure(|a| {
    ///     a.clear_address_lists();
    ///     a.allow(["192.168.1.0/33"])
    /// }).unwrap_err();
    /// assert!(matches!(err, zmq_auth::Error::InvalidAddress(_)));
    /// ```
    pub fn configure<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&mut Authenticator) -> Result<()>,
    {
        let me = std::thread::current().id();
        if *self.shared.configuring.lock() == Some(me) {
            return Err(Error::Reentrant);
        }
        if !self.serving() {
            return Err(Error::NotRunning);
        }
        let mut config = self.shared.config.lock();
        if !self.serving() {
            return Err(Error::NotRunning);
        }
        *self.shared.configuring.lock() = Some(me);
        let mut next = config.fork();
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut next)))
            .unwrap_or(Err(Error::Panicked("configuration closure")));
        *self.shared.configuring.lock() = None;
        if result.is_ok() {
            self.shared.publish_config(&next);
            *config = next;
            self.shared.ring_watcher();
        }
        result
    }

    fn serving(&self) -> bool {
        !self.shared.stopping() && self.is_alive()
    }

    /// The stream of decisions (domain, address, mechanism, status, user id, reason),
    /// for audit logs and tests. Bounded (1024): when it is full the *oldest* unread
    /// event is dropped and counted by [`events_dropped`](Self::events_dropped), so
    /// readers always see the latest decisions; the thread never waits. Malformed
    /// requests produce no event. **Recording starts with the first call**: decisions
    /// made before it are not in the stream (an unread stream would cost every request
    /// four allocations), so call it before the connections you want to observe. One
    /// event is not a decision: should the ZAP thread end other than by `stop`, an event
    /// with [`AuthEvent::is_handler_exit`] says so (it is sent even before this call).
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

    /// Would the current policy still admit a peer that was admitted earlier? ZAP runs
    /// only at the handshake, so a key revoked today keeps a connection opened yesterday;
    /// a server that cares asks this with the peer's domain, mechanism and `User-Id` (per
    /// message, or every so often) and stops serving the peer when it is `false`.
    ///
    /// Cheap: the current snapshot and a hash probe for maps, password files and
    /// certificate directories (a few tens of ns; see BENCHMARKS.md); a store answers from
    /// its cache and asks the database after a change (on your thread); a credentials
    /// provider is called (on your thread). `false` for anything it cannot confirm: an
    /// unknown domain, a source that cannot be read, a store that does not answer, a
    /// CURVE `User-Id` that is not a Z85 key (with a custom `set_curve_user_id`, use
    /// [`still_admits_key`](Self::still_admits_key)). NULL peers: `true` (their address
    /// lists are checked at the handshake). Lock-outs do not apply.
    ///
    /// ```
    /// use zmq_auth::{zmq, Mechanism, ThreadAuthenticator};
    /// # let ctx = zmq::Context::new();
    /// let auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    /// assert!(auth.still_admits("global", Mechanism::Plain, "admin"));
    /// auth.configure_plain("*", [("ops", "battery-staple")]).unwrap();
    /// assert!(!auth.still_admits("global", Mechanism::Plain, "admin"));
    /// ```
    pub fn still_admits(&self, domain: &str, mechanism: crate::Mechanism, user_id: &str) -> bool {
        self.shared
            .current()
            .0
            .still_admits(domain, mechanism, user_id)
    }

    /// [`still_admits`](Self::still_admits) for a CURVE peer by its public key (for
    /// servers whose `set_curve_user_id` makes User-Ids that are not the key).
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// # if !zmq_auth::curve_available() { return; }
    /// auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// assert!(auth.still_admits_key("global", &[1u8; 32]));
    /// ```
    pub fn still_admits_key(&self, domain: &str, public_key: &[u8; 32]) -> bool {
        self.shared.current().0.still_admits_key(domain, public_key)
    }

    /// [`still_admits`](Self::still_admits) that also checks the credential: a PLAIN
    /// admission carries the ZAP metadata property `Credential-Version` (read it with
    /// `msg.gets("Credential-Version")`), and a changed password no longer matches it,
    /// so a session opened with the old password counts as revoked. (`still_admits`
    /// alone only asks whether the user still exists.) Other mechanisms ignore `version`.
    ///
    /// ```
    /// use zmq_auth::{zmq, Mechanism, ThreadAuthenticator};
    /// # let ctx = zmq::Context::new();
    /// let auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    /// // A version no admission carried (a real one comes from the message).
    /// assert!(!auth.still_admits_version("global", Mechanism::Plain, "admin", "0000000000"));
    /// ```
    pub fn still_admits_version(
        &self,
        domain: &str,
        mechanism: crate::Mechanism,
        user_id: &str,
        version: &str,
    ) -> bool {
        self.shared
            .current()
            .0
            .still_admits_version(domain, mechanism, user_id, version)
    }

    /// Is the ZAP thread running and serving?
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// assert!(auth.is_alive());
    /// auth.stop().unwrap();
    /// assert!(!auth.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Stops the authenticator and unbinds the ZAP endpoint, so a new one can start on
    /// the same context. Idempotent; takes `&self`, so it works through an `Arc`.
    ///
    /// The stop request is a flag (it cannot be lost behind queued work) and the ZAP
    /// thread never waits on user code or files, so this returns within 2 s, in
    /// practice at once. From then on configuration calls fail with
    /// [`Error::NotRunning`]. Pool threads busy in user code finish it and exit; their
    /// late answers go nowhere. Should the thread not finish in time anyway,
    /// [`Error::Timeout`] is returned and calling `stop` again waits again.
    ///
    /// ```
    /// use zmq_auth::{zmq, Error, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.stop().unwrap();
    /// auth.stop().unwrap(); // idempotent
    /// assert!(matches!(auth.allow(["127.0.0.1"]), Err(Error::NotRunning)));
    /// // The endpoint is free again.
    /// let _again = ThreadAuthenticator::start(&ctx).unwrap();
    /// ```
    pub fn stop(&self) -> Result<()> {
        let mut guard = self.running.lock();
        let Some(running) = guard.as_mut() else {
            return Ok(());
        };
        self.shared.stop();
        running.watcher_stop.take();
        let finished =
            !self.is_alive() || running.done.recv_timeout(STOP_TIMEOUT).is_ok() || !self.is_alive();
        if !finished {
            // Keep the handle: a later `stop` waits again.
            return Err(Error::Timeout("stop"));
        }
        if let Some(h) = running.handle.take() {
            let _ = h.join();
        }
        self.shared.close_waker();
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
        // Dropped without `stop()`, often by accident (`start(&ctx)?;`): from now on
        // libzmq admits CURVE peers of sockets without `require_zap`, so say so.
        if self.running.lock().is_some() && self.is_alive() {
            zlog!(
                Warn,
                "ThreadAuthenticator dropped while running: ZAP authentication stops now \
                 (sockets without require_zap admit every CURVE key); keep the handle alive \
                 as long as the server sockets, or call stop() to end it on purpose"
            );
        }
        if let Err(e) = self.stop() {
            zlog!(Error, "stopping the authenticator: {e}");
        }
    }
}
