//! `ThreadAuthenticator` with the PLAIN mechanism over real libzmq sockets on TCP
//! loopback (ports pyzmq's `test_plain` and CZMQ zauth's PLAIN selftest).

mod common;

use common::*;
use zmq_auth::{zmq, Mechanism, StatusCode, ThreadAuthenticator};

#[test]
fn plain_correct_password_connects_with_user_id() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("admin"));
    let ev = next_event(&events, STEP_MS).unwrap();
    assert_eq!(ev.mechanism, Mechanism::Plain);
    assert_eq!(ev.status, StatusCode::Success);
    assert_eq!(ev.user_id, "admin");
    assert_eq!(ev.domain, "global");
    assert_eq!(ev.address, "127.0.0.1");
}

#[test]
fn plain_without_domain_uses_star() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, None);
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("admin"));
}

#[test]
fn plain_wrong_password_is_refused() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "Bogus");
    let ev = assert_refused(&events, &server, &client, "Invalid password");
    assert_eq!(ev.mechanism, Mechanism::Plain);
}

#[test]
fn plain_unconfigured_is_refused() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_refused(&events, &server, &client, "No passwords defined");
}

/// zmq4's bug: an unknown user with an empty password must not be "equal" to a
/// missing entry.
#[test]
fn plain_unknown_user_with_empty_password_is_refused() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, Some("global"));
    // libzmq refuses an empty ZMQ_PLAIN_PASSWORD; setting only the username sends an
    // empty password.
    let client = client_with(&ctx, &server.endpoint, |s| {
        s.set_plain_username(Some("mallory")).unwrap();
    });
    assert_refused(&events, &server, &client, "Invalid username");
}

/// Finding 1 of the engine issue: an empty password is never configured, so a stock
/// client that sets only a username (libzmq then sends an empty password) never gets in.
#[test]
fn plain_empty_password_is_refused_at_configuration() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let err = auth
        .configure_plain("*", [("admin", "correct-horse"), ("guest", "")])
        .unwrap_err();
    assert!(matches!(err, zmq_auth::Error::InvalidConfig(_)), "{err:?}");
    assert!(err.to_string().contains("guest"), "{err}");
    let server = plain_server(&ctx, Some("global"));
    let guest = client_with(&ctx, &server.endpoint, |s| {
        s.set_plain_username(Some("guest")).unwrap();
    });
    assert_refused(&events, &server, &guest, "Invalid username");
    // The refused call changed nothing: admin still gets in.
    let admin = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    let mut msg = assert_connects(&server, &admin);
    assert_eq!(user_id(&mut msg).as_deref(), Some("admin"));
}

#[test]
fn plain_star_covers_a_named_domain() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, Some("some.named.domain"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("admin"));
}

#[test]
fn plain_exact_domain_beats_star() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "star-password")])
        .unwrap();
    auth.configure_plain("global", [("admin", "global-password")])
        .unwrap();
    let server = plain_server(&ctx, Some("global"));

    // The "*" password does not open the "global" domain...
    let wrong = plain_client(&ctx, &server.endpoint, "admin", "star-password");
    assert_refused(&events, &server, &wrong, "Invalid password");
    drop(wrong);

    // ...its own password does.
    let client = plain_client(&ctx, &server.endpoint, "admin", "global-password");
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("admin"));

    // And another domain still falls back to "*".
    let other = plain_server(&ctx, Some("other"));
    let client = plain_client(&ctx, &other.endpoint, "admin", "star-password");
    assert_connects(&other, &client);
}

#[test]
fn plain_named_domain_only_refuses_other_domains() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("global", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, Some("other"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_refused(&events, &server, &client, "Unknown domain");
}

#[test]
fn plain_replaced_passwords_take_effect() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "old")]).unwrap();
    auth.configure_plain("*", [("admin", "new")]).unwrap();
    let server = plain_server(&ctx, Some("global"));
    let old = plain_client(&ctx, &server.endpoint, "admin", "old");
    assert_refused(&events, &server, &old, "Invalid password");
    drop(old);
    let client = plain_client(&ctx, &server.endpoint, "admin", "new");
    assert_connects(&server, &client);
}

#[test]
fn plain_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "# users\nadmin=correct-horse\n\nguest=guest\n").unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain_file("*", &path).unwrap();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "guest", "guest");
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("guest"));
    let wrong = plain_client(&ctx, &server.endpoint, "admin", "guest");
    assert_refused(&events, &server, &wrong, "Invalid password");

    // A missing file is an error and the previous passwords stay.
    assert!(auth
        .configure_plain_file("*", dir.path().join("missing"))
        .is_err());
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_connects(&server, &client);
}

#[test]
fn plain_deny_list_applies_before_passwords() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    auth.deny(["127.0.0.1"]).unwrap();
    let server = plain_server(&ctx, None);
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_refused(&events, &server, &client, "Address denied");
}

/// pyzmq's `test_plain` ends this way: once the authenticator is stopped, a plain NULL
/// connection (no domain) still works.
#[test]
fn null_connection_works_after_stop() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_connects(&server, &client);
    auth.stop().unwrap();
    assert!(!auth.is_alive());

    let server = null_server(&ctx, None);
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}
