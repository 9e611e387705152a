//! DESIGN.md §5 rule 9: no configuration value ends a thread of the handler. A regression
//! guard: the watcher computes `last + interval`, which saturates now; before, it did not
//! overflow either, but only because the engine stores the interval as u64 nanoseconds
//! (at most about 584 years).

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{zmq, ThreadAuthenticator};

#[test]
fn a_huge_reload_interval_does_not_end_the_watcher() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "alice=correct-horse\n").unwrap();
    auth.configure_plain_file("*", &path).unwrap();
    auth.set_reload_interval(Duration::MAX).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(plain_status(&dealer, "", "alice", "correct-horse").0, "200");
    // Let the watcher look at the interval a few times (it does every 50 ms).
    std::thread::sleep(Duration::from_millis(300));
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    std::fs::write(&path, "bob=battery-staple\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || plain_status(
            &dealer,
            "",
            "alice",
            "correct-horse"
        )
        .1 == "Invalid username"),
        "the watcher still re-checks: alice's removal is seen"
    );
    assert!(auth.is_alive());
}
