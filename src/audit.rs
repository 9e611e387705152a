//! The secret audit: a test-only tap, compiled only with `--cfg zmq_auth_audit`.
//!
//! `make test` builds with that flag and sets `ZMQ_AUTH_AUDIT_DIR`. Every process of
//! the suite (test binaries, doctests, examples) then writes two files there:
//!
//! - `<program>-<pid>.log`: everything the crate can say: every log record (at every
//!   level, whatever logger is installed), every error that carries text (when made,
//!   and again when displayed), every status text, user id and metadata frame sent to a
//!   peer, every event, and what the hand-written `Debug` impls show;
//! - `<program>-<pid>.secrets`: every password and secret key that reached the crate,
//!   the raw value of every `secret-key` line of a certificate, and the public keys it
//!   read or made (hex encoded, one per line with its kind).
//!
//! Afterwards `tests/suite_audit.rs` searches all the first files for everything in the
//! second ones. The crate can only leak what it was given, so tapping where secrets
//! enter covers every secret the suite used, without each test having to list its own.
//!
//! A normal build contains none of this: every call site is behind the same `cfg`, and
//! the flag is never set for a build a user gets. The files hold secrets, which is fine
//! for the throwaway secrets of a test run and nowhere else.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The environment variable that names the directory for the audit files.
const DIR_VAR: &str = "ZMQ_AUTH_AUDIT_DIR";

struct Sink {
    log: File,
    secrets: File,
}

/// Opened on first use; `None` when the variable is unset (a plain `cargo test` of an
/// audit build).
fn sink() -> Option<&'static Mutex<Sink>> {
    static SINK: OnceLock<Option<Mutex<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let dir = std::env::var_os(DIR_VAR)?;
        match open(Path::new(&dir)) {
            Ok(sink) => Some(Mutex::new(sink)),
            Err(e) => failed(&format!("cannot write to {DIR_VAR}: {e}")),
        }
    })
    .as_ref()
}

/// A record the audit cannot keep would make it pass without having seen everything:
/// the process stops instead (this is a test-only build), which fails its test run.
fn failed(what: &str) -> ! {
    eprintln!("zmq-auth audit: {what}; aborting");
    std::process::abort()
}

fn open(dir: &Path) -> std::io::Result<Sink> {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    let stem = format!("{program}-{}", std::process::id());
    let file = |ext: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{stem}.{ext}")))
    };
    let mut log = file("log")?;
    let secrets = file("secrets")?;
    writeln!(log, "# {program} pid {}", std::process::id())?;
    Ok(Sink { log, secrets })
}

/// Writes one whole line to the log or the secrets file; a failed write aborts.
fn write_line(to_secrets: bool, tag: &str, body: &[u8]) {
    let Some(sink) = sink() else { return };
    let mut line = Vec::with_capacity(tag.len() + body.len() + 2);
    line.extend_from_slice(tag.as_bytes());
    line.push(b' ');
    line.extend_from_slice(body);
    line.push(b'\n');
    let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
    let file = if to_secrets {
        &mut sink.secrets
    } else {
        &mut sink.log
    };
    if let Err(e) = file.write_all(&line) {
        failed(&format!("write failed: {e}"));
    }
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s.into_bytes()
}

/// Makes this process's files exist even if it never logs: the audit checks that every
/// test binary and example took part.
pub(crate) fn touch() {
    let _ = sink();
}

/// A log record (see `zlog!`).
pub(crate) fn log_record(level: log::Level, message: &str) {
    write_line(false, level.as_str(), message.as_bytes());
}

/// An error's `Display` and `Debug` texts, at the moment it is displayed.
pub(crate) fn error_text(display: &str, debug: &str) {
    write_line(false, "ERROR-DISPLAY", display.as_bytes());
    write_line(false, "ERROR-DEBUG", debug.as_bytes());
}

/// A status text or user id sent back to a peer in a ZAP reply.
pub(crate) fn reply_text(text: &[u8]) {
    if text.is_empty() {
        return;
    }
    write_line(false, "REPLY", text);
}

/// A PLAIN password: from a ZAP request, `configure_plain` or a password file.
pub(crate) fn password(bytes: &[u8]) {
    write_line(true, "password", &hex(bytes));
}

/// A CURVE secret key (32 bytes), generated, read or derived from.
pub(crate) fn secret_key(key: &[u8; 32]) {
    write_line(true, "key", &hex(key));
}

/// A CURVE public key the crate read or made. A test may use a public key
/// where a secret one goes (to check that it is refused); the audit does not count a
/// value that was also a public key as a secret, since printing public keys is fine.
pub(crate) fn public_key(key: &[u8; 32]) {
    write_line(true, "public", &hex(key));
}

/// The value after every `secret-key` in a certificate's text (anywhere in a line,
/// valid or not): the reader may fail on it, or take it for metadata, before it knows
/// it is a key.
pub(crate) fn secret_lines(text: &str) {
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("secret-key") else {
            continue;
        };
        let value = rest.split_once('=').map_or(rest, |(_, v)| v).trim();
        let value = value.strip_prefix('"').unwrap_or(value);
        let value = value.split('"').next().unwrap_or(value);
        if !value.is_empty() {
            write_line(true, "keytext", &hex(value.as_bytes()));
        }
    }
}

/// Runs a `Debug` body into a string.
struct Render<'a>(&'a dyn Fn(&mut fmt::Formatter<'_>) -> fmt::Result);

impl fmt::Display for Render<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// What a hand-written `Debug` impl shows (certificates, requests, authenticators).
pub(crate) fn debug_text(fields: &dyn Fn(&mut fmt::Formatter<'_>) -> fmt::Result) {
    write_line(false, "DEBUG-IMPL", Render(fields).to_string().as_bytes());
}

/// An event for `events()`, as its `Debug` shows it.
pub(crate) fn event_text(event: &dyn fmt::Debug) {
    write_line(false, "EVENT", format!("{event:?}").as_bytes());
}
