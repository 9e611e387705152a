//! Issue 18 finding 5: a failed `configure` closure must not swallow a source change.
//! The closure's `still_admits` used to re-check the sources its copy shares with the
//! live configuration and then return `Err`; the watcher, comparing the disk with the
//! sources rather than with what was published, then saw nothing new and never
//! republished: a user removed from the file stayed admitted. (Its own test binary: the
//! hook that holds the watcher is process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, Error, Mechanism, ThreadAuthenticator};

#[test]
fn a_failed_closure_does_not_swallow_a_password_file_change() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "alice=correct-horse\nbob=battery-staple\n").unwrap();
    auth.configure_plain_file("*", &path).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(plain_status(&dealer, "", "alice", "correct-horse").0, "200");

    // The watcher is stuck at the start of a re-check while alice is removed and a
    // closure looks at the sources, then fails.
    let hold = test_hooks::hold_watcher_rechecks();
    assert!(
        hold.wait_entered(Duration::from_secs(10)),
        "the watcher started a re-check"
    );
    std::fs::write(&path, "bob=battery-staple\n").unwrap();
    let err = auth
        .configure(|a| {
            a.set_reload_interval(Duration::ZERO);
            // Whatever this answers, the closure then fails: nothing of it may stay.
            let _ = a.still_admits("", Mechanism::Plain, "alice");
            Err(Error::Reentrant)
        })
        .unwrap_err();
    assert!(matches!(err, Error::Reentrant));
    drop(hold);

    // The removal reaches the ZAP answers all the same.
    assert!(
        eventually(Duration::from_secs(10), || plain_status(
            &dealer,
            "",
            "alice",
            "correct-horse"
        )
        .0 == "400"),
        "alice, removed from the file, is refused"
    );
    assert_eq!(plain_status(&dealer, "", "bob", "battery-staple").0, "200");
    assert!(!auth.still_admits("", Mechanism::Plain, "alice"));
}
