//! The engine's pool (issue 19 item 1, issue 18 finding 3): admission by time, not by
//! count; a bulkhead per source; equal asks in flight share one answer. Requests go to
//! the ZAP endpoint from a DEALER, as libzmq's own handshakes do.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};

/// A DEALER on the ZAP endpoint that waits up to `ms` for each reply.
fn dealer_waiting(ctx: &zmq::Context, ms: i32) -> zmq::Socket {
    let d = zap_dealer(ctx);
    d.set_rcvtimeo(ms).unwrap();
    d
}

/// Replies until `n` came or one is late: request id → (status code, status text).
fn collect(dealer: &zmq::Socket, n: usize) -> HashMap<String, (String, String)> {
    let mut got = HashMap::new();
    while got.len() < n {
        let Some((id, code, text, _)) = recv_reply(dealer) else {
            break;
        };
        got.insert(id, (code, text));
    }
    got
}

/// Issue 19: a burst of 1,000 requests to an instant callback are all admitted (on
/// `main` about 68 got 200: the queue held 16 per thread, the rest got 300 at once).
/// The deadline is long so that only the admission rule, not the machine's load, can
/// refuse anything.
#[test]
fn a_burst_to_an_instant_callback_is_admitted_whole() {
    let ctx = zmq::Context::new();
    let options = EngineOptions::default().deadline(Duration::from_secs(60));
    let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    auth.configure_curve_callback("*", |_, _| true).unwrap();
    let dealer = dealer_waiting(&ctx, 30_000);
    const BURST: usize = 1_000;
    for i in 0..BURST {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        send_request(&dealer, &i.to_string(), "", "CURVE", &[&key]);
    }
    let got = collect(&dealer, BURST);
    let ok = got.values().filter(|(code, _)| code == "200").count();
    assert_eq!(
        (got.len(), ok),
        (BURST, BURST),
        "not all admitted: {:?}",
        got.values().find(|(code, _)| code != "200")
    );
}

/// Issue 18 finding 3: a provider that hangs in domain A holds only its own share of
/// the pool; domain B's callback and a PLAIN argon2id check are answered meanwhile.
/// With a 60 s deadline, only a thread of their own can answer them in time.
#[test]
fn a_hung_provider_delays_no_other_source() {
    let ctx = zmq::Context::new();
    let options = EngineOptions::default()
        .pool_size(2)
        .deadline(Duration::from_secs(60));
    let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let entered = Arc::new(AtomicUsize::new(0));
    let entered_cb = Arc::clone(&entered);
    auth.configure_curve_callback("A", move |_, _| {
        entered_cb.fetch_add(1, Ordering::SeqCst);
        release_rx.recv_timeout(Duration::from_secs(60)).is_ok()
    })
    .unwrap();
    auth.configure_curve_callback("B", |_, _| true).unwrap();
    let phc = zmq_auth::hash_password("correct-horse").unwrap();
    auth.configure_plain("hashed", [("carol", phc.as_str())])
        .unwrap();

    let dealer = dealer_waiting(&ctx, 60_000);
    for i in 0..10u8 {
        send_request(&dealer, &format!("a{i}"), "A", "CURVE", &[&[i; 32]]);
    }
    assert!(eventually(Duration::from_secs(10), || entered
        .load(Ordering::SeqCst)
        == 2));
    send_request(&dealer, "b", "B", "CURVE", &[&[200u8; 32]]);
    send_request(
        &dealer,
        "plain",
        "hashed",
        "PLAIN",
        &[b"carol", b"correct-horse"],
    );
    // Domain A's requests may be answered 300 meanwhile (the pool sees they cannot
    // make their deadline); B and the PLAIN check must be admitted.
    let mut wanted: HashMap<&str, Option<String>> = [("b", None), ("plain", None)].into();
    while wanted.values().any(Option::is_none) {
        let (id, code, _, _) = recv_reply(&dealer).expect("B and PLAIN answered meanwhile");
        if let Some(slot) = wanted.get_mut(id.as_str()) {
            *slot = Some(code);
        }
    }
    assert_eq!(wanted["b"].as_deref(), Some("200"));
    assert_eq!(wanted["plain"].as_deref(), Some("200"));
    assert_eq!(entered.load(Ordering::SeqCst), 2, "A held only its share");
    drop(release_tx);
}

/// Issue 19: many requests with one key while that key is being looked up make one
/// look-up, and all get its answer. Counted with a provider that blocks until released.
#[test]
fn equal_asks_in_flight_share_one_look_up() {
    let ctx = zmq::Context::new();
    let options = EngineOptions::default()
        .pool_size(4)
        .deadline(Duration::from_secs(60));
    let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_cb = Arc::clone(&calls);
    auth.configure_curve_callback("*", move |_, _| {
        calls_cb.fetch_add(1, Ordering::SeqCst);
        release_rx.recv_timeout(Duration::from_secs(60)).is_ok()
    })
    .unwrap();
    let dealer = dealer_waiting(&ctx, 30_000);
    let key = [7u8; 32];
    send_request(&dealer, "first", "", "CURVE", &[&key]);
    assert!(eventually(Duration::from_secs(10), || calls
        .load(Ordering::SeqCst)
        == 1));
    for i in 0..50 {
        send_request(&dealer, &format!("same{i}"), "", "CURVE", &[&key]);
    }
    // Requests are taken in order: once the NULL reply is back, all 50 were handed out.
    send_request(&dealer, "null", "", "NULL", &[]);
    let (id, code, _, _) = recv_reply(&dealer).expect("NULL answered at once");
    assert_eq!((id.as_str(), code.as_str()), ("null", "200"));
    // Another key is its own look-up.
    send_request(&dealer, "other", "", "CURVE", &[&[8u8; 32]]);
    assert!(eventually(Duration::from_secs(10), || calls
        .load(Ordering::SeqCst)
        == 2));
    for _ in 0..2 {
        release_tx.send(()).unwrap();
    }
    let got = collect(&dealer, 52);
    assert_eq!(got.len(), 52);
    assert!(got.values().all(|(code, _)| code == "200"), "{got:?}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one look-up per key in flight"
    );
}

/// The memory bound: with `max_waiting` requests waiting, the next is answered 300 at
/// once (the deadline is long, so nothing else can answer it).
#[test]
fn the_memory_bound_answers_300_at_once() {
    let ctx = zmq::Context::new();
    let options = EngineOptions::default()
        .pool_size(1)
        .max_waiting(5)
        .deadline(Duration::from_secs(60));
    let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let entered = Arc::new(AtomicUsize::new(0));
    let entered_cb = Arc::clone(&entered);
    auth.configure_curve_callback("*", move |_, _| {
        entered_cb.fetch_add(1, Ordering::SeqCst);
        release_rx.recv_timeout(Duration::from_secs(60)).is_ok()
    })
    .unwrap();
    let dealer = dealer_waiting(&ctx, 30_000);
    send_request(&dealer, "running", "", "CURVE", &[&[0u8; 32]]);
    assert!(eventually(Duration::from_secs(10), || entered
        .load(Ordering::SeqCst)
        == 1));
    for i in 1..=8u8 {
        send_request(&dealer, &format!("w{i}"), "", "CURVE", &[&[i; 32]]);
    }
    // Five wait; the last three find the bound reached.
    for _ in 0..3 {
        let (id, code, text, _) = recv_reply(&dealer).expect("an immediate 300");
        assert_eq!((code.as_str(), text.as_str()), ("300", "Try later"));
        assert!(["w6", "w7", "w8"].contains(&id.as_str()), "{id}");
    }
    drop(release_tx);
}

/// A source that was once slower than the deadline is not refused for good: with a
/// thread free, a request is always tried (its deadline still bounds it), so the
/// source's answer time is learnt again. (Found in review: one 300 ms+ answer made every
/// later request "late" at once, so no job ever ran to correct the estimate.)
#[test]
fn a_source_that_was_slow_once_is_tried_again() {
    let ctx = zmq::Context::new();
    let options = EngineOptions::default()
        .pool_size(1)
        .deadline(Duration::from_millis(300));
    let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_cb = Arc::clone(&calls);
    auth.configure_curve_callback("*", move |_, _| {
        // The first call waits until the test has seen its 300, then works on for a
        // while (a source far slower than the deadline); later calls are instant.
        if calls_cb.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(700));
        }
        true
    })
    .unwrap();
    let dealer = dealer_waiting(&ctx, 30_000);
    send_request(&dealer, "slow", "", "CURVE", &[&[1u8; 32]]);
    let (_, code, _, _) = recv_reply(&dealer).expect("a 300 at the deadline");
    assert_eq!(code, "300");
    release_tx.send(()).unwrap();
    // The slow answer took longer than the deadline; the source is fast again.
    let mut i = 0u8;
    assert!(
        eventually(Duration::from_secs(20), || {
            i = i.wrapping_add(1);
            curve_status(&dealer, "", &[i; 32]).0 == "200"
        }),
        "the source stays refused after one slow answer"
    );
}
