//! Found by review: the watcher had no guard of its own. A panic outside a re-check's
//! guard — here the application's logger panicking on the error line that a panicking
//! re-check writes — ended the watcher thread, and its sources kept what they last
//! granted, never checked again. Now the source refuses before anything is logged, the
//! watcher goes on, and the next good re-read restores the source.
//! (Its own test binary: the logger and the hook are process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

#[test]
fn a_panicking_logger_does_not_end_the_watcher() {
    panicking_logger::install();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "alice=correct-horse\n").unwrap();
    auth.configure_plain_file("*", &path).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dealer = zap_dealer(&ctx);
    let status = |password: &str| plain_status(&dealer, "", "alice", password).0;
    assert_eq!(status("correct-horse"), "200");

    // A re-check panics, and so does the logger on the error line about it.
    panicking_logger::arm(true);
    test_hooks::set_recheck_panics(true);
    assert!(
        eventually(Duration::from_secs(5), || status("correct-horse") == "500"),
        "the source refuses after its re-check panicked"
    );
    test_hooks::set_recheck_panics(false);
    panicking_logger::arm(false);

    // The watcher lives on: the source is restored, then follows the file.
    assert!(
        eventually(Duration::from_secs(5), || status("correct-horse") == "200"),
        "a good re-read restores the source"
    );
    std::fs::write(&path, "alice=battery-staple\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || status("battery-staple") == "200"),
        "the watcher still follows the file"
    );
    assert_eq!(status("correct-horse"), "400");
    assert!(auth.is_alive());
}
