//! DESIGN.md §4.6 end to end: no password and no secret key is ever logged, or shown by
//! an error or a decision event, when a `ThreadAuthenticator` serves real libzmq
//! sockets on TCP loopback.
//!
//! A capturing logger at `Trace` (every target, like `RUST_LOG=trace`) records
//! everything logged while PLAIN and CURVE clients are admitted and refused, password
//! files and certificate directories (with secret and broken files in them) are loaded
//! and reloaded, and certificates are created and loaded. Then no record (target and
//! formatted message), no `Display`/`Debug` text of any returned `Error` and no `Debug`
//! text of any received `AuthEvent` may contain a password or the Z85 text of a secret
//! key. The logger must also have seen the decisions, so the test fails if logging
//! silently stops. A separate test binary, since the logger is process-global.

#[path = "common/mod.rs"]
mod common;

mod log_capture;
use log_capture::{install_logger, records};

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use crossbeam_channel::Receiver;
use zmq_auth::{
    create_certificates, load_certificate, zmq, AuthEvent, Mechanism, StatusCode,
    ThreadAuthenticator,
};

// ---------------------------------------------------------------------------------
// the capturing logger

/// Every secret any test of this binary uses, registered before the test does anything,
/// so the last test to finish checks all records against all secrets.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn register_secrets(secrets: &[String]) {
    for s in secrets {
        assert!(s.len() >= 6, "test secrets must be distinctive: {s:?}");
    }
    SECRETS.lock().unwrap().extend(secrets.iter().cloned());
}

/// Fails if any record, or any of `texts`, contains a registered secret.
#[track_caller]
fn assert_no_secret(texts: &[String]) {
    let secrets = SECRETS.lock().unwrap().clone();
    assert!(!secrets.is_empty());
    let all: Vec<String> = records().into_iter().chain(texts.iter().cloned()).collect();
    assert!(!all.is_empty());
    for secret in &secrets {
        for text in &all {
            assert!(
                !text.contains(secret.as_str()),
                "secret {secret:?} leaked in: {text}"
            );
        }
    }
}

/// Asserts some captured record mentions all of `words` (the logger is really on).
#[track_caller]
fn assert_logged(words: &[&str]) {
    let all = records();
    assert!(
        all.iter().any(|r| words.iter().all(|w| r.contains(w))),
        "no record contains {words:?}; records:\n{}",
        all.join("\n")
    );
}

/// Waits (polling, bounded) until a record contains every word: the watcher thread
/// logs what it finds in its own time.
fn wait_logged(words: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if records()
            .iter()
            .any(|r| words.iter().all(|w| r.contains(w)))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_logged(words);
}

/// The `Display` and `Debug` texts of an error.
fn err_texts(e: &zmq_auth::Error) -> Vec<String> {
    vec![e.to_string(), format!("{e:?}"), format!("{e:#?}")]
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------
// decision events, every one of them kept for the final check

struct Watch {
    events: Receiver<AuthEvent>,
    texts: Vec<String>,
}

impl Watch {
    fn new(auth: &ThreadAuthenticator) -> Watch {
        Watch {
            events: auth.events(),
            texts: Vec::new(),
        }
    }

    fn keep(&mut self, ev: &AuthEvent) {
        // `AuthEvent` has no `Display`; its fields are what a log line would show.
        self.texts.push(format!("{ev:?}"));
        self.texts.push(format!("{ev:#?}"));
        self.texts.push(format!(
            "{} {} {} {} {} {}",
            ev.domain,
            ev.address,
            ev.mechanism.as_str(),
            ev.status.as_u16(),
            ev.user_id,
            ev.reason
        ));
    }

    /// The first event matching `pred` within [`STEP_MS`]; earlier ones (e.g. retries
    /// of refused clients) are kept but skipped.
    #[track_caller]
    fn wait(&mut self, what: &str, mut pred: impl FnMut(&AuthEvent) -> bool) -> AuthEvent {
        let deadline = std::time::Instant::now() + Duration::from_millis(STEP_MS as u64);
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    self.keep(&ev);
                    if pred(&ev) {
                        return ev;
                    }
                    skipped.push(format!("{} {}", ev.status.as_u16(), ev.reason));
                }
                Err(_) => panic!("no event for {what}; other events: {skipped:?}"),
            }
        }
    }

    /// `client` gets in; returns its message's `User-Id` (checked against the event).
    #[track_caller]
    fn admitted(&mut self, server: &Server, client: &zmq::Socket, mech: Mechanism) -> String {
        let mut msg = assert_connects(server, client);
        let uid = user_id(&mut msg).expect("an admitted client has a User-Id");
        let ev = self.wait("an admission", |e| {
            e.status == StatusCode::Success && e.user_id == uid
        });
        assert_eq!(ev.mechanism, mech, "{ev:?}");
        assert_eq!(ev.reason, "OK", "{ev:?}");
        uid
    }

    /// `client` is refused with `reason`, and nothing it sends arrives.
    #[track_caller]
    fn refused(&mut self, server: &Server, client: &zmq::Socket, mech: Mechanism, reason: &str) {
        queue(client, HELLO);
        let ev = self.wait(reason, |e| {
            e.status != StatusCode::Success && e.reason == reason
        });
        assert_eq!(ev.status, StatusCode::AuthenticationFailure, "{ev:?}");
        assert_eq!(ev.mechanism, mech, "{ev:?}");
        assert_eq!(ev.user_id, "", "{ev:?}");
        assert!(
            recv_within(&server.sock, QUIET_MS).is_none(),
            "a refused client's message arrived"
        );
    }

    /// Keeps whatever else arrived (late retries) and returns every text.
    fn finish(mut self) -> Vec<String> {
        while let Ok(ev) = self.events.try_recv() {
            self.keep(&ev);
        }
        self.texts
    }
}

// ---------------------------------------------------------------------------------
// PLAIN

const PW_RIGHT: &str = "pw-Zebra-4471";
const PW_WRONG: &str = "pw-Okapi-9182";
const PW_UNKNOWN: &str = "pw-Lynx-3307";
const PW_FILE: &str = "pw-Heron-5520";
const PW_FILE_OTHER: &str = "pw-Marten-8813";
const PW_MALFORMED: &str = "pw-Quokka-6631";
const PW_NO_EQUALS: &str = "pw-Ibis-7742";
const PW_DUP: &str = "pw-Tapir-2290";

#[test]
fn plain_over_sockets_never_leaks_passwords() {
    install_logger();
    register_secrets(&strings(&[
        PW_RIGHT,
        PW_WRONG,
        PW_UNKNOWN,
        PW_FILE,
        PW_FILE_OTHER,
        PW_MALFORMED,
        PW_NO_EQUALS,
        PW_DUP,
    ]));
    let dir = tempfile::tempdir().unwrap();
    let pw_path = dir.path().join("passwords");
    std::fs::write(
        &pw_path,
        format!("# users\nbob={PW_FILE}\ncarol = {PW_FILE_OTHER}\n"),
    )
    .unwrap();
    let mut texts = Vec::new();

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let mut watch = Watch::new(&auth);
    auth.set_reload_interval(Duration::ZERO).unwrap();
    auth.configure_plain("*", [("alice", PW_RIGHT)]).unwrap();
    auth.configure_plain_file("files", &pw_path).unwrap();
    let server = plain_server(&ctx, Some("global"));
    let files = plain_server(&ctx, Some("files"));

    // Right password, wrong password, unknown user.
    let client = plain_client(&ctx, &server.endpoint, "alice", PW_RIGHT);
    assert_eq!(watch.admitted(&server, &client, Mechanism::Plain), "alice");
    let client = plain_client(&ctx, &server.endpoint, "alice", PW_WRONG);
    watch.refused(&server, &client, Mechanism::Plain, "Invalid password");
    drop(client);
    let client = plain_client(&ctx, &server.endpoint, "mallory", PW_UNKNOWN);
    watch.refused(&server, &client, Mechanism::Plain, "Invalid username");
    drop(client);

    // The password file's users.
    let client = plain_client(&ctx, &files.endpoint, "bob", PW_FILE);
    assert_eq!(watch.admitted(&files, &client, Mechanism::Plain), "bob");

    // A rewrite with a malformed line (no `=`, holding a password): that line admits
    // no one (reported by line number, never quoted), the good line applies.
    std::fs::write(
        &pw_path,
        format!("bob={PW_MALFORMED}\n{PW_NO_EQUALS}\n# the end\n"),
    )
    .unwrap();
    wait_logged(&["WARN", "zmq_auth", "ignored", ":2:"]);
    let client = plain_client(&ctx, &files.endpoint, "bob", PW_MALFORMED);
    assert_eq!(watch.admitted(&files, &client, Mechanism::Plain), "bob");
    let client = plain_client(&ctx, &files.endpoint, "bob", PW_FILE);
    watch.refused(&files, &client, Mechanism::Plain, "Invalid password");
    drop(client);

    // The same malformed files given directly, and a missing one: errors.
    let bad = dir.path().join("bad");
    for content in [
        format!("bob={PW_MALFORMED}\n{PW_NO_EQUALS}\n"),
        format!("bob={PW_DUP}\nbob={PW_DUP}\n"),
        format!("={PW_DUP}\n"),
    ] {
        std::fs::write(&bad, content).unwrap();
        let err = auth.configure_plain_file("files", &bad).unwrap_err();
        assert!(matches!(err, zmq_auth::Error::Parse { .. }), "{err:?}");
        texts.extend(err_texts(&err));
    }
    let err = auth
        .configure_plain_file("files", dir.path().join("missing"))
        .unwrap_err();
    assert!(matches!(err, zmq_auth::Error::Io { .. }), "{err:?}");
    texts.extend(err_texts(&err));
    // Still the file's passwords as last read (carol left it with the rewrite).
    let client = plain_client(&ctx, &files.endpoint, "bob", PW_MALFORMED);
    assert_eq!(watch.admitted(&files, &client, Mechanism::Plain), "bob");
    let client = plain_client(&ctx, &files.endpoint, "carol", PW_FILE_OTHER);
    watch.refused(&files, &client, Mechanism::Plain, "Invalid username");
    drop(client);

    texts.extend(watch.finish());
    assert_logged(&["zmq_auth", "ZAP PLAIN", "200"]);
    assert_logged(&["zmq_auth", "ZAP PLAIN", "400", "Invalid password"]);
    assert_logged(&["zmq_auth", "ZAP PLAIN", "400", "Invalid username"]);
    assert_no_secret(&texts);
}

// ---------------------------------------------------------------------------------
// CURVE and certificates

/// The Z85 secret key of a secret certificate file.
fn secret_of(path: &Path) -> String {
    load_certificate(path)
        .unwrap()
        .secret_key()
        .expect("a secret certificate")
        .to_string()
}

fn write_cert(path: &Path, public: &str, secret: &str) {
    std::fs::write(
        path,
        format!("curve\n    public-key = \"{public}\"\n    secret-key = \"{secret}\"\n"),
    )
    .unwrap();
}

#[test]
fn curve_over_sockets_never_leaks_secret_keys() {
    if !zmq_auth::curve_available() {
        return;
    }
    install_logger();
    let keys = tempfile::tempdir().unwrap();
    let trusted = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();

    // create_certificates: the server's pair elsewhere, alice's pair (secret file
    // included) in the trusted directory, mallory's pair not trusted.
    let server = make_cert(keys.path(), "server", &[("name", "Server")]);
    let alice = make_cert(trusted.path(), "alice", &[("email", "alice@example.org")]);
    let mallory = make_cert(keys.path(), "mallory", &[]);
    assert!(alice.secret_path.starts_with(trusted.path()));
    // Eve's public key is in the directory only in a file whose secret does not match.
    let eve = keypair();
    let other = keypair();
    let other_secret = z85(&other.secret_key);
    // A corrupt secret: 39 characters of a real one plus one outside Z85.
    let prefix = other_secret[..39].to_string();
    let bad_secret = format!("{prefix}~");
    register_secrets(&[
        z85(&server.secret),
        z85(&alice.secret),
        z85(&mallory.secret),
        z85(&eve.secret_key),
        other_secret.clone(),
        prefix.clone(),
        bad_secret.clone(),
    ]);
    for c in [&server, &alice, &mallory] {
        assert_eq!(secret_of(&c.secret_path), z85(&c.secret));
        let cert = load_certificate(&c.secret_path).unwrap();
        texts.push(format!("{cert:?}"));
        texts.push(format!("{cert:#?}"));
    }
    // A failed create_certificates.
    let err = create_certificates(keys.path(), "broken", &[("bad name", "x")]).unwrap_err();
    texts.extend(err_texts(&err));

    // The broken files of the trusted directory.
    let eve_public = z85(&eve.public_key);
    write_cert(
        &trusted.path().join("mismatch.key"),
        &eve_public,
        &other_secret,
    );
    std::fs::write(
        trusted.path().join("corrupt.key"),
        format!(
            "metadata\n    name = \"corrupt\"\ncurve\n    public-key = \"{}\"\n    secret-key = \"{bad_secret}\"\n",
            alice.public_z85
        ),
    )
    .unwrap();
    std::fs::write(
        trusted.path().join("garbage.key"),
        b"\x00\x01 not a certificate\n\xff\xfe\n",
    )
    .unwrap();

    // load_certificate on secret files with bad secret keys.
    let f = keys.path().join("mismatch.key_secret");
    write_cert(&f, &alice.public_z85, &other_secret);
    let err = load_certificate(&f).unwrap_err();
    assert!(
        matches!(err, zmq_auth::Error::KeyMismatch { .. }),
        "{err:?}"
    );
    texts.extend(err_texts(&err));
    let f = keys.path().join("badchar.key_secret");
    write_cert(&f, &alice.public_z85, &bad_secret);
    let err = load_certificate(&f).unwrap_err();
    assert!(matches!(err, zmq_auth::Error::InvalidKey { .. }), "{err:?}");
    texts.extend(err_texts(&err));
    let f = keys.path().join("short.key_secret");
    write_cert(&f, &alice.public_z85, &prefix);
    let err = load_certificate(&f).unwrap_err();
    assert!(matches!(err, zmq_auth::Error::InvalidKey { .. }), "{err:?}");
    texts.extend(err_texts(&err));
    // The whole directory through load_certificates fails on a broken file.
    let err = zmq_auth::load_certificates(trusted.path()).unwrap_err();
    texts.extend(err_texts(&err));

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let mut watch = Watch::new(&auth);
    auth.set_reload_interval(Duration::ZERO).unwrap();
    // Fail closed: a configuration call refuses a directory with broken files, with an
    // error naming one...
    let err = auth.configure_curve("*", trusted.path()).unwrap_err();
    texts.extend(err_texts(&err));
    // ...so configure it without them, then put them back: the watcher's re-check skips
    // them with warnings (they admit no one) and keeps the rest.
    let hold = tempfile::tempdir().unwrap();
    let broken = ["mismatch.key", "corrupt.key", "garbage.key"];
    for n in broken {
        std::fs::rename(trusted.path().join(n), hold.path().join(n)).unwrap();
    }
    auth.configure_curve("*", trusted.path()).unwrap();
    for n in broken {
        std::fs::rename(hold.path().join(n), trusted.path().join(n)).unwrap();
    }
    wait_logged(&["WARN", "zmq_auth", "skipping certificate", "mismatch.key"]);
    wait_logged(&["WARN", "zmq_auth", "skipping certificate", "corrupt.key"]);
    wait_logged(&["WARN", "zmq_auth", "skipping certificate", "garbage.key"]);
    // configure_curve on a missing directory: an error, the previous policy stays.
    let err = auth
        .configure_curve("*", keys.path().join("nowhere"))
        .unwrap_err();
    assert!(matches!(err, zmq_auth::Error::Io { .. }), "{err:?}");
    texts.extend(err_texts(&err));
    let srv = curve_server(&ctx, &server.secret, Some("global"));

    // Admitted: alice. Refused: eve (only in the mismatching file) and mallory.
    let client = curve_client_cert(&ctx, &srv.endpoint, &server.public, &alice);
    let uid = watch.admitted(&srv, &client, Mechanism::Curve);
    assert_eq!(uid, alice.public_z85);
    let client = curve_client_pair(&ctx, &srv.endpoint, &server.public, &eve);
    watch.refused(&srv, &client, Mechanism::Curve, "Unknown key");
    drop(client);
    let client = curve_client_cert(&ctx, &srv.endpoint, &server.public, &mallory);
    watch.refused(&srv, &client, Mechanism::Curve, "Unknown key");
    drop(client);
    // A rewrite of a broken file is seen on the reload path (interval zero); alice
    // still gets in.
    write_cert(
        &trusted.path().join("mismatch.key"),
        &mallory.public_z85,
        &other_secret,
    );
    let client = curve_client_cert(&ctx, &srv.endpoint, &server.public, &alice);
    assert_eq!(watch.admitted(&srv, &client, Mechanism::Curve), uid);

    texts.extend(watch.finish());
    assert_logged(&["zmq_auth", "ZAP CURVE", "200"]);
    assert_logged(&["zmq_auth", "ZAP CURVE", "400", "Unknown key"]);
    assert_logged(&["zmq_auth", "CURVE domain", "keys from"]);
    assert_no_secret(&texts);
}
