//! DESIGN.md §5 rule 9: should the ZAP loop end other than by `stop`, that is an error
//! log, an event, a metric and `is_alive() == false`. (Its own test binary: the hook that
//! ends the loop is process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, StatusCode};

#[test]
fn an_unexpected_exit_is_an_event_and_not_alive() {
    #[cfg(feature = "metrics")]
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let ctx = zmq::Context::new();
    let (auth, events, dealer) = serving_alice(&ctx);
    assert!(auth.is_alive());
    test_hooks::end_zap_loop();
    // Wake the loop: the request may or may not be answered, the loop ends either way.
    send_request(&dealer, "wake", "", "PLAIN", &[b"alice", b"correct-horse"]);
    let ev = wait_event(&events, STEP_MS, |e| e.is_handler_exit())
        .expect("an event says the handler exited");
    assert_eq!(ev.status, StatusCode::InternalError);
    assert_eq!(ev.reason, zmq_auth::AuthEvent::HANDLER_EXITED);
    assert!(
        eventually(Duration::from_secs(5), || !auth.is_alive()),
        "is_alive() turns false"
    );
    #[cfg(feature = "metrics")]
    assert!(
        metrics
            .render()
            .lines()
            .any(|l| l == "zmq_auth_zap_thread_exits_total 1"),
        "counted: {}",
        metrics.render()
    );
    // A stop afterwards is fine and sends no second event.
    auth.stop().unwrap();
    assert!(events.try_iter().all(|e| !e.is_handler_exit()));
}
