//! `require_zap` (DESIGN §5 "Fail closed" rule 8) over real libzmq sockets on TCP
//! loopback: a server that requires ZAP refuses new peers once the authenticator is
//! stopped, where a server without it admits them (libzmq's fail-open, DESIGN §9).

mod common;

use common::*;
use zmq_auth::{require_zap, zmq, Error, ThreadAuthenticator};

/// A CURVE server that requires ZAP in `domain`.
fn curve_server_requiring(ctx: &zmq::Context, secret: &[u8], domain: &str) -> Server {
    server_with(ctx, |s| {
        s.set_curve_server(true).expect("curve server");
        s.set_curve_secretkey(secret).expect("curve secret key");
        require_zap(s, domain).expect("require_zap");
    })
}

/// Asserts that `client` does not get in: the server's monitor reports a failed
/// handshake, and then no message arrives.
#[track_caller]
fn assert_handshake_refused(monitor: &Monitor, server: &Server, client: &zmq::Socket) {
    queue(client, HELLO);
    assert!(
        monitor.wait_for(EVENTS_HANDSHAKE_FAILED, STEP_MS).is_some(),
        "the server should report a failed handshake"
    );
    assert!(
        recv_within(&server.sock, QUIET_MS).is_none(),
        "a refused client's message arrived"
    );
}

#[test]
fn curve_trusted_admitted_then_refused_after_stop() {
    let certs = curve_certs(&[]);
    copy_into(&certs.client.public_path, certs.trusted.path());
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    let server = curve_server_requiring(&ctx, &certs.server.secret, "global");

    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg), Some(certs.client.public_z85.clone()));
    drop(client);

    auth.stop().unwrap();
    assert!(!auth.is_alive());

    // The same trusted certificate: with no handler to ask, nobody gets in.
    let monitor = Monitor::new(&ctx, &server.sock);
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    assert_handshake_refused(&monitor, &server, &client);
}

/// The contrast: the same setup without `require_zap` (only a ZAP domain) admits a new
/// client once the authenticator is stopped, with no User-Id from any handler.
#[test]
fn curve_without_require_zap_fails_open_after_stop() {
    let certs = curve_certs(&[]);
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", certs.trusted.path()).unwrap(); // nobody trusted
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    auth.stop().unwrap();

    let stranger = keypair();
    let client = curve_client_pair(&ctx, &server.endpoint, &certs.server.public, &stranger);
    let mut msg = assert_connects(&server, &client);
    let uid = user_id(&mut msg);
    assert!(uid.as_deref().unwrap_or("").is_empty(), "got {uid:?}");
}

/// With no authenticator ever started, a server that requires ZAP admits no one.
#[test]
fn curve_never_started_is_refused() {
    let certs = curve_certs(&[]);
    let ctx = zmq::Context::new();
    let server = curve_server_requiring(&ctx, &certs.server.secret, "global");
    let monitor = Monitor::new(&ctx, &server.sock);
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    assert_handshake_refused(&monitor, &server, &client);
}

#[test]
fn null_with_domain_admitted_then_refused_after_stop() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let server = server_with(&ctx, |s| require_zap(s, "global").unwrap());

    let client = null_client(&ctx, &server.endpoint);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("anonymous"));
    let ev = next_event(&events, STEP_MS).expect("the handler decided");
    assert_eq!(ev.domain, "global");
    drop(client);

    auth.stop().unwrap();
    let monitor = Monitor::new(&ctx, &server.sock);
    let client = null_client(&ctx, &server.endpoint);
    assert_handshake_refused(&monitor, &server, &client);
}

/// The NULL contrast: a ZAP domain alone lets a NULL client in after stop.
#[test]
fn null_with_domain_only_fails_open_after_stop() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let server = null_server(&ctx, Some("global"));
    auth.stop().unwrap();
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

#[test]
fn refused_on_bound_socket_and_empty_domain() {
    let ctx = zmq::Context::new();
    let server = null_server(&ctx, None);
    assert!(matches!(
        require_zap(&server.sock, "global"),
        Err(Error::ZapAfterBind)
    ));
    // Issue 20: a typed error that says what is wrong, not `libzmq: Invalid argument`.
    let fresh = ctx.socket(zmq::PULL).unwrap();
    match require_zap(&fresh, "") {
        Err(err @ Error::InvalidConfig(_)) => {
            let shown = err.to_string();
            assert!(shown.contains("non-empty domain"), "{shown}");
            assert!(!shown.contains("Invalid argument"), "{shown}");
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    // Nothing was set on the socket.
    assert_eq!(fresh.get_zap_domain().unwrap().unwrap(), "");
}
