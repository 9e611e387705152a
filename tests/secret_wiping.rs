//! Secret hygiene (issue 12 finding 11): the crate must not free a heap block that still
//! holds a secret key, so nothing of it stays behind in freed memory.
//!
//! A global allocator checks, while a test has armed it, every block as it is freed
//! (a block being freed is still the allocator's to read: no use after free). It counts
//! blocks that still hold the test's secret key — raw, as Z85 text, or as the text of a
//! certificate's `secret-key = "…"` line. `realloc` is left to `GlobalAlloc`'s default
//! (allocate, copy, free), so a buffer that grows is checked too, as if it had moved.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use zmq_auth::{create_certificates, load_certificate, zmq, Certificate, Error};

struct Checking;

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
static LAST_HIT_SIZE: AtomicUsize = AtomicUsize::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU8 = AtomicU8::new(0);
static RAW: [AtomicU8; 32] = [ZERO; 32];
static TEXT: [AtomicU8; 40] = [ZERO; 40];
/// Set while a test looks for the key line of a certificate it does not know yet.
static ANY_KEY_LINE: AtomicBool = AtomicBool::new(false);

const KEY_LINE: &[u8] = b"secret-key = \"";
const Z85_ALPHABET: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `secret-key = "` followed by 40 Z85 characters.
fn holds_key_line(hay: &[u8]) -> bool {
    hay.windows(KEY_LINE.len() + 40).any(|w| {
        w.starts_with(KEY_LINE) && w[KEY_LINE.len()..].iter().all(|b| Z85_ALPHABET.contains(b))
    })
}

fn holds_secret(block: &[u8]) -> bool {
    let raw: [u8; 32] = std::array::from_fn(|i| RAW[i].load(Ordering::Relaxed));
    let text: [u8; 40] = std::array::from_fn(|i| TEXT[i].load(Ordering::Relaxed));
    (raw != [0; 32] && contains(block, &raw))
        || (text != [0; 40] && contains(block, &text))
        || ((ANY_KEY_LINE.load(Ordering::Relaxed) || text != [0; 40]) && holds_key_line(block))
}

// SAFETY: delegates to `System`; `dealloc` only reads the block it is handed, which is
// still allocated (and initialised or not, read as bytes the allocator owns) until
// `System.dealloc` returns.
unsafe impl GlobalAlloc for Checking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) && layout.size() >= 32 {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes until freed below.
            let block = std::slice::from_raw_parts(ptr, layout.size());
            if holds_secret(block) {
                HITS.fetch_add(1, Ordering::SeqCst);
                LAST_HIT_SIZE.store(layout.size(), Ordering::SeqCst);
            }
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Checking = Checking;

/// One test at a time: the needle and the counter are global.
static SERIAL: Mutex<()> = Mutex::new(());

/// Looks for `secret` (its bytes and Z85 text) in every block freed while `f` runs;
/// returns how many such blocks there were.
fn freed_blocks_holding(secret: Option<&[u8; 32]>, f: impl FnOnce()) -> usize {
    let key = secret.copied().unwrap_or([0; 32]);
    let text: [u8; 40] = if secret.is_some() {
        let mut t = [0u8; 40];
        // `encode_z85_key` returns a heap String; copy it into the needle and wipe it.
        let mut s = zmq_auth::encode_z85_key(&key).into_bytes();
        t.copy_from_slice(&s);
        s.fill(0);
        t
    } else {
        [0; 40]
    };
    for i in 0..32 {
        RAW[i].store(key[i], Ordering::Relaxed);
    }
    for i in 0..40 {
        TEXT[i].store(text[i], Ordering::Relaxed);
    }
    ANY_KEY_LINE.store(secret.is_none(), Ordering::Relaxed);
    HITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    HITS.load(Ordering::SeqCst)
}

/// Writes a secret certificate for a fresh key pair, with the public key of `public_of`
/// (the pair's own when `None`), building the text so that the test itself leaves no
/// unwiped copy. Returns the secret key.
fn write_secret_cert(path: &Path, public_of: Option<&zmq::CurveKeyPair>) -> [u8; 32] {
    let pair = zmq::CurveKeyPair::new().expect("CURVE");
    let public = zmq_auth::encode_z85_key(&public_of.unwrap_or(&pair).public_key);
    let mut secret = zmq_auth::encode_z85_key(&pair.secret_key).into_bytes();
    let mut text = Vec::with_capacity(200);
    text.extend_from_slice(b"metadata\n    name = \"x\"\ncurve\n    public-key = \"");
    text.extend_from_slice(public.as_bytes());
    text.extend_from_slice(b"\"\n    secret-key = \"");
    text.extend_from_slice(&secret);
    text.extend_from_slice(b"\"\n");
    assert!(text.len() <= 200, "no reallocation");
    std::fs::write(path, &text).expect("write certificate");
    text.fill(0);
    secret.fill(0);
    pair.secret_key
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn loading_a_secret_certificate_leaves_no_copy() {
    if !zmq_auth::curve_available() {
        return;
    }
    let _serial = lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.key_secret");
    let secret = write_secret_cert(&path, None);
    let hits = freed_blocks_holding(Some(&secret), || {
        let cert = load_certificate(&path).expect("load");
        assert_eq!(cert.secret_key_bytes(), Some(&secret));
        let copy = cert.clone();
        drop(cert);
        assert_eq!(copy.secret_key_bytes(), Some(&secret));
        drop(copy);
    });
    assert_eq!(
        hits,
        0,
        "{hits} freed block(s) still held the secret key (last: {} bytes)",
        LAST_HIT_SIZE.load(Ordering::SeqCst)
    );
}

#[test]
fn refusing_a_secret_certificate_leaves_no_copy() {
    if !zmq_auth::curve_available() {
        return;
    }
    let _serial = lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mismatch.key_secret");
    let other = zmq::CurveKeyPair::new().unwrap();
    let secret = write_secret_cert(&path, Some(&other));
    let hits = freed_blocks_holding(Some(&secret), || {
        let err = load_certificate(&path).unwrap_err();
        assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    });
    assert_eq!(
        hits,
        0,
        "{hits} freed block(s) still held the secret key (last: {} bytes)",
        LAST_HIT_SIZE.load(Ordering::SeqCst)
    );
}

#[test]
fn from_zpl_leaves_no_copy_of_its_own() {
    if !zmq_auth::curve_available() {
        return;
    }
    let _serial = lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.key_secret");
    let secret = write_secret_cert(&path, None);
    // The caller's own text: read and kept in a buffer that is wiped before it is freed.
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).unwrap());
    let hits = freed_blocks_holding(Some(&secret), || {
        let cert = Certificate::from_zpl(&path, &text).expect("parse");
        assert_eq!(cert.secret_key_bytes(), Some(&secret));
    });
    assert_eq!(
        hits,
        0,
        "{hits} freed block(s) still held the secret key (last: {} bytes)",
        LAST_HIT_SIZE.load(Ordering::SeqCst)
    );
}

#[test]
fn creating_certificates_leaves_no_key_line() {
    if !zmq_auth::curve_available() {
        return;
    }
    let _serial = lock();
    let dir = tempfile::tempdir().unwrap();
    let hits = freed_blocks_holding(None, || {
        create_certificates(dir.path(), "server", &[("name", "server")]).expect("create");
    });
    assert_eq!(
        hits,
        0,
        "{hits} freed block(s) still held a secret-key line (last: {} bytes)",
        LAST_HIT_SIZE.load(Ordering::SeqCst)
    );
}

/// PLAIN password tables (from a map and from a password file) and the copy of a
/// password handed to an argon2id check are wiped when dropped. The password is the Z85
/// text of a random key, so the same needle finds it.
#[test]
fn plain_password_tables_leave_no_copy() {
    let _guard = lock();
    let key = zmq::CurveKeyPair::new().expect("CURVE").secret_key;
    let mut password = zmq_auth::encode_z85_key(&key).into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    let mut text = Vec::with_capacity(64);
    text.extend_from_slice(b"bob=");
    text.extend_from_slice(&password);
    text.push(b'\n');
    std::fs::write(&file, &text).unwrap();
    text.fill(0);
    let hits = freed_blocks_holding(Some(&key), || {
        let pw = std::str::from_utf8(&password).unwrap();
        let mut auth = zmq_auth::Authenticator::new();
        auth.configure_plain("*", [("alice", pw)]).unwrap();
        auth.configure_plain_file("files", &file).unwrap();
        let req: [&[u8]; 8] = [
            b"1.0",
            b"1",
            b"",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"alice",
            pw.as_bytes(),
        ];
        assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
        let req: [&[u8]; 8] = [
            b"1.0",
            b"2",
            b"files",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"bob",
            pw.as_bytes(),
        ];
        assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
        drop(auth);
    });
    password.fill(0);
    assert_eq!(hits, 0, "freed blocks still holding the password");
}
