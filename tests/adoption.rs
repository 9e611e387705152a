//! What a new user tripped on (issue 20): a `ThreadAuthenticator` dropped at once
//! (`start(&ctx)?;`) turns authentication off, so dropping a running one warns; and a
//! refusal names the refused identity (the CURVE key, the PLAIN username), in the event
//! and in the debug log, never the password.

mod log_capture;

use std::time::Duration;

use zmq_auth::{
    create_certificates, encode_z85_key, load_certificate, zmq, AuthEvent, StatusCode,
    ThreadAuthenticator,
};

const STEP: Duration = Duration::from_secs(10);

fn drop_warnings() -> usize {
    log_capture::records()
        .iter()
        .filter(|r| r.starts_with("WARN zmq_auth:") && r.contains("dropped while running"))
        .count()
}

/// The first event that is not a success, within a bounded wait.
fn first_refusal(events: &zmq_auth::crossbeam_channel::Receiver<AuthEvent>) -> AuthEvent {
    for _ in 0..20 {
        let event = events.recv_timeout(STEP).expect("an event");
        if event.status != StatusCode::Success {
            return event;
        }
    }
    panic!("no refusal among 20 events");
}

// Every other test in this binary stops its authenticator before dropping it, so the
// warning count moves only here.
#[test]
fn dropping_a_running_authenticator_warns_and_a_stopped_one_does_not() {
    log_capture::install_logger();
    let ctx = zmq::Context::new();

    let before = drop_warnings();
    let auth = ThreadAuthenticator::start(&ctx).expect("start");
    auth.stop().expect("stop");
    drop(auth);
    assert_eq!(drop_warnings(), before, "stop() then drop must not warn");

    let auth = ThreadAuthenticator::start(&ctx).expect("start");
    drop(auth);
    assert_eq!(
        drop_warnings(),
        before + 1,
        "dropping a running authenticator must warn: {:#?}",
        log_capture::records()
    );
}

#[test]
fn a_refused_curve_key_is_named_in_the_event_and_the_log() {
    if !zmq_auth::curve_available() {
        eprintln!("SKIPPED: the linked libzmq has no CURVE");
        return;
    }
    log_capture::install_logger();
    let keys = tempfile::tempdir().unwrap();
    let trusted = tempfile::tempdir().unwrap(); // empty: nobody is trusted
    let (_, server_secret) = create_certificates(keys.path(), "server", &[]).unwrap();
    let (_, mallory_secret) = create_certificates(keys.path(), "mallory", &[]).unwrap();
    let server_cert = load_certificate(&server_secret).unwrap();
    let mallory = load_certificate(&mallory_secret).unwrap();

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", trusted.path()).unwrap();
    let events = auth.events();
    let server = ctx.socket(zmq::PULL).unwrap();
    server.set_curve_server(true).unwrap();
    server
        .set_curve_secretkey(server_cert.secret_key_bytes().unwrap())
        .unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let client = ctx.socket(zmq::PUSH).unwrap();
    client.set_linger(0).unwrap();
    client
        .set_curve_serverkey(server_cert.public_key_bytes())
        .unwrap();
    client
        .set_curve_publickey(mallory.public_key_bytes())
        .unwrap();
    client
        .set_curve_secretkey(mallory.secret_key_bytes().unwrap())
        .unwrap();
    client
        .connect(&server.get_last_endpoint().unwrap().unwrap())
        .unwrap();

    let event = first_refusal(&events);
    assert_eq!(event.reason, "Unknown key");
    assert_eq!(event.user_id, "", "no user id on a refusal");
    assert_eq!(event.identity, mallory.public_key());
    assert_eq!(event.identity, encode_z85_key(mallory.public_key_bytes()));
    let key = mallory.public_key().to_string();
    assert!(
        log_capture::records()
            .iter()
            .any(|r| r.starts_with("DEBUG") && r.contains("Unknown key") && r.contains(&key)),
        "the debug line of the refusal names the key {key}"
    );
    auth.stop().unwrap();
}

#[test]
fn a_refused_plain_username_is_named_but_never_the_password() {
    log_capture::install_logger();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let events = auth.events();
    let server = ctx.socket(zmq::PULL).unwrap();
    server.set_plain_server(true).unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let client = ctx.socket(zmq::PUSH).unwrap();
    client.set_linger(0).unwrap();
    client.set_plain_username(Some("eve-the-guesser")).unwrap();
    client
        .set_plain_password(Some("hunter2-secret-guess"))
        .unwrap();
    client
        .connect(&server.get_last_endpoint().unwrap().unwrap())
        .unwrap();

    let event = first_refusal(&events);
    assert_eq!(event.reason, "Invalid username");
    assert_eq!(event.identity, "eve-the-guesser");
    assert!(!format!("{event:?}").contains("hunter2"));
    let records = log_capture::records();
    assert!(
        records.iter().any(|r| r.starts_with("DEBUG")
            && r.contains("Invalid username")
            && r.contains("eve-the-guesser")),
        "the debug line of the refusal names the username"
    );
    assert!(
        records.iter().all(|r| !r.contains("hunter2")),
        "a password was logged"
    );
    auth.stop().unwrap();
}

#[test]
fn an_admitted_peer_has_its_identity_too() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let events = auth.events();
    let server = ctx.socket(zmq::PULL).unwrap();
    server.set_plain_server(true).unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let client = ctx.socket(zmq::PUSH).unwrap();
    client.set_linger(0).unwrap();
    client.set_plain_username(Some("admin")).unwrap();
    client.set_plain_password(Some("correct-horse")).unwrap();
    client
        .connect(&server.get_last_endpoint().unwrap().unwrap())
        .unwrap();
    let event = events.recv_timeout(STEP).expect("an event");
    assert_eq!(event.status, StatusCode::Success);
    assert_eq!(event.user_id, "admin");
    assert_eq!(event.identity, "admin");
    auth.stop().unwrap();
}
