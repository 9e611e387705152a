//! Helpers shared by the `hardening_*` integration tests: a raw ZAP client (a DEALER
//! on `ZAP_ENDPOINT`), fast certificate files, and process resource counts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use zmq_auth::zmq;

/// How long any single receive may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(5);

/// A DEALER connected to the ZAP endpoint of `ctx` (which must run an authenticator).
pub fn zap_dealer(ctx: &zmq::Context) -> zmq::Socket {
    let s = ctx.socket(zmq::DEALER).expect("DEALER socket");
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(STEP.as_millis() as i32).unwrap();
    s.set_sndtimeo(STEP.as_millis() as i32).unwrap();
    s.connect(zmq_auth::ZAP_ENDPOINT)
        .expect("connect to the ZAP endpoint");
    s
}

/// Sends `frames` (optionally preceded by the REQ-style empty delimiter) and returns the
/// reply frames after the echoed delimiter. Panics (fails the test) on timeout, on a
/// missing delimiter echo, or on a reply that is not six frames.
pub fn zap_roundtrip(sock: &zmq::Socket, frames: &[&[u8]], delimiter: bool) -> Vec<Vec<u8>> {
    let mut out: Vec<&[u8]> = Vec::with_capacity(frames.len() + 1);
    if delimiter {
        out.push(b"");
    }
    out.extend_from_slice(frames);
    sock.send_multipart(out, 0).expect("send ZAP request");
    let mut reply = sock
        .recv_multipart(0)
        .unwrap_or_else(|e| panic!("no ZAP reply within {STEP:?}: {e}"));
    if delimiter {
        assert!(
            !reply.is_empty() && reply[0].is_empty(),
            "the empty delimiter was not echoed: {reply:?}"
        );
        reply.remove(0);
    }
    assert_eq!(
        reply.len(),
        6,
        "a ZAP reply is six frames: {:?}",
        short(&reply)
    );
    assert_eq!(reply[0], b"1.0", "reply version");
    let status = &reply[2];
    assert!(
        matches!(&status[..], b"200" | b"300" | b"400" | b"500"),
        "status {:?}",
        String::from_utf8_lossy(status)
    );
    if &status[..] != b"200" {
        assert!(reply[4].is_empty(), "user id on a non-200 reply");
        assert!(reply[5].is_empty(), "metadata on a non-200 reply");
    }
    reply
}

/// The reply frames with long ones shortened, for assertion messages.
pub fn short(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            if f.len() > 64 {
                format!("<{} bytes>", f.len())
            } else {
                format!("{:?}", String::from_utf8_lossy(f))
            }
        })
        .collect()
}

/// Asserts status code and text of a reply from [`zap_roundtrip`].
#[track_caller]
pub fn assert_status(reply: &[Vec<u8>], code: &str, text: &str) {
    assert_eq!(
        (
            String::from_utf8_lossy(&reply[2]).into_owned(),
            String::from_utf8_lossy(&reply[3]).into_owned()
        ),
        (code.to_string(), text.to_string()),
        "reply {:?}",
        short(reply)
    );
}

/// Writes a public certificate in the format `create_certificates` uses, without the
/// key generation and fsyncs (fast enough for thousands of files).
pub fn write_public_cert(dir: &Path, name: &str, public: &[u8; 32]) -> PathBuf {
    let path = dir.join(format!("{name}.key"));
    let text = format!(
        "#   ZeroMQ CURVE Public Certificate\n\nmetadata\ncurve\n    public-key = \"{}\"\n",
        zmq_auth::encode_z85_key(public)
    );
    std::fs::write(&path, text).expect("write certificate");
    path
}

/// A fresh CURVE key pair from libzmq.
pub fn keypair() -> zmq::CurveKeyPair {
    zmq::CurveKeyPair::new().expect("CURVE key pair (libzmq without CURVE?)")
}

/// Number of threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Number of open file descriptors of this process (the `read_dir` handle itself is
/// counted the same way every time).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `f` on a helper thread and waits at most `limit` for it; `None` when it did not
/// finish (the thread is then left behind, which only a failing test does).
pub fn with_deadline<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}
