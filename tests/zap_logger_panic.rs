//! Found by review: the ZAP loop's panic handlers logged through the application's
//! logger unguarded. A logger that panics on error records turned one panicking request
//! step (a bug) into a second panic in the handler, which ended the ZAP thread (rule 9:
//! nothing may). Now the request is answered 500 and the loop goes on.
//! (Its own test binary: the logger and the hooks are process-wide.)

mod common;

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

#[test]
fn a_panicking_logger_does_not_end_the_zap_thread() {
    panicking_logger::install();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("alice", "correct-horse")])
        .unwrap();
    let dealer = zap_dealer(&ctx);
    let status = || plain_status(&dealer, "", "alice", "correct-horse").0;
    assert_eq!(status(), "200");

    panicking_logger::arm(true);
    for step in ["parse", "decide", "answer", "reply"] {
        test_hooks::panic_in_zap_step(Some(step));
        // The error line about the panic panics too; the request is still answered.
        assert_eq!(status(), "500", "a panic in step {step}");
        test_hooks::panic_in_zap_step(None);
        assert_eq!(status(), "200", "after a panic in step {step}");
    }
    panicking_logger::arm(false);
    assert!(auth.is_alive());
}
