//! DESIGN.md §5 rule 9, the hook that ends the ZAP loop: when the request that should
//! wake the loop is served in the same batch as requests already queued, no wake-up
//! follows it, and the loop must still end. (Its own test binary: the hooks are
//! process-wide.)

mod common;

use common::*;
use zmq_auth::{test_hooks, zmq};

#[test]
fn the_loop_ends_when_the_waking_request_was_served_in_a_batch() {
    let ctx = zmq::Context::new();
    let (auth, events, dealer) = serving_alice(&ctx);
    // A long batch: every request's answer step panics (answered 500, the loop goes
    // on), which makes each one slow. The end hook is set and the waking request sent
    // while the loop is still serving it, so the waking request is served in that batch.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    test_hooks::panic_in_zap_step(Some("answer"));
    for i in 0..200 {
        send_request(
            &dealer,
            &i.to_string(),
            "",
            "PLAIN",
            &[b"alice", b"correct-horse"],
        );
    }
    // The first answer is out: the loop is in its batch, the rest queued behind.
    assert_eq!(recv_reply(&dealer).map(|r| r.1), Some("500".to_string()));
    test_hooks::end_zap_loop();
    send_request(&dealer, "wake", "", "PLAIN", &[b"alice", b"correct-horse"]);
    let ev = wait_event(&events, STEP_MS, |e| e.is_handler_exit());
    test_hooks::panic_in_zap_step(None);
    std::panic::set_hook(quiet);
    assert!(ev.is_some(), "the loop ended and said so");
    auth.stop().unwrap();
}
