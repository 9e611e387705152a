//! Found by review: the ZAP loop's panic handlers logged through the application's
//! logger unguarded. A logger that panics on error records turned one panicking request
//! step (a bug) into a second panic in the handler, which ended the ZAP thread (rule 9:
//! nothing may). Now the request is answered 500 and the loop goes on.
//! (Its own test binary: the logger and the hooks are process-wide.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use zmq_auth::{test_hooks, zmq, ThreadAuthenticator};

/// While set, the logger panics on every error record of this crate.
static ARMED: AtomicBool = AtomicBool::new(false);

struct PanickingLogger;

impl log::Log for PanickingLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("zmq_auth") && m.level() <= log::Level::Error
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) && ARMED.load(Ordering::SeqCst) {
            panic!("test logger: deliberate panic on an error record");
        }
    }
    fn flush(&self) {}
}

static LOGGER: PanickingLogger = PanickingLogger;

#[test]
fn a_panicking_logger_does_not_end_the_zap_thread() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Error);
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("alice", "correct-horse")])
        .unwrap();
    let dealer = zap_dealer(&ctx);
    let status = || plain_status(&dealer, "", "alice", "correct-horse").0;
    assert_eq!(status(), "200");

    ARMED.store(true, Ordering::SeqCst);
    for step in ["parse", "decide", "answer", "reply"] {
        test_hooks::panic_in_zap_step(Some(step));
        // The error line about the panic panics too; the request is still answered.
        assert_eq!(status(), "500", "a panic in step {step}");
        test_hooks::panic_in_zap_step(None);
        assert_eq!(status(), "200", "after a panic in step {step}");
    }
    ARMED.store(false, Ordering::SeqCst);
    assert!(auth.is_alive());
}
