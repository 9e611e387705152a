//! A capturing `log` logger for the no-secrets tests: every record the crate emits, at
//! every level, kept in memory so a test can check them all. One per test binary (the
//! logger is process-global).

use std::sync::{Mutex, Once};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Captured {
    level: Level,
    target: String,
    message: String,
}

static RECORDS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        let captured = Captured {
            level: record.level(),
            target: record.target().to_string(),
            message: format!("{}", record.args()),
        };
        RECORDS.lock().unwrap().push(captured);
    }
    fn flush(&self) {}
}

/// Installs the logger at `Trace` (once per process).
pub fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_boxed_logger(Box::new(Capture)).unwrap();
        log::set_max_level(LevelFilter::Trace);
    });
}

/// Every record so far as `LEVEL target: message`.
pub fn records() -> Vec<String> {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}: {}", r.level, r.target, r.message))
        .collect()
}
