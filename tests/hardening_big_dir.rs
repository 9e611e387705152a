//! Hardening (issue #6): a 10,000-certificate directory with one corrupt file and one
//! duplicate loads the rest, and reports both as warnings (the corrupt file by name).
//!
//! The warnings are captured with a process-wide logger, so this binary holds exactly
//! one test. Public certificates are written directly (no `create_certificates`: its
//! fsyncs would make 10,000 files take too long).

mod hardening_common;

use std::sync::Mutex;
use std::time::Instant;

use hardening_common::write_public_cert;
use zmq_auth::{zmq, Authenticator};

const COUNT: usize = 10_000;

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("zmq_auth") && m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn ten_thousand_certificates_with_a_corrupt_file_and_a_duplicate() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Warn);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let t = Instant::now();
    let keys: Vec<[u8; 32]> = (0..COUNT)
        .map(|i| {
            let key = zmq::CurveKeyPair::new().unwrap().public_key;
            write_public_cert(dir, &format!("client{i:05}"), &key);
            key
        })
        .collect();
    // The duplicate: another name for client00007's key.
    std::fs::copy(dir.join("client00007.key"), dir.join("zz-duplicate.key")).unwrap();
    let generated = t.elapsed();

    let mut auth = Authenticator::new();
    auth.set_reload_interval(std::time::Duration::ZERO);
    let t = Instant::now();
    auth.configure_curve("*", dir).expect("configure_curve");
    let loaded = t.elapsed();
    // The corrupt file, added later: a 39-character key (its name sorts in the middle).
    // The re-check skips it (it admits no one) and keeps every other key.
    std::fs::write(
        dir.join("client05000x.key"),
        "metadata\ncurve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"\n",
    )
    .unwrap();

    let status = |auth: &mut Authenticator, key: &[u8; 32]| {
        let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", key];
        auth.handle_zap_message(&req).status_code()
    };
    let t = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        if i.is_multiple_of(97) || i == 7 || i == COUNT - 1 || i == 4999 || i == 5000 {
            assert_eq!(status(&mut auth, key), 200, "client{i:05}");
        }
    }
    let unknown = zmq::CurveKeyPair::new().unwrap().public_key;
    assert_eq!(status(&mut auth, &unknown), 400);
    let decided = t.elapsed();

    let logs = CAPTURE.0.lock().unwrap().clone();
    eprintln!(
        "generated {COUNT} files in {generated:?}; configure_curve {loaded:?}; 106 decisions {decided:?}"
    );
    for (level, msg) in &logs {
        eprintln!("captured {level}: {msg}");
    }
    assert!(
        logs.iter()
            .any(|(l, m)| *l == log::Level::Warn && m.contains("client05000x.key")),
        "the corrupt file is reported by name: {logs:?}"
    );
    assert!(
        logs.iter().any(|(l, m)| *l == log::Level::Warn
            && m.contains("zz-duplicate.key")
            && m.contains("client00007.key")),
        "the duplicate is reported with both names: {logs:?}"
    );
    assert_eq!(logs.len(), 2, "exactly two warnings: {logs:?}");

    // At a configuration call the same corrupt file is an error naming it, and the
    // policy stays as it was.
    let err = auth.configure_curve("*", dir).unwrap_err().to_string();
    assert!(err.contains("client05000x.key"), "{err}");
    assert_eq!(status(&mut auth, &keys[7]), 200);
    std::fs::remove_file(dir.join("client05000x.key")).unwrap();

    // Removing one of the duplicates keeps the key trusted (reference counted).
    std::fs::remove_file(dir.join("zz-duplicate.key")).unwrap();
    auth.configure_curve("*", dir).unwrap();
    assert_eq!(status(&mut auth, &keys[7]), 200);
}
