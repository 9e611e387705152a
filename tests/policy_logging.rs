//! DESIGN.md §4.6: never log a password or a secret key, on any path, at any level.
//!
//! A capturing logger at `Trace` records everything the crate logs while success and
//! failure paths run; then no record (target or formatted message) and no error's
//! `Display`/`Debug` text may contain a password or a secret key's Z85 text. A separate
//! test binary, since the logger is process-global.

mod log_capture;
use log_capture::{install_logger, records};

use std::path::{Path, PathBuf};
use std::time::Duration;

use zmq_auth::{
    create_certificates, encode_z85_key, load_certificate, Authenticator, Certificate, ZapReply,
    CURVE_ALLOW_ANY,
};

// ---------------------------------------------------------------------------------
// the capturing logger

/// Fails if any record, or any of `texts`, contains one of `secrets`.
#[track_caller]
fn assert_no_secret(secrets: &[String], texts: &[String]) {
    assert!(!secrets.is_empty());
    let all: Vec<String> = records().into_iter().chain(texts.iter().cloned()).collect();
    for secret in secrets {
        assert!(
            secret.len() >= 6,
            "test secrets must be distinctive: {secret:?}"
        );
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

fn err_texts<E: std::fmt::Display + std::fmt::Debug>(e: &E) -> Vec<String> {
    vec![e.to_string(), format!("{e:?}"), format!("{e:#?}")]
}

fn ask(auth: &mut Authenticator, domain: &str, mechanism: &str, creds: &[&[u8]]) -> ZapReply {
    let mut frames: Vec<&[u8]> = vec![
        b"1.0",
        b"1",
        domain.as_bytes(),
        b"127.0.0.1",
        b"",
        mechanism.as_bytes(),
    ];
    frames.extend_from_slice(creds);
    auth.handle_zap_message(&frames)
}

fn plain(auth: &mut Authenticator, user: &str, password: &str) -> ZapReply {
    ask(auth, "", "PLAIN", &[user.as_bytes(), password.as_bytes()])
}

fn secret_of(path: &Path) -> String {
    load_certificate(path)
        .unwrap()
        .secret_key()
        .expect("a secret certificate")
        .to_string()
}

// ---------------------------------------------------------------------------------
// PLAIN

#[test]
fn plain_paths_never_log_passwords() {
    install_logger();
    let secrets: Vec<String> = [
        "Pw-right-7f3a9c",
        "Pw-wrong-2b8e1d",
        "Pw-unknown-user-c4d2",
        "Pw-other-domain-91ab",
        "Pw-bob-55e0aa",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut auth = Authenticator::new();
    auth.configure_plain(
        "*",
        [("alice", "Pw-right-7f3a9c"), ("bob", "Pw-bob-55e0aa")],
    )
    .unwrap();
    auth.configure_plain("dom", [("carol", "Pw-other-domain-91ab")])
        .unwrap();
    let mut texts = Vec::new();

    let r = plain(&mut auth, "alice", "Pw-right-7f3a9c");
    assert_eq!(r.status_code(), 200);
    let r = plain(&mut auth, "alice", "Pw-wrong-2b8e1d");
    assert_eq!(r.status_text(), "Invalid password");
    texts.push(format!("{r:?}"));
    let r = plain(&mut auth, "mallory", "Pw-unknown-user-c4d2");
    assert_eq!(r.status_text(), "Invalid username");
    texts.push(format!("{r:?}"));
    let r = ask(&mut auth, "dom", "PLAIN", &[b"alice", b"Pw-right-7f3a9c"]);
    assert_eq!(r.status_text(), "Invalid username");
    texts.push(format!("{r:?}"));
    // Wrong credential counts carry passwords too.
    let r = ask(
        &mut auth,
        "",
        "PLAIN",
        &[b"alice", b"Pw-right-7f3a9c", b"Pw-bob-55e0aa"],
    );
    assert_eq!(r.status_text(), "Invalid credentials");
    texts.push(format!("{r:?}"));
    let r = ask(&mut auth, "", "PLAIN", &[b"Pw-wrong-2b8e1d"]);
    assert_eq!(r.status_text(), "Invalid credentials");
    texts.push(format!("{r:?}"));
    // A password sent with another mechanism.
    let r = ask(&mut auth, "", "BOGUS", &[b"Pw-wrong-2b8e1d"]);
    assert_eq!(r.status_text(), "Unsupported mechanism");
    texts.push(format!("{r:?}"));
    let r = ask(&mut auth, "", "GSSAPI", &[b"Pw-wrong-2b8e1d"]);
    texts.push(format!("{r:?}"));

    assert_logged(&["zmq_auth", "PLAIN", "200"]);
    assert_logged(&["zmq_auth", "PLAIN", "400"]);
    assert_no_secret(&secrets, &texts);
}

#[test]
fn password_file_load_and_reload_never_log_passwords() {
    install_logger();
    let secrets: Vec<String> = [
        "File-pw-alice-0a1b2c",
        "File-pw-bob-3d4e5f",
        "File-pw-new-6a7b8c",
        "File-pw-malformed-9d0e",
        "File-pw-noequals-1f2a",
        "File-pw-dup-3b4c5d",
        "File-pw-empty-name-6e7f",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(
        &path,
        "# users\nalice=File-pw-alice-0a1b2c\nbob = File-pw-bob-3d4e5f\n",
    )
    .unwrap();
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_plain_file("*", &path).unwrap();
    assert_eq!(
        plain(&mut auth, "alice", "File-pw-alice-0a1b2c").status_code(),
        200
    );
    assert_eq!(
        plain(&mut auth, "bob", "File-pw-new-6a7b8c").status_code(),
        400
    );
    let mut texts = Vec::new();

    // Reload with new content.
    std::fs::write(&path, "alice=File-pw-new-6a7b8c\n").unwrap();
    assert_eq!(
        plain(&mut auth, "alice", "File-pw-new-6a7b8c").status_code(),
        200
    );
    assert_logged(&["reloaded", "passwords"]);

    // Reload of a malformed file (a line without `=`, holding a password).
    std::fs::write(
        &path,
        "alice=File-pw-malformed-9d0e\nFile-pw-noequals-1f2a\n# the end\n",
    )
    .unwrap();
    // The line without `=` admits no one and is reported by line number; the good
    // line applies.
    assert_eq!(
        plain(&mut auth, "alice", "File-pw-new-6a7b8c").status_code(),
        400
    );
    assert_eq!(
        plain(&mut auth, "alice", "File-pw-malformed-9d0e").status_code(),
        200
    );
    assert_logged(&["ignored", ":2:"]);

    // The same malformed files given directly: errors, whose texts are checked too.
    let bad = dir.path().join("bad");
    for content in [
        "alice=File-pw-malformed-9d0e\nFile-pw-noequals-1f2a\n",
        "alice=File-pw-dup-3b4c5d\nalice=File-pw-dup-3b4c5d\n",
        "=File-pw-empty-name-6e7f\n",
    ] {
        std::fs::write(&bad, content).unwrap();
        let err = auth.configure_plain_file("dom", &bad).unwrap_err();
        texts.extend(err_texts(&err));
    }
    // Deleted file (reload path: its users are revoked) and missing file (configure
    // path).
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        plain(&mut auth, "alice", "File-pw-malformed-9d0e").status_code(),
        500
    );
    assert_logged(&["unreadable"]);
    let err = auth
        .configure_plain_file("*", dir.path().join("missing"))
        .unwrap_err();
    texts.extend(err_texts(&err));

    assert_no_secret(&secrets, &texts);
}

// ---------------------------------------------------------------------------------
// CURVE and certificates

/// Writes a `.key`-style certificate by hand.
fn write_cert(path: &Path, public: &str, secret: Option<&str>) {
    let mut text = format!("curve\n    public-key = \"{public}\"\n");
    if let Some(s) = secret {
        text.push_str(&format!("    secret-key = \"{s}\"\n"));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn certificates_never_log_secret_keys() {
    install_logger();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut secrets = Vec::new();
    let mut texts = Vec::new();

    // create_certificates: secret files in the same directory as the public ones.
    let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (name, meta) in [
        ("server", &[][..]),
        ("alice", &[("name", "Alice")][..]),
        ("bob", &[("email", "bob@example.org")][..]),
    ] {
        let pair = create_certificates(d, name, meta).unwrap();
        secrets.push(secret_of(&pair.1));
        pairs.push(pair);
    }
    // A failed create_certificates (bad metadata) too.
    let err = create_certificates(d, "broken", &[("bad name", "x")]).unwrap_err();
    texts.extend(err_texts(&err));

    // load_certificate of a secret file: Debug must not show the secret.
    let cert: Certificate = load_certificate(&pairs[1].1).unwrap();
    texts.push(format!("{cert:?}"));
    texts.push(format!("{cert:#?}"));

    // Bad secret keys, in files of their own.
    let other = zmq_auth::zmq::CurveKeyPair::new().unwrap();
    let other_secret = encode_z85_key(&other.secret_key);
    secrets.push(other_secret.clone());
    let alice_public = load_certificate(&pairs[1].0)
        .unwrap()
        .public_key()
        .to_string();
    let mut bad_files = Vec::new();
    // (a) a valid secret that does not belong to the public key beside it;
    let f = d.join("mismatch.key_secret");
    write_cert(&f, &alice_public, Some(&other_secret));
    bad_files.push(f);
    // (b) a secret one character short (its 39 characters are secret too);
    let short = other_secret[..39].to_string();
    secrets.push(short.clone());
    let f = d.join("short.key_secret");
    write_cert(&f, &alice_public, Some(&short));
    bad_files.push(f);
    // (c) a secret with a character outside Z85;
    let invalid = format!("{}~", &other_secret[..39]);
    secrets.push(invalid.clone());
    let f = d.join("badchar.key_secret");
    write_cert(&f, &alice_public, Some(&invalid));
    bad_files.push(f);
    // (d) a secret followed by junk on its line;
    let f = d.join("junk.key_secret");
    std::fs::write(
        &f,
        format!("curve\n    public-key = \"{alice_public}\"\n    secret-key = \"{other_secret}\" junk\n"),
    )
    .unwrap();
    bad_files.push(f);
    // (e) an unterminated quote (the parser sees the rest of the line as the value);
    let f = d.join("unterminated.key_secret");
    std::fs::write(
        &f,
        format!("curve\n    public-key = \"{alice_public}\"\n    secret-key = \"{other_secret}\n"),
    )
    .unwrap();
    bad_files.push(f);
    // (f) a secret given twice.
    let f = d.join("twice.key_secret");
    std::fs::write(
        &f,
        format!(
            "curve\n    public-key = \"{alice_public}\"\n    secret-key = \"{other_secret}\"\n    secret-key = \"{other_secret}\"\n"
        ),
    )
    .unwrap();
    bad_files.push(f);
    for f in &bad_files {
        let err = load_certificate(f).unwrap_err();
        texts.extend(err_texts(&err));
    }

    // The same broken secrets inside *.key files of a CURVE directory: skipped with a
    // warning, which must not quote them.
    let curve_dir = d.join("clients");
    std::fs::create_dir(&curve_dir).unwrap();
    let (carol_pub, carol_sec) = create_certificates(&curve_dir, "carol", &[]).unwrap();
    secrets.push(secret_of(&carol_sec));
    let carol = *load_certificate(&carol_pub).unwrap().public_key_bytes();
    // A valid pair whose public file also holds the secret (a user mistake).
    let (_, dave_sec) = create_certificates(&curve_dir, "dave", &[]).unwrap();
    secrets.push(secret_of(&dave_sec));
    std::fs::copy(&dave_sec, curve_dir.join("dave-secret-in-public.key")).unwrap();

    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_curve("*", &curve_dir).unwrap();
    // Added later: the re-check skips them with warnings...
    for (i, f) in bad_files.iter().enumerate() {
        std::fs::copy(f, curve_dir.join(format!("leaky-{i}.key"))).unwrap();
    }
    // ...and a configuration call refuses the directory with an error.
    let mut again = Authenticator::new();
    let err = again.configure_curve("*", &curve_dir).unwrap_err();
    texts.extend(err_texts(&err));
    auth.configure_curve("open", CURVE_ALLOW_ANY).unwrap();
    let r = ask(&mut auth, "", "CURVE", &[&carol]);
    assert_eq!(r.status_code(), 200, "{r:?}");
    let r = ask(&mut auth, "", "CURVE", &[&[9u8; 32]]);
    assert_eq!(r.status_text(), "Unknown key");
    let r = ask(&mut auth, "open", "CURVE", &[&[9u8; 32]]);
    assert_eq!(r.status_code(), 200);
    // A secret key sent as the CURVE credential (a confused client).
    let secret_bytes = other.secret_key;
    let r = ask(&mut auth, "", "CURVE", &[&secret_bytes]);
    texts.push(format!("{r:?}"));
    // Reload: add a file with a broken secret after start.
    std::fs::copy(&bad_files[0], curve_dir.join("late-leaky.key")).unwrap();
    let r = ask(&mut auth, "", "CURVE", &[&carol]);
    assert_eq!(r.status_code(), 200, "{r:?}");
    // load_certificates over the directory fails on the first broken file.
    let err = zmq_auth::load_certificates(&curve_dir).unwrap_err();
    texts.extend(err_texts(&err));
    // A missing directory.
    let err = auth.configure_curve("*", d.join("nowhere")).unwrap_err();
    texts.extend(err_texts(&err));

    // §5: a file that fails to parse is named with its line; duplicates are a warning.
    assert_logged(&["WARN", "zmq_auth", "skipping certificate", "leaky-1.key:3"]);
    assert_logged(&["WARN", "zmq_auth", "leaky-4.key:3"]);
    assert_logged(&["WARN", "zmq_auth", "same public key"]);
    assert_logged(&["zmq_auth", "CURVE", "200"]);
    for s in &secrets {
        assert_eq!(
            zmq_auth::decode_z85_key(s).is_ok(),
            s.len() == 40 && !s.contains('~')
        );
    }
    assert_no_secret(&secrets, &texts);
}

#[test]
fn logged_records_use_the_crate_target() {
    install_logger();
    let mut auth = Authenticator::new();
    auth.configure_plain("*", [("target-check", "Pw-target-8c7d6e")])
        .unwrap();
    let r = plain(&mut auth, "target-check", "Pw-target-8c7d6e");
    assert_eq!(r.status_code(), 200);
    // Records read `LEVEL target: message`.
    let ours: Vec<String> = records()
        .into_iter()
        .filter(|r| r.contains("PLAIN"))
        .collect();
    assert!(!ours.is_empty());
    for r in &ours {
        let target = r
            .split_once(' ')
            .and_then(|(_, rest)| rest.split_once(": "));
        assert_eq!(target.map(|(t, _)| t), Some("zmq_auth"), "{r}");
    }
    assert_no_secret(&["Pw-target-8c7d6e".to_string()], &[]);
}
