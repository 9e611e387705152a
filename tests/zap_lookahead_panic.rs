//! A panic in the hint for a request received ahead (a bug there) is contained: two
//! requests are held at that moment, the one being answered and the one ahead, and both
//! are answered as usual, not lost. (Its own test binary: the hooks are process-wide.)

mod common;

use common::*;
use zmq_auth::{test_hooks, zmq};

#[test]
fn a_panicking_hint_loses_no_request() {
    let ctx = zmq::Context::new();
    let (auth, _events, dealer) = serving_alice(&ctx);
    dealer.set_sndhwm(0).unwrap();
    dealer.set_rcvhwm(0).unwrap();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    test_hooks::panic_in_zap_step(Some("prefetch"));
    // Queued at once, so that the loop receives most of them ahead of another.
    let n: usize = 600;
    for i in 0..n {
        let pw: &[u8] = if i.is_multiple_of(3) {
            b"wrong"
        } else {
            b"correct-horse"
        };
        send_request(&dealer, &i.to_string(), "", "PLAIN", &[b"alice", pw]);
    }
    let mut seen = vec![false; n];
    let mut result = Ok(());
    for _ in 0..n {
        let Some((id, status, _, _)) = recv_reply(&dealer) else {
            result = Err("a request went unanswered".to_string());
            break;
        };
        let i: usize = id.parse().unwrap();
        let want = if i.is_multiple_of(3) { "400" } else { "200" };
        if status != want || seen[i] {
            result = Err(format!(
                "request {i}: {status}, answered before: {}",
                seen[i]
            ));
            break;
        }
        seen[i] = true;
    }
    test_hooks::panic_in_zap_step(None);
    std::panic::set_hook(quiet);
    result.unwrap();
    assert!(seen.iter().all(|s| *s));
    assert!(auth.is_alive());
    auth.stop().unwrap();
}
