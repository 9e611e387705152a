//! `ThreadAuthenticator` with the CURVE mechanism over real libzmq sockets on TCP
//! loopback (ports pyzmq's `test_curve`, `test_curve_callback`, `test_curve_user_id`
//! and CZMQ zauth's CURVE selftest, plus this crate's own guarantees).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use zmq_auth::{
    zmq, CredentialsProvider, CurveDecision, Mechanism, StatusCode, ThreadAuthenticator,
    CURVE_ALLOW_ANY,
};

/// How long a certificate-directory change may take to be noticed (the design says
/// "at most about once a second").
const RELOAD_DEADLINE: Duration = Duration::from_millis(2_500);

#[test]
fn curve_unconfigured_is_refused() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    let ev = assert_refused(&events, &server, &client, "Unknown domain");
    assert_eq!(ev.mechanism, Mechanism::Curve);
}

#[test]
fn curve_allow_any() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client_keys = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    let mut msg = assert_connects(&server, &client);
    let expected = z85(&client_keys.public_key);
    assert_eq!(user_id(&mut msg), Some(expected.clone()));
    let ev = next_event(&events, STEP_MS).unwrap();
    assert_eq!(ev.mechanism, Mechanism::Curve);
    assert_eq!(ev.status, StatusCode::Success);
    assert_eq!(ev.user_id, expected);
    assert_eq!(ev.domain, "global");
    assert_eq!(ev.address, "127.0.0.1");
}

#[test]
fn curve_allow_any_without_domain() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("", CURVE_ALLOW_ANY).unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, None);
    let client_keys = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(z85(&client_keys.public_key)));
    // It really went through the handler.
    let ev = next_event(&events, STEP_MS).unwrap();
    assert_eq!(ev.status, StatusCode::Success);
    assert_eq!(ev.domain, "");
}

/// pyzmq `test_curve` / CZMQ ironhouse: only clients whose public certificate is in the
/// directory get in; the User-Id is the client's Z85 key and the certificate's metadata
/// arrives as message properties.
#[test]
fn curve_certificate_directory_with_metadata() {
    let certs = curve_certs(&[("email", "alice@example.org"), ("company", "ACME Inc.")]);
    copy_into(&certs.client.public_path, certs.trusted.path());
    copy_into(&certs.server.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(certs.client.public_z85.clone()));
    assert_eq!(msg.gets("email"), Some("alice@example.org"));
    assert_eq!(msg.gets("company"), Some("ACME Inc."));
    let ev = next_event(&events, STEP_MS).unwrap();
    assert_eq!(ev.status, StatusCode::Success);
    assert_eq!(ev.user_id, certs.client.public_z85);
}

#[test]
fn curve_certificate_without_metadata_has_no_properties() {
    let certs = curve_certs(&[]);
    copy_into(&certs.client.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(certs.client.public_z85.clone()));
    assert_eq!(msg.gets("email"), None);
}

#[test]
fn curve_wrong_server_key_fails() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let monitor = Monitor::new(&ctx, &server.sock);
    let not_the_server = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &not_the_server.public_key,
        &keypair(),
    );
    queue(&client, HELLO);
    // The server cannot open the client's HELLO: the handshake fails before ZAP.
    let ev = monitor.wait_for(EVENTS_HANDSHAKE_FAILED | EVENT_HANDSHAKE_SUCCEEDED, STEP_MS);
    assert!(
        ev.is_some_and(|e| e & EVENTS_HANDSHAKE_FAILED != 0),
        "expected a failed handshake on the server, got {ev:?}"
    );
    assert!(recv_within(&server.sock, QUIET_MS).is_none());
    assert!(
        events.try_recv().is_err(),
        "the handler is never asked about a client that failed the CURVE handshake"
    );
}

#[test]
fn curve_unknown_client_key_is_refused() {
    let certs = curve_certs(&[]);
    copy_into(&certs.client.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let stranger = curve_client_pair(&ctx, &server.endpoint, &certs.server.public, &keypair());
    let ev = assert_refused(&events, &server, &stranger, "Unknown key");
    assert_eq!(ev.mechanism, Mechanism::Curve);
    // The known client still gets in.
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    assert_connects(&server, &client);
}

/// A certificate copied into a configured directory is accepted without another call.
#[test]
fn curve_certificate_added_later_is_accepted() {
    let certs = curve_certs(&[]);
    copy_into(&certs.server.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    assert_refused(&events, &server, &client, "Unknown key");
    drop(client);

    copy_into(&certs.client.public_path, certs.trusted.path());
    let copied = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        // A fresh client per attempt, paced by the bounded waits below.
        let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
        queue(&client, HELLO);
        let ev = next_event(&events, STEP_MS).expect("every attempt gets a decision");
        if ev.status == StatusCode::Success {
            assert_eq!(ev.user_id, certs.client.public_z85);
            let mut msg = recv_within(&server.sock, STEP_MS).expect("admitted client's message");
            assert_eq!(user_id(&mut msg), Some(certs.client.public_z85.clone()));
            break;
        }
        assert_eq!(ev.reason, "Unknown key", "event: {ev:?}");
        assert!(
            copied.elapsed() < RELOAD_DEADLINE,
            "a certificate added to the directory was not accepted within {RELOAD_DEADLINE:?} \
             ({attempts} attempts)"
        );
        if let Some(mut msg) = recv_within(&server.sock, 100) {
            // A retry of this client got in meanwhile.
            assert_eq!(user_id(&mut msg), Some(certs.client.public_z85.clone()));
            break;
        }
    }
}

/// A certificate removed from a configured directory stops being accepted without
/// another call.
#[test]
fn curve_certificate_removed_later_is_refused() {
    let certs = curve_certs(&[]);
    let copied = copy_into(&certs.client.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    assert_connects(&server, &client);
    drop(client);
    let _ = next_event(&events, STEP_MS);

    std::fs::remove_file(&copied).unwrap();
    let removed = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
        queue(&client, HELLO);
        let ev = next_event(&events, STEP_MS).expect("every attempt gets a decision");
        if ev.status != StatusCode::Success {
            assert_eq!(ev.reason, "Unknown key", "event: {ev:?}");
            assert!(recv_within(&server.sock, QUIET_MS).is_none());
            break;
        }
        assert!(recv_within(&server.sock, STEP_MS).is_some());
        assert!(
            removed.elapsed() < RELOAD_DEADLINE,
            "a certificate removed from the directory was still accepted after \
             {RELOAD_DEADLINE:?} ({attempts} attempts)"
        );
        // Pace the attempts with a bounded wait for an event that should not come.
        assert!(next_event(&events, 100).is_none_or(|e| e.status == StatusCode::Success));
    }
}

#[test]
fn curve_callback_true_admits_and_sees_domain_and_key() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let (seen_tx, seen_rx) = crossbeam_channel::unbounded();
    auth.configure_curve_callback("*", move |domain: &str, key: &str| {
        let _ = seen_tx.send((domain.to_string(), key.to_string()));
        true
    })
    .unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client_keys = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(z85(&client_keys.public_key)));
    let (domain, key) = seen_rx.try_recv().expect("the callback was called");
    assert_eq!(domain, "global");
    assert_eq!(key, z85(&client_keys.public_key));
}

#[test]
fn curve_callback_false_refuses() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve_callback("*", |_: &str, _: &str| false)
        .unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    assert_refused(&events, &server, &client, "Unknown key");
}

#[test]
fn curve_callback_chooses_by_key() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let good = keypair();
    let good_z85 = z85(&good.public_key);
    auth.configure_curve_callback("*", move |_: &str, key: &str| key == good_z85)
        .unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let bad = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    assert_refused(&events, &server, &bad, "Unknown key");
    drop(bad);
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &good);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(z85(&good.public_key)));
}

/// pyzmq's raising callback kills its thread; here it is a 500 and the thread lives on.
#[test]
fn curve_panicking_callback_denies_and_thread_lives_on() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve_callback("*", |_: &str, _: &str| -> bool {
        panic!("deliberate panic in a CURVE callback (expected by the test)")
    })
    .unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    queue(&client, HELLO);
    let ev = next_event(&events, STEP_MS).expect("a decision");
    assert_eq!(ev.status, StatusCode::InternalError, "event: {ev:?}");
    assert_eq!(ev.reason, "Internal error");
    assert_eq!(ev.user_id, "");
    assert!(recv_within(&server.sock, QUIET_MS).is_none());
    assert!(auth.is_alive());
    drop(client);

    // The thread still serves: a new policy applies and the next connection works.
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    let client_keys = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(z85(&client_keys.public_key)));
    assert!(auth.is_alive());
}

#[test]
fn curve_panicking_user_id_function_denies_and_thread_lives_on() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    auth.set_curve_user_id(|_: &[u8; 32]| -> String {
        panic!("deliberate panic in a user-id function (expected by the test)")
    })
    .unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    queue(&client, HELLO);
    let ev = next_event(&events, STEP_MS).expect("a decision");
    assert_eq!(ev.status, StatusCode::InternalError, "event: {ev:?}");
    assert!(recv_within(&server.sock, QUIET_MS).is_none());
    assert!(auth.is_alive());
    drop(client);

    auth.set_curve_user_id(|k: &[u8; 32]| format!("ok-{:02x}", k[0]))
        .unwrap();
    let client_keys = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    let mut msg = assert_connects(&server, &client);
    assert_eq!(
        user_id(&mut msg),
        Some(format!("ok-{:02x}", client_keys.public_key[0]))
    );
}

/// A provider that answers "try later" once, then allows: on a 300 libzmq sends the
/// client no ERROR and the client retries by itself on a new connection.
///
/// Measured with libzmq 4.3.4: after a 300 the server neither sends ERROR nor closes
/// the connection; it drops it only when its handshake timer (`ZMQ_HANDSHAKE_IVL`,
/// 30 s by default) fires, and then the client reconnects. So the server here uses a
/// short handshake interval.
#[test]
fn curve_try_later_then_allow() {
    struct Flaky(Arc<AtomicUsize>);
    impl CredentialsProvider for Flaky {
        fn callback(&self, _: &str, _: &str) -> bool {
            true
        }
        fn decide(&self, _: &str, _: &str) -> CurveDecision {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                CurveDecision::TryLater
            } else {
                CurveDecision::Allow
            }
        }
    }
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let calls = Arc::new(AtomicUsize::new(0));
    auth.configure_curve_provider("*", Flaky(Arc::clone(&calls)))
        .unwrap();
    let server_keys = keypair();
    let server = server_with(&ctx, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(&server_keys.secret_key).unwrap();
        s.set_zap_domain("global").unwrap();
        s.set_handshake_ivl(200).unwrap();
    });
    let client_keys = keypair();
    let client = curve_client_pair(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    queue(&client, HELLO);
    let first = next_event(&events, STEP_MS).expect("first decision");
    assert_eq!(first.status, StatusCode::TemporaryError, "event: {first:?}");
    assert_eq!(first.user_id, "");
    let mut msg = recv_within(&server.sock, STEP_MS).expect("the client retried and got in");
    assert_eq!(user_id(&mut msg), Some(z85(&client_keys.public_key)));
    let second = next_event(&events, STEP_MS).expect("second decision");
    assert_eq!(second.status, StatusCode::Success, "event: {second:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn curve_set_user_id_on_running_authenticator() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));

    let first = keypair();
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &first);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(z85(&first.public_key)));

    auth.set_curve_user_id(|k: &[u8; 32]| format!("client-{:02x}{:02x}", k[0], k[1]))
        .unwrap();
    let second = keypair();
    let client2 = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &second);
    let mut msg = assert_connects(&server, &client2);
    assert_eq!(
        user_id(&mut msg),
        Some(format!(
            "client-{:02x}{:02x}",
            second.public_key[0], second.public_key[1]
        ))
    );
}

/// A failed `configure_curve` (missing directory) returns an error and keeps the
/// previous policy (pyzmq only logs it).
#[test]
fn curve_failed_configure_keeps_previous_policy() {
    let certs = curve_certs(&[]);
    copy_into(&certs.client.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let missing = certs.trusted.path().join("does-not-exist");
    let err = auth.configure_curve("*", &missing).unwrap_err();
    assert!(
        err.to_string().contains("does-not-exist"),
        "the error names the directory: {err}"
    );
    assert!(auth.is_alive());

    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    // Still the certificate directory: the known client gets in...
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(certs.client.public_z85.clone()));
    let _ = next_event(&events, STEP_MS);
    // ...and a stranger does not (the policy was neither dropped nor opened up).
    let stranger = curve_client_pair(&ctx, &server.endpoint, &certs.server.public, &keypair());
    assert_refused(&events, &server, &stranger, "Unknown key");
}

#[test]
fn curve_policy_is_per_domain() {
    let certs = curve_certs(&[]);
    copy_into(&certs.client.public_path, certs.trusted.path());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    auth.configure_curve("secure", certs.trusted.path())
        .unwrap();

    let secure = curve_server(&ctx, &certs.server.secret, Some("secure"));
    let open = curve_server(&ctx, &certs.server.secret, Some("open"));
    let stranger = keypair();
    let c = curve_client_pair(&ctx, &secure.endpoint, &certs.server.public, &stranger);
    assert_refused(&events, &secure, &c, "Unknown key");
    let c = curve_client_pair(&ctx, &open.endpoint, &certs.server.public, &stranger);
    assert_connects(&open, &c);
    let c = curve_client_cert(&ctx, &secure.endpoint, &certs.server.public, &certs.client);
    assert_connects(&secure, &c);
}

#[test]
fn curve_deny_list_applies() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    auth.deny(["127.0.0.1"]).unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    let ev = assert_refused(&events, &server, &client, "Address denied");
    assert_eq!(ev.mechanism, Mechanism::Curve);
}
