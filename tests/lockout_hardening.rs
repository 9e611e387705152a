//! Lock-out hardening (issues 18 and 21), over real sockets: a "ban forever" setting
//! does not end the ZAP thread, the window slides, and the lock-out counts peers
//! (IPv6 hosts, IPC users) rather than artefacts of their addresses.

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{zmq, ThreadAuthenticator};

/// Issue 18 finding 1: `limit_failures(.., Duration::MAX)` overflowed `now + ban` on the
/// ZAP thread, which died; libzmq then admitted every CURVE key.
#[test]
fn ban_forever_keeps_the_handler_alive_and_refusing() {
    if !zmq_auth::curve_available() {
        return;
    }
    let certs = curve_certs(&[]);
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    // The trusted directory holds no client key: every client is unknown.
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    auth.limit_failures(3, Duration::from_secs(60), Duration::MAX)
        .unwrap();
    let events = auth.events();
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    for _ in 0..3 {
        let c = curve_client_pair(&ctx, &server.endpoint, &certs.server.public, &keypair());
        assert_refused_skipping(&events, &server, &c, "Unknown key");
    }
    // The ban has started (forever): the handler still answers and still refuses.
    assert!(auth.is_alive(), "the ZAP thread survived the ban");
    let c = curve_client_pair(&ctx, &server.endpoint, &certs.server.public, &keypair());
    assert_refused_skipping(&events, &server, &c, "Too many failures");
    let dealer = zap_dealer(&ctx);
    assert_eq!(
        curve_status(&dealer, "global", &[7u8; 32]),
        ("400".into(), "Too many failures".into())
    );
    assert_eq!(
        zap_status_from(&dealer, "global", "192.0.2.8", "CURVE", &[&[7u8; 32]]).1,
        "Unknown key",
        "other addresses are not banned"
    );
    assert!(auth.is_alive());
}
