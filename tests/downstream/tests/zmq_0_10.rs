//! zmq-auth used as a rust-zmq 0.10 application uses it: the application's own
//! `zmq::Context` (from `zmq = "0.10"`) goes to `ThreadAuthenticator::start`, and
//! PLAIN and CURVE peers are admitted or refused over TCP loopback.
//!
//! CURVE needs a libzmq with CURVE: zmq 0.10's own build has none, the README's `links`
//! override (.cargo/config.toml here) gives the system one. Without it the CURVE test
//! prints why it skips, unless `ZMQ_AUTH_REQUIRE_CURVE=1` (scripts/zmq-0-10.sh sets it
//! for the run with the override), where that is a failure.

use std::time::{Duration, Instant};

use zmq_auth::{create_certificates, load_certificate, require_zap, StatusCode, ThreadAuthenticator};

const STEP: Duration = Duration::from_secs(10);

/// Receives one message within `STEP`, polling (never a blind sleep).
fn recv_within(sock: &zmq::Socket, limit: Duration) -> Option<zmq::Message> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i64::try_from(left.as_millis()).unwrap_or(i64::MAX);
        if sock.poll(zmq::POLLIN, ms).expect("poll") > 0 {
            return Some(sock.recv_msg(zmq::DONTWAIT).expect("recv"));
        }
        if left.is_zero() {
            return None;
        }
    }
}

fn curve_required() -> bool {
    std::env::var("ZMQ_AUTH_REQUIRE_CURVE").is_ok_and(|v| v == "1")
}

#[test]
fn the_reexport_is_the_applications_zmq() {
    // Compiles only when both name the same crate: the point of feature `zmq-0-10`.
    let ctx: zmq_auth::zmq::Context = zmq::Context::new();
    let (major, minor, _) = zmq::version();
    assert!((major, minor) >= (4, 3), "libzmq {major}.{minor}");
    drop(ctx);
}

#[test]
fn plain_admits_the_right_password_and_refuses_a_wrong_one() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).expect("start");
    auth.configure_plain("*", [("admin", "correct-horse")])
        .expect("configure_plain");
    let events = auth.events();

    let server = ctx.socket(zmq::PULL).unwrap();
    server.set_plain_server(true).unwrap();
    require_zap(&server, "global").unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();

    let good = ctx.socket(zmq::PUSH).unwrap();
    good.set_linger(0).unwrap();
    good.set_plain_username(Some("admin")).unwrap();
    good.set_plain_password(Some("correct-horse")).unwrap();
    good.connect(&endpoint).unwrap();
    good.send("hello", 0).unwrap();
    let mut msg = recv_within(&server, STEP).expect("the admitted client's message");
    assert_eq!(msg.gets("User-Id"), Some("admin"));

    let bad = ctx.socket(zmq::PUSH).unwrap();
    bad.set_linger(0).unwrap();
    bad.set_plain_username(Some("admin")).unwrap();
    bad.set_plain_password(Some("wrong")).unwrap();
    bad.connect(&endpoint).unwrap();
    bad.send("intruder", 0).unwrap();
    let refused = (0..10)
        .filter_map(|_| events.recv_timeout(STEP).ok())
        .find(|e| e.status != StatusCode::Success)
        .expect("a refusal event");
    assert_eq!(refused.reason, "Invalid password");
    assert!(recv_within(&server, Duration::from_millis(300)).is_none());
    auth.stop().unwrap();
}

#[test]
fn curve_admits_a_trusted_key_and_refuses_another() {
    if !zmq_auth::curve_available() {
        assert!(
            !curve_required(),
            "the linked libzmq has no CURVE: zmq 0.10 built its own libzmq; \
             the `links` override of the README was not applied"
        );
        eprintln!(
            "SKIPPED curve_admits_a_trusted_key_and_refuses_another: the linked libzmq has \
             no CURVE (zmq 0.10's own build); apply the README's `links` override"
        );
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let trusted = tempfile::tempdir().unwrap();
    let (_, server_secret) = create_certificates(keys.path(), "server", &[]).unwrap();
    let (alice_public, alice_secret) = create_certificates(keys.path(), "alice", &[]).unwrap();
    let (_, mallory_secret) = create_certificates(keys.path(), "mallory", &[]).unwrap();
    std::fs::copy(&alice_public, trusted.path().join("alice.key")).unwrap();
    let server_cert = load_certificate(&server_secret).unwrap();

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).expect("start");
    auth.configure_curve("*", trusted.path()).expect("configure_curve");

    let server = ctx.socket(zmq::PULL).unwrap();
    server.set_curve_server(true).unwrap();
    server
        .set_curve_secretkey(server_cert.secret_key_bytes().unwrap())
        .unwrap();
    require_zap(&server, "global").unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();

    let client = |secret: &std::path::Path| {
        let cert = load_certificate(secret).unwrap();
        let s = ctx.socket(zmq::PUSH).unwrap();
        s.set_linger(0).unwrap();
        s.set_curve_serverkey(server_cert.public_key_bytes()).unwrap();
        s.set_curve_publickey(cert.public_key_bytes()).unwrap();
        s.set_curve_secretkey(cert.secret_key_bytes().unwrap()).unwrap();
        s.connect(&endpoint).unwrap();
        (s, cert)
    };
    let (mallory, _) = client(&mallory_secret);
    mallory.send("intruder", 0).unwrap();
    let (alice, alice_cert) = client(&alice_secret);
    alice.send("hello", 0).unwrap();

    let mut msg = recv_within(&server, STEP).expect("alice's message");
    assert_eq!(&*msg, b"hello");
    assert_eq!(msg.gets("User-Id"), Some(alice_cert.public_key()));
    assert!(recv_within(&server, Duration::from_millis(300)).is_none());
    auth.stop().unwrap();
}
