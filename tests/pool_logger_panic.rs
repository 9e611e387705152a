//! Found by review: a pool thread's guard logged through the application's logger
//! unguarded. A callback that panics is caught and logged; a logger that panics on that
//! error line then ended the pool thread, its slot left looking busy for good, so after
//! a few such requests the pool had no thread left and every callback request waited
//! for its deadline and was answered 300. Now each is answered 500 and the pool stays.
//! (Its own test binary: the logger is process-wide.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use zmq_auth::{zmq, ThreadAuthenticator};

/// While set, the CURVE callback panics.
static CALLBACK_PANICS: AtomicBool = AtomicBool::new(false);

#[test]
fn a_panicking_logger_does_not_empty_the_pool() {
    if !zmq_auth::curve_available() {
        return;
    }
    panicking_logger::install();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve_callback("*", |_: &str, _: &str| {
        if CALLBACK_PANICS.load(Ordering::SeqCst) {
            panic!("test callback: deliberate panic");
        }
        true
    })
    .unwrap();
    let dealer = zap_dealer(&ctx);
    let key = keypair().public_key;
    let status = || curve_status(&dealer, "", &key).0;
    assert_eq!(status(), "200");

    panicking_logger::arm(true);
    CALLBACK_PANICS.store(true, Ordering::SeqCst);
    // More than the pool's threads (4 by default), one at a time.
    for i in 0..12 {
        assert_eq!(status(), "500", "panicking callback, request {i}");
    }
    CALLBACK_PANICS.store(false, Ordering::SeqCst);
    panicking_logger::arm(false);
    for i in 0..12 {
        assert_eq!(status(), "200", "the pool still answers, request {i}");
    }
    assert!(auth.is_alive());
}
