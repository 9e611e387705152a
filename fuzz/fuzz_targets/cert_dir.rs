//! Certificate directories: `load_certificates`, `configure_curve` (strict) and the
//! re-check of a configured directory (lenient) on files built from the input, then
//! CURVE requests decided by the policy, against what `Certificate::from_zpl` (fuzzed on
//! its own by `cert_reader`) says of each file (DESIGN §5, "Fail closed" 1 and 2).
//!
//! Input: frames (a length byte, 255: a big-endian u16 follows, then the bytes); frames
//! go in pairs: a name chosen from a table (`*.key` and others) and the file's bytes.
//! The first half of the pairs is the directory configured strictly; a good directory
//! is then configured and replaced by the second half, which the next request re-checks.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use zmq_auth::{
    create_certificates, load_certificate, load_certificates, Authenticator, Certificate,
};

/// Names a listing may meet; only `*.key` (case-sensitive extension) is read.
const NAMES: [&str; 7] = [
    "a.key",
    "b.key",
    "c.key",
    ".h.key",
    "a.key_secret",
    "n.txt",
    "D.KEY",
];

struct Fixture {
    root: PathBuf,
    /// A certificate that is never written by the input.
    outsider: [u8; 32],
    /// The good directory's key.
    base: [u8; 32],
    base_text: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("zmq-auth-fuzz-dir-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let keys = root.join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let (base, _) = create_certificates(&keys, "base", &[]).unwrap();
        let base_text = std::fs::read_to_string(&base).unwrap();
        let base = *load_certificate(&base).unwrap().public_key_bytes();
        let (out, _) = create_certificates(&keys, "outsider", &[]).unwrap();
        let outsider = *load_certificate(out).unwrap().public_key_bytes();
        Fixture {
            root,
            outsider,
            base,
            base_text,
        }
    })
}

fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while let Some((&n, rest)) = data.split_first() {
        if frames.len() == 16 {
            break;
        }
        data = rest;
        let len = if n == 255 && data.len() >= 2 {
            let l = usize::from(u16::from_be_bytes([data[0], data[1]]));
            data = &data[2..];
            l
        } else {
            usize::from(n)
        };
        let (frame, rest) = data.split_at(len.min(data.len()));
        frames.push(frame);
        data = rest;
    }
    frames
}

/// What each `*.key` file yields: `Some(key)` when it loads.
fn expected(files: &HashMap<&'static str, &[u8]>) -> HashMap<&'static str, Option<[u8; 32]>> {
    files
        .iter()
        .filter(|(n, _)| Path::new(n).extension().is_some_and(|x| x == "key"))
        .map(|(&n, bytes)| {
            let key = std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| Certificate::from_zpl(n, t).ok())
                .map(|c| *c.public_key_bytes());
            (n, key)
        })
        .collect()
}

fn write_dir(dir: &Path, files: &HashMap<&'static str, &[u8]>) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn curve(auth: &mut Authenticator, key: &[u8; 32]) -> (u16, String) {
    let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", key];
    let r = auth.handle_zap_message(&req);
    (r.status_code(), r.status_text().to_string())
}

/// Every key a good file holds is admitted; every other key seen is not.
fn ask(
    auth: &mut Authenticator,
    exp: &HashMap<&'static str, Option<[u8; 32]>>,
    extra: &[[u8; 32]],
) {
    let good: HashSet<[u8; 32]> = exp.values().flatten().copied().collect();
    for key in &good {
        assert_eq!(
            curve(auth, key),
            (200, "OK".to_string()),
            "key of a good file"
        );
    }
    for key in extra {
        if !good.contains(key) {
            assert_eq!(curve(auth, key), (400, "Unknown key".to_string()));
        }
    }
}

fn pairs(frames: &[&[u8]]) -> Vec<(&'static str, Vec<u8>)> {
    frames
        .chunks_exact(2)
        .map(|p| {
            (
                NAMES[usize::from(p[0].first().copied().unwrap_or(0)) % NAMES.len()],
                p[1].to_vec(),
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if !zmq_auth::curve_available() {
        return;
    }
    let f = fixture();
    let frames = split(data);
    let all = pairs(&frames);
    let (first, second) = all.split_at(all.len().div_ceil(2));
    // The last file of a name wins, as when written in order.
    let as_map = |v: &[(&'static str, Vec<u8>)]| -> HashMap<&'static str, Vec<u8>> {
        v.iter().cloned().collect()
    };
    let (first, second) = (as_map(first), as_map(second));
    let first_ref: HashMap<&'static str, &[u8]> = first.iter().map(|(n, b)| (*n, &b[..])).collect();
    let second_ref: HashMap<&'static str, &[u8]> =
        second.iter().map(|(n, b)| (*n, &b[..])).collect();

    // 1. Strict: `load_certificates` and `configure_curve` load every `*.key` or fail.
    let dir = f.root.join("strict");
    write_dir(&dir, &first_ref);
    let exp = expected(&first_ref);
    let all_good = exp.values().all(Option::is_some);
    let keys: HashSet<String> = exp
        .values()
        .flatten()
        .map(zmq_auth::encode_z85_key)
        .collect();
    match load_certificates(&dir) {
        Ok(map) => {
            assert!(all_good, "load_certificates accepted a bad *.key file");
            assert_eq!(map.keys().cloned().collect::<HashSet<_>>(), keys);
        }
        Err(_) => assert!(!all_good, "load_certificates refused a good directory"),
    }
    let mut auth = Authenticator::new();
    auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY)
        .unwrap();
    match auth.configure_curve("*", &dir) {
        Ok(()) => {
            assert!(all_good, "configure_curve accepted a bad *.key file");
            ask(&mut auth, &exp, &[f.outsider, f.base]);
        }
        Err(_) => {
            assert!(!all_good, "configure_curve refused a good directory");
            // Nothing changed: still allow-any.
            assert_eq!(curve(&mut auth, &f.outsider).0, 200);
        }
    }

    // 2. Lenient: a configured good directory replaced by the second half. A bad file
    // admits no one, every good one applies, the removed base key is refused.
    let dir = f.root.join("lenient");
    let base: HashMap<&'static str, &[u8]> = [("base.key", f.base_text.as_bytes())].into();
    write_dir(&dir, &base);
    let mut auth = Authenticator::new();
    auth.configure_curve("*", &dir).unwrap();
    assert_eq!(curve(&mut auth, &f.base).0, 200);
    auth.set_reload_interval(Duration::ZERO);
    write_dir(&dir, &second_ref);
    let exp = expected(&second_ref);
    ask(&mut auth, &exp, &[f.outsider, f.base]);
});
