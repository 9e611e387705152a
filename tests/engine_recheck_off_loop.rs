//! Finding 5 of the engine issue: re-checking sources (a 100,000-key directory took
//! 100–430 ms per pass) must never hold up the ZAP loop. The test hook holds every
//! re-check at its start, as if the pass took forever; handshakes must still be
//! answered, from the last snapshot. (Its own test binary: the hook is process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

#[test]
fn handshakes_are_answered_while_a_recheck_is_stuck() {
    if !zmq_auth::curve_available() {
        return;
    }
    let certs = curve_certs(&[]);
    copy_into(&certs.client.public_path, certs.trusted.path());
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(10)).unwrap();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();

    let hold = test_hooks::hold_rechecks();
    assert!(
        hold.wait_entered(Duration::from_secs(5)),
        "the watcher started a re-check"
    );
    // The watcher is stuck inside a pass; the ZAP loop serves from the snapshot.
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(
        user_id(&mut msg).as_deref(),
        Some(certs.client.public_z85.as_str())
    );
    let plain = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &plain.endpoint, "admin", "correct-horse");
    assert_connects(&plain, &client);
    // A configuration call does not wait for the stuck pass either.
    auth.allow(["127.0.0.1"]).unwrap();
    drop(hold);
    // And stop is bounded after the pass is released.
    auth.stop().unwrap();
}
