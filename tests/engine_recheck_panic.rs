//! Found by review: a panic inside a re-check (a bug of ours, a logger's) must not leave
//! a source granting what it granted before; it refuses (500) until a re-check works.
//! (Its own test binary: the hook is process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

#[test]
fn a_panicking_recheck_refuses_instead_of_keeping_grants() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "alice=correct-horse\n").unwrap();
    auth.configure_plain_file("*", &path).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(plain_status(&dealer, "", "alice", "correct-horse").0, "200");
    test_hooks::set_recheck_panics(true);
    assert!(
        eventually(Duration::from_secs(5), || plain_status(
            &dealer,
            "",
            "alice",
            "correct-horse"
        )
        .0 == "500"),
        "the source refuses after its re-check panicked"
    );
    test_hooks::set_recheck_panics(false);
    // The watcher lives on: the next good re-check restores the file's users.
    assert!(eventually(Duration::from_secs(5), || plain_status(
        &dealer,
        "",
        "alice",
        "correct-horse"
    )
    .0 == "200"));
    assert!(auth.is_alive());
}
