//! GSSAPI end to end: a throwaway MIT KDC on loopback (`support/kdc.rs`), a
//! GSSAPI server and client in this process over `tcp://127.0.0.1`, and the
//! `ThreadAuthenticator` answering libzmq's ZAP requests.
//!
//! GSSAPI reads its configuration (`KRB5_CONFIG`, keytabs, credential cache)
//! from the process environment, so this binary holds exactly one `#[test]`
//! and sets the environment before its first `zmq::Context`.
//!
//! Skipped (with a message) when the Kerberos binaries or libzmq's GSSAPI
//! support are missing, unless `CI=true`, where that is a failure.
//! Debian packages: `krb5-kdc krb5-admin-server krb5-user libzmq3-dev`.

#[path = "support/kdc.rs"]
mod kdc;

use std::os::raw::{c_int, c_void};
use std::time::{Duration, Instant};

use zmq_auth::{zmq, AuthEvent, Mechanism, StatusCode, ThreadAuthenticator};

// zmq.h: `zmq` 0.9 has no setter for the GSSAPI name-type options.
const ZMQ_GSSAPI_PRINCIPAL_NAMETYPE: c_int = 90;
const ZMQ_GSSAPI_NT_KRB5_PRINCIPAL: c_int = 2;

// zmq.h: socket monitor events.
const ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
const ZMQ_EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;
const ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
const ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: u16 = 0x4000;

/// How long a step may take before the test fails. A GSSAPI handshake that
/// goes wrong hangs silently, so every wait is bounded.
const STEP: Duration = Duration::from_secs(2);
/// How long to watch for a message that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

// Declared here: the crate's zmq-sys is not a dependency of the tests (it is 0.11 or
// 0.12, whichever rust-zmq the build uses); the linked libzmq defines both.
extern "C" {
    fn zmq_setsockopt(
        socket: *mut c_void,
        option: c_int,
        value: *const c_void,
        len: usize,
    ) -> c_int;
    fn zmq_errno() -> c_int;
}

fn set_int_option(socket: &mut zmq::Socket, option: c_int, value: c_int) {
    // SAFETY: a live socket handle, a pointer to a c_int and its size.
    let rc = unsafe {
        zmq_setsockopt(
            socket.as_mut_ptr(),
            option,
            &value as *const c_int as *const c_void,
            std::mem::size_of::<c_int>(),
        )
    };
    assert_eq!(
        rc,
        0,
        "zmq_setsockopt({option}) failed: {}",
        zmq::Error::from_raw(unsafe { zmq_errno() })
    );
}

/// A GSSAPI server (PULL) on an ephemeral loopback port, in ZAP domain
/// "global", with a monitor reporting handshake outcomes.
struct Server {
    socket: zmq::Socket,
    monitor: zmq::Socket,
    endpoint: String,
}

impl Server {
    fn new(ctx: &zmq::Context, kdc: &kdc::Kdc, name: &str) -> Server {
        let socket = ctx.socket(zmq::PULL).unwrap();
        socket.set_linger(0).unwrap();
        socket.set_gssapi_server(true).unwrap();
        socket.set_gssapi_principal(&kdc.service_name()).unwrap();
        socket.set_zap_domain("global").unwrap();

        let monitor_endpoint = format!("inproc://gssapi-test-monitor-{name}");
        let events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED
            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
        socket
            .monitor(&monitor_endpoint, i32::from(events))
            .unwrap();
        let monitor = ctx.socket(zmq::PAIR).unwrap();
        monitor.set_linger(0).unwrap();
        monitor.connect(&monitor_endpoint).unwrap();

        socket.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = socket.get_last_endpoint().unwrap().unwrap();
        Server {
            socket,
            monitor,
            endpoint,
        }
    }

    /// The next handshake event: (event, value). For a ZAP failure the value
    /// is the ZAP status code.
    fn next_event(&self, timeout: Duration) -> Option<(u16, u32)> {
        if self.monitor.poll(zmq::POLLIN, millis(timeout)).unwrap() == 0 {
            return None;
        }
        let frames = self.monitor.recv_multipart(0).unwrap();
        let head = &frames[0];
        assert!(head.len() >= 6, "short monitor frame {head:?}");
        let event = u16::from_le_bytes([head[0], head[1]]);
        let value = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
        Some((event, value))
    }

    fn recv(&self, timeout: Duration) -> Option<zmq::Message> {
        if self.socket.poll(zmq::POLLIN, millis(timeout)).unwrap() == 0 {
            return None;
        }
        Some(self.socket.recv_msg(zmq::DONTWAIT).unwrap())
    }
}

/// A GSSAPI client (PUSH) for the KDC's client principal.
fn client(ctx: &zmq::Context, kdc: &kdc::Kdc, endpoint: &str) -> zmq::Socket {
    let mut socket = ctx.socket(zmq::PUSH).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_sndtimeo(millis(STEP) as i32).unwrap();
    socket
        .set_gssapi_service_principal(&kdc.service_name())
        .unwrap();
    socket
        .set_gssapi_principal(&kdc.client_principal())
        .unwrap();
    set_int_option(
        &mut socket,
        ZMQ_GSSAPI_PRINCIPAL_NAMETYPE,
        ZMQ_GSSAPI_NT_KRB5_PRINCIPAL,
    );
    socket.connect(endpoint).unwrap();
    socket
}

fn millis(d: Duration) -> i64 {
    d.as_millis() as i64
}

fn event_name(event: u16) -> &'static str {
    match event {
        ZMQ_EVENT_HANDSHAKE_SUCCEEDED => "HANDSHAKE_SUCCEEDED",
        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH => "HANDSHAKE_FAILED_AUTH",
        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL => "HANDSHAKE_FAILED_PROTOCOL",
        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL => "HANDSHAKE_FAILED_NO_DETAIL",
        _ => "other",
    }
}

/// libzmq up to 4.3.5 ignores a ZAP denial for GSSAPI: it reports
/// HANDSHAKE_FAILED_AUTH but then lets the connection through anyway
/// (zeromq/libzmq#4912, fixed on master by #4913, in no release yet).
fn libzmq_ignores_gssapi_zap_denial() -> bool {
    let (major, minor, patch) = zmq::version();
    (major, minor, patch) <= (4, 3, 5)
}

/// Allowed: the handshake succeeds, the message arrives, and its User-Id is
/// the user id from our ZAP reply, which is the client's principal.
fn allowed_client_gets_through(kdc: &kdc::Kdc) {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_gssapi("*").unwrap();
    auth.allow(["127.0.0.1"]).unwrap();
    let events = auth.events();

    let server = Server::new(&ctx, kdc, "allow");
    let client = client(&ctx, kdc, &server.endpoint);
    client.send("hello", 0).unwrap();

    let event = server.next_event(STEP);
    assert_eq!(
        event.map(|(e, v)| (event_name(e), v)),
        Some(("HANDSHAKE_SUCCEEDED", 0)),
        "GSSAPI handshake with an allowed client"
    );
    let mut msg = server
        .recv(STEP)
        .expect("no message from an allowed GSSAPI client");
    assert_eq!(msg.as_str(), Some("hello"));
    assert_eq!(msg.gets("User-Id"), Some(kdc.client_principal().as_str()));
    assert_eq!(msg.gets("User-Id"), Some("client@ZMQAUTH.TEST"));
    assert_eq!(
        events.recv_timeout(STEP).expect("no decision event"),
        AuthEvent {
            domain: "global".into(),
            address: "127.0.0.1".into(),
            mechanism: Mechanism::Gssapi,
            status: StatusCode::Success,
            user_id: "client@ZMQAUTH.TEST".into(),
            reason: "OK".into(),
            identity: "client@ZMQAUTH.TEST".into(),
        }
    );

    drop(client);
    drop(server);
    drop(auth);
    drop(ctx);
}

/// Denied by address: our ZAP handler answers 400. libzmq must report the
/// failed authentication; on a fixed libzmq nothing arrives, on an affected
/// one (see `libzmq_ignores_gssapi_zap_denial`) the message arrives with an
/// empty User-Id, never with the principal.
fn denied_client_is_refused(kdc: &kdc::Kdc) {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_gssapi("*").unwrap();
    auth.deny(["127.0.0.1"]).unwrap();
    let events = auth.events();

    let server = Server::new(&ctx, kdc, "deny");
    let client = client(&ctx, kdc, &server.endpoint);
    // The PUSH pipe exists before the handshake, so this queues and returns.
    client.send("hello", 0).unwrap();

    let event = server.next_event(STEP);
    assert_eq!(
        event.map(|(e, v)| (event_name(e), v)),
        Some(("HANDSHAKE_FAILED_AUTH", 400)),
        "GSSAPI handshake with a denied client: the ZAP handler must answer 400"
    );
    assert_eq!(
        events.recv_timeout(STEP).expect("no decision event"),
        AuthEvent {
            domain: "global".into(),
            address: "127.0.0.1".into(),
            mechanism: Mechanism::Gssapi,
            status: StatusCode::AuthenticationFailure,
            user_id: String::new(),
            reason: "Address denied".into(),
            identity: kdc.client_principal(),
        }
    );
    match server.recv(QUIET) {
        None => {}
        Some(mut msg) => {
            assert!(
                libzmq_ignores_gssapi_zap_denial(),
                "libzmq {:?} delivered a message from a client the ZAP handler denied",
                zmq::version()
            );
            assert_eq!(
                msg.gets("User-Id"),
                Some(""),
                "a denied client must not carry the principal as its User-Id"
            );
            eprintln!(
                "note: libzmq {:?} let a GSSAPI client through after a ZAP 400 \
                 (zeromq/libzmq#4912); the denial was reported and User-Id is empty",
                zmq::version()
            );
        }
    }

    drop(client);
    drop(server);
    drop(auth);
    drop(ctx);
}

#[test]
fn gssapi_end_to_end() {
    let _ = env_logger::builder().is_test(true).try_init();
    let started = Instant::now();

    let Some(kdc) = kdc::Kdc::start_or_skip() else {
        return;
    };
    // Before the first zmq::Context: GSSAPI reads these from the environment.
    kdc.apply_env();

    if !zmq::has("gssapi").unwrap_or(false) {
        let why = "the system libzmq was built without GSSAPI";
        if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
            panic!("CI=true and the GSSAPI test cannot run: {why}");
        }
        eprintln!("skipping: {why}");
        return;
    }

    allowed_client_gets_through(&kdc);
    denied_client_is_refused(&kdc);

    drop(kdc);
    eprintln!("gssapi_end_to_end took {:?}", started.elapsed());
}
