//! [`ThreadAuthenticator`]: an [`Authenticator`] serving the ZAP socket on its own thread.
//!
//! This module moves bytes and commands; it never decides anything itself.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::policy::{AuthEvent, Authenticator, CredentialsProvider};
use crate::zap::split_envelope;
use crate::ZAP_ENDPOINT;

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
/// ZAP requests handled per wake-up before the control pipe is looked at again.
const BATCH: usize = 256;

type Job = Box<dyn FnOnce(&mut Authenticator) -> Result<()> + Send>;

/// A job's life: queued, then taken by the thread, or cancelled by a caller that gave up
/// waiting. Whoever moves it out of `QUEUED` first wins, so a timed-out call is either
/// known not to apply, or known to have started.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

enum Command {
    Apply(Job, Sender<Result<()>>, Arc<AtomicU8>),
    Stop,
}

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
        let alive = Arc::new(AtomicBool::new(true));
        let worker = Worker {
            zap,
            pipe: thread_pipe,
            commands: cmd_rx,
            auth: Authenticator::new(),
            events: event_tx,
            oldest_events: event_rx.clone(),
            events_dropped: Arc::clone(&events_dropped),
        };
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
    ///     a.configure_plain("*", [("admin", "secret")])
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

    /// [`Authenticator::allow`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.allow(["127.0.0.1", "::1", "10.0.0.0/8"]).unwrap();
    /// assert!(matches!(auth.allow(["10.1.2.3/8"]), Err(zmq_auth::Error::InvalidAddress(_))));
    /// ```
    pub fn allow<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, addrs: I) -> Result<()> {
        let addrs: Vec<String> = addrs.into_iter().map(|s| s.as_ref().to_string()).collect();
        self.configure(move |a| a.allow(addrs))
    }

    /// [`Authenticator::deny`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.deny(["192.0.2.0/24"]).unwrap();
    /// assert!(matches!(auth.allow(["127.0.0.1"]), Err(zmq_auth::Error::AllowDenyConflict)));
    /// ```
    pub fn deny<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, addrs: I) -> Result<()> {
        let addrs: Vec<String> = addrs.into_iter().map(|s| s.as_ref().to_string()).collect();
        self.configure(move |a| a.deny(addrs))
    }

    /// [`Authenticator::clear_address_lists`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.deny(["192.0.2.1"]).unwrap();
    /// auth.clear_address_lists().unwrap();
    /// auth.allow(["127.0.0.1"]).unwrap(); // the deny list is gone
    /// ```
    pub fn clear_address_lists(&self) -> Result<()> {
        self.configure(|a| {
            a.clear_address_lists();
            Ok(())
        })
    }

    /// [`Authenticator::configure_plain`] on the running thread.
    ///
    /// ```
    /// use zmq_auth::{zmq, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain("*", [("admin", "secret")]).unwrap();
    ///
    /// let server = ctx.socket(zmq::PULL).unwrap();
    /// server.set_plain_server(true).unwrap();
    /// server.set_rcvtimeo(5000).unwrap();
    /// server.bind("tcp://127.0.0.1:*").unwrap();
    /// let client = ctx.socket(zmq::PUSH).unwrap();
    /// client.set_plain_username(Some("admin")).unwrap();
    /// client.set_plain_password(Some("secret")).unwrap();
    /// client.connect(&server.get_last_endpoint().unwrap().unwrap()).unwrap();
    /// client.send("hi", 0).unwrap();
    /// let mut msg = server.recv_msg(0).unwrap();
    /// assert_eq!(msg.gets("User-Id"), Some("admin"));
    /// ```
    pub fn configure_plain<I, K, V>(&self, domain: &str, passwords: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let domain = domain.to_string();
        let users: Vec<(String, String)> = passwords
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.configure(move |a| a.configure_plain(&domain, users))
    }

    /// [`Authenticator::configure_plain_file`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("passwords");
    /// std::fs::write(&path, "admin=secret\nguest=guest\n").unwrap();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain_file("*", &path).unwrap();
    /// std::fs::write(dir.path().join("broken"), "no equals sign\n").unwrap();
    /// assert!(matches!(
    ///     auth.configure_plain_file("*", dir.path().join("broken")),
    ///     Err(zmq_auth::Error::Parse { line: 1, .. })
    /// ));
    /// ```
    pub fn configure_plain_file(&self, domain: &str, path: impl AsRef<Path>) -> Result<()> {
        let (domain, path) = (domain.to_string(), path.as_ref().to_path_buf());
        self.configure(move |a| a.configure_plain_file(&domain, path))
    }

    /// [`Authenticator::configure_curve`] on the running thread.
    ///
    /// ```
    /// # if !zmq_auth::curve_available() { return; }
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let certs = tempfile::tempdir().unwrap();
    /// zmq_auth::create_certificates(certs.path(), "client", &[]).unwrap();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_curve("*", certs.path()).unwrap();
    /// auth.configure_curve("public", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// assert!(matches!(
    ///     auth.configure_curve("*", certs.path().join("missing")),
    ///     Err(zmq_auth::Error::Io { .. })
    /// ));
    /// ```
    pub fn configure_curve(&self, domain: &str, location: impl AsRef<Path>) -> Result<()> {
        let (domain, location) = (domain.to_string(), location.as_ref().to_path_buf());
        self.configure(move |a| a.configure_curve(&domain, location))
    }

    /// [`Authenticator::configure_curve_callback`] on the running thread.
    ///
    /// ```
    /// # if !zmq_auth::curve_available() { return; }
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// let trusted = zmq_auth::encode_z85_key(&[1u8; 32]);
    /// auth.configure_curve_callback("*", move |_domain: &str, key: &str| key == trusted)
    ///     .unwrap();
    /// ```
    pub fn configure_curve_callback(
        &self,
        domain: &str,
        provider: impl CredentialsProvider + 'static,
    ) -> Result<()> {
        let domain = domain.to_string();
        self.configure(move |a| a.configure_curve_callback(&domain, provider))
    }

    /// [`Authenticator::configure_gssapi`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// match auth.configure_gssapi("kerberos") {
    ///     Ok(()) => {}
    ///     // libzmq built without GSSAPI support
    ///     Err(e) => assert!(matches!(e, zmq_auth::Error::GssapiUnavailable)),
    /// }
    /// ```
    pub fn configure_gssapi(&self, domain: &str) -> Result<()> {
        let domain = domain.to_string();
        self.configure(move |a| a.configure_gssapi(&domain))
    }

    /// [`Authenticator::set_curve_user_id`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.set_curve_user_id(|key: &[u8; 32]| format!("{:02x}{:02x}", key[0], key[1]))
    ///     .unwrap();
    /// ```
    pub fn set_curve_user_id(
        &self,
        f: impl Fn(&[u8; 32]) -> String + Send + 'static,
    ) -> Result<()> {
        self.configure(move |a| {
            a.set_curve_user_id(f);
            Ok(())
        })
    }

    /// [`Authenticator::set_reload_interval`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.set_reload_interval(std::time::Duration::from_millis(100)).unwrap();
    /// ```
    pub fn set_reload_interval(&self, interval: Duration) -> Result<()> {
        self.configure(move |a| {
            a.set_reload_interval(interval);
            Ok(())
        })
    }

    /// The stream of decisions (domain, address, mechanism, status, user id, reason),
    /// for audit logs and tests. Bounded (1024): when it is full the *oldest* unread
    /// event is dropped and counted by [`events_dropped`](Self::events_dropped), so
    /// readers always see the latest decisions; the thread never waits. Malformed
    /// requests produce no event.
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
        f.debug_struct("ThreadAuthenticator")
            .field("alive", &self.is_alive())
            .field("events_dropped", &self.events_dropped())
            .finish_non_exhaustive()
    }
}

impl Drop for ThreadAuthenticator {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::error!(target: "zmq_auth", "stopping the authenticator: {e}");
        }
    }
}

/// Cancels a queued job; false when the thread already took it.
fn cancel(state: &AtomicU8) -> bool {
    state
        .compare_exchange(QUEUED, CANCELLED, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

fn wake(pipe: &zmq::Socket) -> Result<()> {
    match pipe.send(&[0u8][..], zmq::DONTWAIT) {
        // A full pipe already holds a wake-up.
        Ok(()) | Err(zmq::Error::EAGAIN) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The thread's state.
struct Worker {
    zap: zmq::Socket,
    pipe: zmq::Socket,
    commands: Receiver<Command>,
    auth: Authenticator,
    events: Sender<AuthEvent>,
    /// The thread's own end of the stream, to drop the oldest event when it is full.
    oldest_events: Receiver<AuthEvent>,
    events_dropped: Arc<AtomicU64>,
}

impl Worker {
    fn run(mut self) {
        let mut frames: Vec<zmq::Message> = Vec::new();
        loop {
            let (zap_ready, pipe_ready) = {
                let mut items = [
                    self.zap.as_poll_item(zmq::POLLIN),
                    self.pipe.as_poll_item(zmq::POLLIN),
                ];
                match zmq::poll(&mut items, -1) {
                    Ok(_) => {}
                    Err(zmq::Error::EINTR) => continue,
                    Err(e) => {
                        log::error!(target: "zmq_auth", "poll failed, authenticator stops: {e}");
                        break;
                    }
                }
                (items[0].is_readable(), items[1].is_readable())
            };
            if pipe_ready && !self.control() {
                break;
            }
            if zap_ready {
                for _ in 0..BATCH {
                    // A waiting command (stop, configure) goes first: its latency is one
                    // request, not a batch of slow credentials callbacks.
                    if !self.commands.is_empty() {
                        break;
                    }
                    if !self.serve_one(&mut frames) {
                        break;
                    }
                }
            }
        }
    }

    /// Drains wake-ups and commands; false when told to stop (or orphaned).
    fn control(&mut self) -> bool {
        let mut msg = zmq::Message::new();
        while self.pipe.recv(&mut msg, zmq::DONTWAIT).is_ok() {}
        loop {
            match self.commands.try_recv() {
                Ok(Command::Apply(job, reply, state)) => {
                    if state
                        .compare_exchange(QUEUED, TAKEN, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        continue; // the caller gave up and was told it did not apply
                    }
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut self.auth)
                    }))
                    .unwrap_or(Err(Error::Panicked("configuration closure")));
                    let _ = reply.send(result);
                }
                Ok(Command::Stop) => return false,
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Receives and answers one request; false when none is waiting.
    fn serve_one(&mut self, frames: &mut Vec<zmq::Message>) -> bool {
        frames.clear();
        loop {
            let mut msg = zmq::Message::new();
            if let Err(e) = self.zap.recv(&mut msg, zmq::DONTWAIT) {
                if e != zmq::Error::EAGAIN {
                    log::warn!(target: "zmq_auth", "ZAP receive failed: {e}");
                }
                // EAGAIN mid-message cannot happen (messages arrive whole).
                return false;
            }
            let more = msg.get_more();
            frames.push(msg);
            if !more {
                break;
            }
        }
        let all: Vec<&[u8]> = frames.iter().map(|m| &m[..]).collect();
        let (envelope, body) = split_envelope(&all);
        let (reply, event) = self.auth.handle(body, true);
        if let Some(ev) = event {
            if let Err(TrySendError::Full(ev)) = self.events.try_send(ev) {
                // Keep the newest: drop the oldest unread event.
                let _ = self.oldest_events.try_recv();
                self.events_dropped.fetch_add(1, Ordering::Relaxed);
                let _ = self.events.try_send(ev);
            }
        }
        let mut out: Vec<&[u8]> = Vec::with_capacity(8);
        out.extend_from_slice(envelope);
        out.extend_from_slice(&reply.frames());
        if let Err(e) = self.zap.send_multipart(out, zmq::DONTWAIT) {
            log::warn!(target: "zmq_auth", "ZAP reply not sent: {e}");
        }
        true
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Unbind explicitly, also when the loop ended by a panic: a closed socket's
        // inproc endpoint is not always freed at once while handshakes are attached,
        // and a restart on this context would then fail.
        if let Ok(ep) = CString::new(ZAP_ENDPOINT) {
            // SAFETY: the socket pointer is valid while `self.zap` lives; `ep` is NUL-terminated.
            unsafe {
                zmq_sys::zmq_unbind(self.zap.as_mut_ptr(), ep.as_ptr());
            }
        }
    }
}
