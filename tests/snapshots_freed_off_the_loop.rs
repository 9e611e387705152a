//! Issue 19 item 3 ("frees the old one elsewhere"), for policy snapshots: when a change
//! replaces a snapshot, the ZAP loop usually holds its last reference, and whoever drops
//! that frees it — a replaced key table of megabytes, an `Arc` per certificate with
//! metadata. The loop hands the snapshots it lets go of to the watcher, which frees them.
//! (Its own test binary: the counts are process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

#[test]
fn replaced_snapshots_are_freed_by_the_watcher_not_the_zap_loop() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let dealer = zap_dealer(&ctx);
    let changes = 20u64;
    for i in 0..changes {
        let password = format!("password-{i}");
        auth.configure_plain("*", [("alice", password.as_str())])
            .unwrap();
        // The ZAP loop takes the new snapshot (and lets the old one go) for this request.
        assert_eq!(plain_status(&dealer, "", "alice", &password).0, "200");
    }
    assert!(
        eventually(Duration::from_secs(10), || test_hooks::snapshots_freed().1
            >= changes - 1),
        "the watcher freed the replaced snapshots: {:?}",
        test_hooks::snapshots_freed()
    );
    assert_eq!(
        test_hooks::snapshots_freed().0,
        0,
        "no snapshot was freed on the ZAP loop"
    );
}
