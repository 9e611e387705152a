//! Shared helpers for the `thread_*` integration tests: real libzmq sockets over TCP
//! loopback, one `zmq::Context` per test, and bounded waits (never a sleep as a
//! correctness mechanism).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod panicking_logger;

use crossbeam_channel::Receiver;
use zmq_auth::{zmq, AuthEvent, StatusCode};

/// How long a step that must succeed may take (normally a few milliseconds).
pub const STEP_MS: i64 = 3_000;
/// How long to watch for a message that must not arrive (after the refusal was seen).
pub const QUIET_MS: i64 = 300;

/// The message every client sends.
pub const HELLO: &[u8] = b"hello";

/// Receives one message, waiting at most `ms` milliseconds.
pub fn recv_within(sock: &zmq::Socket, ms: i64) -> Option<zmq::Message> {
    let deadline = Instant::now() + Duration::from_millis(ms.max(0) as u64);
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as i64;
        match sock.poll(zmq::POLLIN, left) {
            Ok(n) if n > 0 => {
                let mut msg = zmq::Message::new();
                match sock.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => return Some(msg),
                    Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {}
                    Err(e) => panic!("recv failed: {e}"),
                }
            }
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => panic!("poll failed: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// A bound server socket and the endpoint it got.
pub struct Server {
    pub sock: zmq::Socket,
    pub endpoint: String,
}

impl Server {
    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        let port = self
            .endpoint
            .rsplit(':')
            .next()
            .expect("endpoint has a port");
        port.parse().expect("numeric port")
    }
}

fn new_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).expect("socket");
    s.set_linger(0).expect("linger");
    s
}

/// Binds a PULL server on `tcp://127.0.0.1:*` after `setup` set its options.
pub fn server_with(ctx: &zmq::Context, setup: impl FnOnce(&zmq::Socket)) -> Server {
    let sock = new_socket(ctx, zmq::PULL);
    setup(&sock);
    sock.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = sock
        .get_last_endpoint()
        .expect("last endpoint")
        .expect("utf-8 endpoint");
    Server { sock, endpoint }
}

fn set_domain(s: &zmq::Socket, domain: Option<&str>) {
    if let Some(d) = domain {
        s.set_zap_domain(d).expect("zap domain");
    }
}

/// A NULL-mechanism server, with a ZAP domain when given.
pub fn null_server(ctx: &zmq::Context, domain: Option<&str>) -> Server {
    server_with(ctx, |s| set_domain(s, domain))
}

/// A PLAIN server.
pub fn plain_server(ctx: &zmq::Context, domain: Option<&str>) -> Server {
    server_with(ctx, |s| {
        s.set_plain_server(true).expect("plain server");
        set_domain(s, domain);
    })
}

/// A CURVE server with this secret key.
pub fn curve_server(ctx: &zmq::Context, secret: &[u8], domain: Option<&str>) -> Server {
    server_with(ctx, |s| {
        s.set_curve_server(true).expect("curve server");
        s.set_curve_secretkey(secret).expect("curve secret key");
        set_domain(s, domain);
    })
}

/// A PUSH client connected to `endpoint` after `setup` set its options.
pub fn client_with(
    ctx: &zmq::Context,
    endpoint: &str,
    setup: impl FnOnce(&zmq::Socket),
) -> zmq::Socket {
    let sock = new_socket(ctx, zmq::PUSH);
    setup(&sock);
    sock.connect(endpoint).expect("connect");
    sock
}

/// A NULL client.
pub fn null_client(ctx: &zmq::Context, endpoint: &str) -> zmq::Socket {
    client_with(ctx, endpoint, |_| {})
}

/// A PLAIN client.
pub fn plain_client(ctx: &zmq::Context, endpoint: &str, user: &str, pass: &str) -> zmq::Socket {
    client_with(ctx, endpoint, |s| {
        s.set_plain_username(Some(user)).expect("username");
        s.set_plain_password(Some(pass)).expect("password");
    })
}

/// A CURVE client with its key pair, trusting `server_public`.
pub fn curve_client(
    ctx: &zmq::Context,
    endpoint: &str,
    server_public: &[u8],
    public: &[u8],
    secret: &[u8],
) -> zmq::Socket {
    client_with(ctx, endpoint, |s| {
        s.set_curve_serverkey(server_public).expect("server key");
        s.set_curve_publickey(public).expect("public key");
        s.set_curve_secretkey(secret).expect("secret key");
    })
}

/// A CURVE client with a fresh key pair.
pub fn curve_client_pair(
    ctx: &zmq::Context,
    endpoint: &str,
    server_public: &[u8],
    pair: &zmq::CurveKeyPair,
) -> zmq::Socket {
    curve_client(
        ctx,
        endpoint,
        server_public,
        &pair.public_key,
        &pair.secret_key,
    )
}

/// A new CURVE key pair.
pub fn keypair() -> zmq::CurveKeyPair {
    zmq::CurveKeyPair::new().expect("curve key pair (libzmq built with CURVE)")
}

/// The Z85 text of a 32-byte key.
pub fn z85(key: &[u8; 32]) -> String {
    zmq_auth::encode_z85_key(key)
}

/// Queues `msg` on a client socket whose handshake may be refused. A refused handshake
/// ends the client's session (libzmq treats the server's ERROR as a protocol error and
/// terminates the pipe), so on a loaded machine the refusal can arrive before this send,
/// which then finds no pipe: `EAGAIN`. That is the refusal the caller is about to
/// observe, not a failure. Any other error is. An admitted client keeps its pipe, so a
/// message that was not queued still fails the caller's receive.
pub fn queue(client: &zmq::Socket, msg: &[u8]) {
    match client.send(msg, zmq::DONTWAIT) {
        Ok(()) | Err(zmq::Error::EAGAIN) => {}
        Err(e) => panic!("queue a message on the client: {e}"),
    }
}

/// Sends `hello` from `client` and returns what `server` received within [`STEP_MS`].
pub fn send_and_recv(server: &Server, client: &zmq::Socket) -> Option<zmq::Message> {
    queue(client, HELLO);
    recv_within(&server.sock, STEP_MS)
}

/// Sends `hello` from `client` and asserts `server` receives it; returns the message.
#[track_caller]
pub fn assert_connects(server: &Server, client: &zmq::Socket) -> zmq::Message {
    let msg = send_and_recv(server, client).expect("the client should have got in");
    assert_eq!(&msg[..], HELLO);
    msg
}

/// The `User-Id` property of a received message.
pub fn user_id(msg: &mut zmq::Message) -> Option<String> {
    msg.gets("User-Id").map(str::to_string)
}

/// The next event, waiting at most `ms`.
pub fn next_event(events: &Receiver<AuthEvent>, ms: i64) -> Option<AuthEvent> {
    events
        .recv_timeout(Duration::from_millis(ms.max(0) as u64))
        .ok()
}

/// The first event matching `pred` within `ms` (others, e.g. retries of earlier
/// clients, are skipped).
pub fn wait_event(
    events: &Receiver<AuthEvent>,
    ms: i64,
    mut pred: impl FnMut(&AuthEvent) -> bool,
) -> Option<AuthEvent> {
    let deadline = Instant::now() + Duration::from_millis(ms.max(0) as u64);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ev) if pred(&ev) => return Some(ev),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// Sends `hello` from `client`; waits for the authenticator to refuse it with `reason`
/// and then checks that nothing reaches `server`. Returns the refusal event.
#[track_caller]
pub fn assert_refused(
    events: &Receiver<AuthEvent>,
    server: &Server,
    client: &zmq::Socket,
    reason: &str,
) -> AuthEvent {
    queue(client, HELLO);
    let ev = wait_event(events, STEP_MS, |e| e.status != StatusCode::Success)
        .unwrap_or_else(|| panic!("no refusal event (expected {reason:?})"));
    assert_eq!(ev.reason, reason, "refusal reason; event: {ev:?}");
    assert_eq!(
        ev.status,
        StatusCode::AuthenticationFailure,
        "event: {ev:?}"
    );
    assert_eq!(ev.user_id, "", "a refusal grants no user id; event: {ev:?}");
    assert!(
        recv_within(&server.sock, QUIET_MS).is_none(),
        "a refused client's message arrived"
    );
    ev
}

/// Like [`assert_refused`], but skips refusals with other reasons (e.g. late
/// handshakes of clients from an earlier phase of the test).
#[track_caller]
pub fn assert_refused_skipping(
    events: &Receiver<AuthEvent>,
    server: &Server,
    client: &zmq::Socket,
    reason: &str,
) -> AuthEvent {
    queue(client, HELLO);
    let mut skipped = Vec::new();
    let ev = wait_event(events, STEP_MS, |e| {
        let hit = e.status != StatusCode::Success && e.reason == reason;
        if !hit {
            skipped.push(format!("{} {}", e.status.as_u16(), e.reason));
        }
        hit
    });
    let ev = ev.unwrap_or_else(|| panic!("no {reason:?} refusal; other events: {skipped:?}"));
    assert_eq!(
        ev.status,
        StatusCode::AuthenticationFailure,
        "event: {ev:?}"
    );
    assert!(
        recv_within(&server.sock, QUIET_MS).is_none(),
        "a refused client's message arrived"
    );
    ev
}

// zmq.h socket monitor events (libzmq >= 4.3).
pub const EVENT_HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
pub const EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;
pub const EVENT_HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
pub const EVENT_HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
pub const EVENTS_HANDSHAKE_FAILED: u16 = EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | EVENT_HANDSHAKE_FAILED_PROTOCOL
    | EVENT_HANDSHAKE_FAILED_AUTH;

/// A socket monitor reading handshake events.
pub struct Monitor {
    sock: zmq::Socket,
}

impl Monitor {
    /// Starts monitoring `target` for handshake events.
    pub fn new(ctx: &zmq::Context, target: &zmq::Socket) -> Monitor {
        static N: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://thread-test-monitor-{}",
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mask = EVENTS_HANDSHAKE_FAILED | EVENT_HANDSHAKE_SUCCEEDED;
        target.monitor(&endpoint, mask as i32).expect("monitor");
        let sock = new_socket(ctx, zmq::PAIR);
        sock.connect(&endpoint).expect("connect monitor");
        Monitor { sock }
    }

    /// Waits at most `ms` for an event in `mask`; returns its id (others are skipped).
    pub fn wait_for(&self, mask: u16, ms: i64) -> Option<u16> {
        let deadline = Instant::now() + Duration::from_millis(ms.max(0) as u64);
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as i64;
            let first = recv_within(&self.sock, left)?;
            // The event is one frame of 6 bytes (u16 id, u32 value), then the endpoint.
            if first.get_more() {
                let _ = recv_within(&self.sock, STEP_MS);
            }
            if first.len() >= 2 {
                let id = u16::from_le_bytes([first[0], first[1]]);
                if id & mask != 0 {
                    return Some(id);
                }
            }
        }
    }
}

/// A certificate pair written by `create_certificates`, with its keys loaded back.
pub struct Cert {
    pub public: [u8; 32],
    pub secret: [u8; 32],
    pub public_z85: String,
    /// `<name>.key`
    pub public_path: std::path::PathBuf,
    /// `<name>.key_secret`
    pub secret_path: std::path::PathBuf,
}

/// Writes `<name>.key` and `<name>.key_secret` in `dir` and loads the keys back.
pub fn make_cert(dir: &std::path::Path, name: &str, metadata: &[(&str, &str)]) -> Cert {
    let (public_path, secret_path) =
        zmq_auth::create_certificates(dir, name, metadata).expect("create_certificates");
    let cert = zmq_auth::load_certificate(&secret_path).expect("load secret certificate");
    let public = *cert.public_key_bytes();
    let secret = *cert
        .secret_key_bytes()
        .expect("secret certificate holds a secret key");
    let public_z85 = cert.public_key().to_string();
    assert_eq!(public_z85, z85(&public));
    Cert {
        public,
        secret,
        public_z85,
        public_path,
        secret_path,
    }
}

/// The usual CURVE test setup: a server and a client certificate written in `keys`, and
/// an empty `trusted` directory to point `configure_curve` at.
pub struct CurveCerts {
    /// Holds both certificate pairs; kept alive so their files stay for later copies.
    pub keys: tempfile::TempDir,
    pub trusted: tempfile::TempDir,
    pub server: Cert,
    pub client: Cert,
}

/// Makes [`CurveCerts`]; the client certificate carries `client_metadata`.
pub fn curve_certs(client_metadata: &[(&str, &str)]) -> CurveCerts {
    let keys = tempfile::tempdir().expect("temp dir");
    let trusted = tempfile::tempdir().expect("temp dir");
    let server = make_cert(keys.path(), "server", &[]);
    let client = make_cert(keys.path(), "client", client_metadata);
    CurveCerts {
        keys,
        trusted,
        server,
        client,
    }
}

/// Copies a public certificate file into `dir`; returns the new path.
pub fn copy_into(file: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let to = dir.join(file.file_name().expect("file name"));
    std::fs::copy(file, &to).expect("copy certificate");
    to
}

/// A CURVE client using certificate `c`.
pub fn curve_client_cert(
    ctx: &zmq::Context,
    endpoint: &str,
    server_public: &[u8],
    c: &Cert,
) -> zmq::Socket {
    curve_client(ctx, endpoint, server_public, &c.public, &c.secret)
}

/// A DEALER on the ZAP endpoint: speaks RFC 27 to the authenticator directly.
pub fn zap_dealer(ctx: &zmq::Context) -> zmq::Socket {
    let s = ctx.socket(zmq::DEALER).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(5_000).unwrap();
    s.connect(zmq_auth::ZAP_ENDPOINT).unwrap();
    s
}
/// Sends a ZAP request from 127.0.0.1 (what libzmq sends, after the DEALER delimiter).
pub fn send_request(
    dealer: &zmq::Socket,
    id: &str,
    domain: &str,
    mechanism: &str,
    creds: &[&[u8]],
) {
    send_request_from(dealer, id, domain, "127.0.0.1", mechanism, creds);
}

/// Sends a ZAP request as a peer at `address`.
pub fn send_request_from(
    dealer: &zmq::Socket,
    id: &str,
    domain: &str,
    address: &str,
    mechanism: &str,
    creds: &[&[u8]],
) {
    let mut frames: Vec<&[u8]> = vec![
        b"",
        b"1.0",
        id.as_bytes(),
        domain.as_bytes(),
        address.as_bytes(),
        b"",
        mechanism.as_bytes(),
    ];
    frames.extend_from_slice(creds);
    dealer.send_multipart(frames, 0).unwrap();
}

/// One request from `address` and its (status code, status text).
pub fn zap_status_from(
    dealer: &zmq::Socket,
    domain: &str,
    address: &str,
    mechanism: &str,
    creds: &[&[u8]],
) -> (String, String) {
    send_request_from(dealer, "s", domain, address, mechanism, creds);
    let (_, code, text, _) = recv_reply(dealer).expect("a reply");
    (code, text)
}

/// An authenticator admitting PLAIN user `alice` (`correct-horse`) in every domain, its
/// event stream (on), and a ZAP dealer that checked it answers: 200 for alice.
pub fn serving_alice(
    ctx: &zmq::Context,
) -> (
    zmq_auth::ThreadAuthenticator,
    Receiver<AuthEvent>,
    zmq::Socket,
) {
    let auth = zmq_auth::ThreadAuthenticator::start(ctx).unwrap();
    auth.configure_plain("*", [("alice", "correct-horse")])
        .unwrap();
    let events = auth.events();
    let dealer = zap_dealer(ctx);
    assert_eq!(plain_status(&dealer, "", "alice", "correct-horse").0, "200");
    (auth, events, dealer)
}

/// A PLAIN request from 127.0.0.1: (status code, status text).
pub fn plain_status(dealer: &zmq::Socket, domain: &str, user: &str, pw: &str) -> (String, String) {
    plain_status_from(dealer, domain, "127.0.0.1", user, pw)
}

/// A PLAIN request from `address`: (status code, status text).
pub fn plain_status_from(
    dealer: &zmq::Socket,
    domain: &str,
    address: &str,
    user: &str,
    pw: &str,
) -> (String, String) {
    zap_status_from(
        dealer,
        domain,
        address,
        "PLAIN",
        &[user.as_bytes(), pw.as_bytes()],
    )
}

/// A CURVE request from 127.0.0.1: (status code, status text).
pub fn curve_status(dealer: &zmq::Socket, domain: &str, key: &[u8; 32]) -> (String, String) {
    zap_status_from(dealer, domain, "127.0.0.1", "CURVE", &[key])
}

/// The next reply as (request id, status code, status text, user id); None on timeout.
pub fn recv_reply(dealer: &zmq::Socket) -> Option<(String, String, String, String)> {
    let r = dealer.recv_multipart(0).ok()?;
    assert_eq!(r.len(), 7, "delimiter + six frames: {r:?}");
    let s = |i: usize| String::from_utf8_lossy(&r[i]).into_owned();
    Some((s(2), s(3), s(4), s(5)))
}

/// Polls `cond` until it holds, at most `limit` (a bound, not a correctness wait).
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Switches the file at `db` out of WAL mode (folding its log into it), from another
/// process: a self-contained file, ready to be renamed over a live store.
pub fn fold_wal(db: &std::path::Path) {
    let ok = std::process::Command::new("python3")
        .args([
            "-c",
            // Retried: the dropped store's watcher may hold the file for one more tick,
            // and SQLite leaves WAL mode only when it is the file's sole user.
            "import sqlite3,sys,time\n\
             end=time.time()+30\n\
             while True:\n\
             \x20   c=sqlite3.connect(sys.argv[1], timeout=30)\n\
             \x20   try:\n\
             \x20       if c.execute('PRAGMA journal_mode=DELETE').fetchone()[0]=='delete': break\n\
             \x20   except sqlite3.OperationalError:\n\
             \x20       pass\n\
             \x20   finally:\n\
             \x20       c.close()\n\
             \x20   assert time.time()<end\n\
             \x20   time.sleep(0.02)",
        ])
        .arg(db)
        .status()
        .unwrap();
    assert!(
        ok.success(),
        "python3 could not fold the log of {}",
        db.display()
    );
}

/// A ZAP CURVE request for `key` in domain `*` from 127.0.0.1, for
/// `Authenticator::handle_zap_message`.
pub fn curve_request(key: &[u8; 32]) -> [&[u8]; 7] {
    [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", key]
}

/// A new SQLite store at `path` holding `key` in domain `*`, and an `Authenticator`
/// that asks it for CURVE (checked: it admits `key`).
#[cfg(feature = "sqlite")]
pub fn sqlite_store_admitting(
    path: &std::path::Path,
    key: &[u8; 32],
) -> (zmq_auth::store::SqliteStore, zmq_auth::Authenticator) {
    let store = zmq_auth::store::SqliteStore::open(path).unwrap();
    store
        .add_key("*", &zmq_auth::encode_z85_key(key), &[])
        .unwrap();
    let mut auth = zmq_auth::Authenticator::new();
    auth.configure_curve_store("*", store.clone()).unwrap();
    assert_eq!(
        auth.handle_zap_message(&curve_request(key)).status_code(),
        200
    );
    (store, auth)
}
