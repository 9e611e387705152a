//! A logger that panics on this crate's error records while armed: the application's
//! logger as a fault (the `*_logger_panic` tests). Process-wide, so each test using it
//! is its own test binary.

use std::sync::atomic::{AtomicBool, Ordering};

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

/// Installs the logger (once per process), disarmed.
pub fn install() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Error);
}

/// Arms or disarms it.
pub fn arm(on: bool) {
    ARMED.store(on, Ordering::SeqCst);
}
