//! Issue 18 finding 1 / DESIGN.md §5 rule 9: every per-request step of the ZAP loop is
//! isolated. A panic in one (injected by a test hook, as a bug would) answers that
//! request 500, and the loop goes on serving. (Its own test binary: the hook is
//! process-wide.)

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

/// Steps of a request answered on the loop itself.
const LOOP_STEPS: &[&str] = &["parse", "decide", "lockout", "answer", "event", "reply"];
/// Steps of a request answered after the pool (an argon2id check).
/// (Its parse and lock-out check before the pool are the loop's steps above.)
const POOLED_STEPS: &[&str] = &["pooled-parse", "pooled-lockout", "answer", "event", "reply"];

fn request(dealer: &zmq::Socket, id: &str, user: &str, pw: &str) -> (String, String, String) {
    send_request_from(
        dealer,
        id,
        "",
        "192.0.2.5",
        "PLAIN",
        &[user.as_bytes(), pw.as_bytes()],
    );
    let (rid, code, text, _) = recv_reply(dealer).expect("a reply, even after a panic");
    (rid, code, text)
}

#[test]
fn a_panic_in_any_request_step_answers_500_and_the_loop_goes_on() {
    #[cfg(feature = "metrics")]
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let hashed = zmq_auth::hash_password("Pw-isolation-hashed-7b1e").unwrap();
    auth.configure_plain("*", [("alice", "correct-horse"), ("bob", hashed.as_str())])
        .unwrap();
    auth.limit_failures(1000, Duration::from_secs(60), Duration::from_secs(60))
        .unwrap();
    let events = auth.events();
    let dealer = zap_dealer(&ctx);

    for (steps, user, pw) in [
        (LOOP_STEPS, "alice", "correct-horse"),
        (POOLED_STEPS, "bob", "Pw-isolation-hashed-7b1e"),
    ] {
        for (i, step) in steps.iter().enumerate() {
            test_hooks::panic_in_zap_step(Some(step));
            let id = format!("{user}-{i}");
            assert_eq!(
                request(&dealer, &id, user, pw),
                (id.clone(), "500".into(), "Internal error".into()),
                "{user}: a panic in step {step} answers that request 500"
            );
            test_hooks::panic_in_zap_step(None);
            assert!(auth.is_alive(), "{user}: alive after a panic in {step}");
            assert_eq!(
                request(&dealer, "next", user, pw).1,
                "200",
                "{user}: the next request after a panic in {step} is served"
            );
        }
    }
    while events.try_recv().is_ok() {}
    #[cfg(feature = "metrics")]
    {
        let text = metrics.render();
        let count = |step: &str| {
            let prefix = format!("zmq_auth_request_panics_total{{step=\"{step}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        assert_eq!(count("request"), LOOP_STEPS.len() as u64, "{text}");
        assert_eq!(count("pooled"), POOLED_STEPS.len() as u64, "{text}");
    }

    // Over a real handshake: a panic in the decision refuses, never admits.
    let server = plain_server(&ctx, Some("global"));
    test_hooks::panic_in_zap_step(Some("decide"));
    let c = plain_client(&ctx, &server.endpoint, "alice", "correct-horse");
    assert!(
        send_and_recv(&server, &c).is_none(),
        "a client whose request panicked did not get in"
    );
    test_hooks::panic_in_zap_step(None);
    drop(c);
    let c = plain_client(&ctx, &server.endpoint, "alice", "correct-horse");
    assert_connects(&server, &c);
    assert!(auth.is_alive());
}
