//! CURVE certificate files: create → load round trips, the real files pyzmq 27.3 and
//! CZMQ 4.2.1 write, hand-written ZPL variants, and every error case.
//!
//! Fixture files are copied from the real peers into `tests/data/fixtures/` (see its
//! README.md); some are also embedded below as literals, exactly as written.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zmq_auth::{
    create_certificates, decode_z85_key, encode_z85_key, load_certificate, load_certificates,
    Certificate, Error,
};

// ---------------------------------------------------------------------------------------
// Expected keys (tests/data/fixtures/README.md, read back with pyzmq's load_certificate)
// ---------------------------------------------------------------------------------------

const ALICE_PUBLIC: &str = "=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!";
const ALICE_SECRET: &str = "]fBU!B484aFZKsuNqEfBy&Cfv^^iu#EM6vfg2VfV";
const SERVER_PUBLIC: &str = "wsL?o*0s5zExDq/Pc<Md%cRb7]m-Q/}6i#?xGR7?";
const SERVER_SECRET: &str = "VM)6<XkLdVmG5z[YaG/^Ojw4l27}ELl4>HR=arG7";
const BOB_PUBLIC: &str = "=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO";
const BOB_SECRET: &str = "2OCnHuV]Zwjmp5Nz1L-ro/QbNX.3zgU[/@a1@JtF";
const CAROL_PUBLIC: &str = "2xURPgND@r^HWtx)g5OR)}Ql[RT!FpxE1pHR9B@<";
const CAROL_SECRET: &str = "T6#vJ1PD6$Z!C#U(3BzeQC0K%[Mh@YGq)[bh4vmR";

// ---------------------------------------------------------------------------------------
// Fixtures as text: byte for byte what the peers write
// ---------------------------------------------------------------------------------------

/// pyzmq 27.3 `create_certificates(dir, "alice", {"email": ..., "name": "Alice # Liddell"})`,
/// public half: microsecond timestamp, no metadata (pyzmq writes it only in the secret).
const PYZMQ_ALICE_KEY: &str = r##"#   ****  Generated on 2026-11-29 19:33:56.586987 by pyzmq  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

metadata
curve
    public-key = "=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!"
"##;

/// pyzmq 27.3, secret half: metadata unquoted (`Alice # Liddell` reads `Alice` in ZPL).
const PYZMQ_ALICE_KEY_SECRET: &str = r##"#   ****  Generated on 2026-11-29 19:33:56.586987 by pyzmq  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

metadata
    email = alice@example.org
    name = Alice # Liddell
curve
    public-key = "=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!"
    secret-key = "]fBU!B484aFZKsuNqEfBy&Cfv^^iu#EM6vfg2VfV"
"##;

/// CZMQ 4.2.1 `zcert_save(cert, "bob.key")`, public half: quoted metadata, blank line
/// after the banner, whole-second timestamp.
const CZMQ_BOB_KEY: &str = r##"#   ****  Generated on 2026-11-29 19:33:56 by CZMQ  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

metadata
    name = "Bob Builder"
    email = "bob@example.org"
curve
    public-key = "=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO"
"##;

/// CZMQ 4.2.1, secret half.
const CZMQ_BOB_KEY_SECRET: &str = r##"#   ****  Generated on 2026-11-29 19:33:56 by CZMQ  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

metadata
    name = "Bob Builder"
    email = "bob@example.org"
curve
    public-key = "=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO"
    secret-key = "2OCnHuV]Zwjmp5Nz1L-ro/QbNX.3zgU[/@a1@JtF"
"##;

/// CZMQ 4.2.1 `zcert_save(cert, "carol")`: files `carol` and `carol_secret`, empty
/// `metadata` section.
const CZMQ_CAROL_SECRET: &str = r##"#   ****  Generated on 2026-11-29 19:33:56 by CZMQ  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

metadata
curve
    public-key = "2xURPgND@r^HWtx)g5OR)}Ql[RT!FpxE1pHR9B@<"
    secret-key = "T6#vJ1PD6$Z!C#U(3BzeQC0K%[Mh@YGq)[bh4vmR"
"##;

/// The copied fixture files themselves.
const FILE_PYZMQ_ALICE_KEY: &str = include_str!("data/fixtures/pyzmq/alice.key");
const FILE_PYZMQ_ALICE_KEY_SECRET: &str = include_str!("data/fixtures/pyzmq/alice.key_secret");
const FILE_PYZMQ_SERVER_KEY: &str = include_str!("data/fixtures/pyzmq/server.key");
const FILE_PYZMQ_SERVER_KEY_SECRET: &str = include_str!("data/fixtures/pyzmq/server.key_secret");
const FILE_CZMQ_BOB_KEY: &str = include_str!("data/fixtures/czmq/bob.key");
const FILE_CZMQ_BOB_KEY_SECRET: &str = include_str!("data/fixtures/czmq/bob.key_secret");
const FILE_CZMQ_CAROL: &str = include_str!("data/fixtures/czmq/carol");
const FILE_CZMQ_CAROL_SECRET: &str = include_str!("data/fixtures/czmq/carol_secret");

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Writes `text` as `dir/name` and returns the path.
fn put(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write test file");
    path
}

/// Writes `text` to a fresh file and loads it; also checks that `Certificate::from_zpl`
/// on the same text gives the same answer (for successes).
fn load_text(
    name: &str,
    text: &str,
) -> (tempfile::TempDir, PathBuf, zmq_auth::Result<Certificate>) {
    let dir = tempdir();
    let path = put(dir.path(), name, text);
    let loaded = load_certificate(&path);
    if let Ok(cert) = &loaded {
        let parsed = Certificate::from_zpl(&path, text).expect("from_zpl agrees with load");
        assert_eq!(&parsed, cert, "from_zpl and load_certificate disagree");
    }
    (dir, path, loaded)
}

/// Loads `text`, which must succeed.
fn load_ok(text: &str) -> Certificate {
    let (_dir, path, loaded) = load_text("cert.key", text);
    loaded.unwrap_or_else(|e| panic!("{} should load: {e}", path.display()))
}

fn metadata_of(cert: &Certificate) -> Vec<(&str, &str)> {
    cert.metadata()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Asserts the certificate holds exactly these keys, and that the bytes agree with the
/// text.
fn assert_keys(cert: &Certificate, public: &str, secret: Option<&str>) {
    assert_eq!(cert.public_key(), public);
    assert_eq!(cert.public_key().len(), 40);
    assert_eq!(cert.public_key_bytes(), &decode_z85_key(public).unwrap());
    assert_eq!(cert.secret_key(), secret);
    assert_eq!(
        cert.secret_key_bytes(),
        secret.map(|s| decode_z85_key(s).unwrap()).as_ref()
    );
}

/// The `Display` text of an error must name the file (by its full path).
fn assert_names_file(err: &Error, path: &Path) {
    let shown = err.to_string();
    assert!(
        shown.contains(&path.display().to_string()),
        "error message {shown:?} does not name {}",
        path.display()
    );
}

/// The `Display` text of a parse-type error must read `PATH:LINE: ...`.
fn assert_names_file_and_line(err: &Error, path: &Path, line: usize) {
    let shown = err.to_string();
    let prefix = format!("{}:{line}:", path.display());
    assert!(
        shown.starts_with(&prefix),
        "error message {shown:?} does not start with {prefix:?}"
    );
}

/// Asserts a `Parse` error at `line`, named in the message.
#[track_caller]
fn assert_parse_error(result: zmq_auth::Result<Certificate>, path: &Path, line: usize) {
    match result {
        Err(err @ Error::Parse { .. }) => {
            if let Error::Parse {
                path: p, line: l, ..
            } = &err
            {
                assert_eq!(p, path);
                assert_eq!(*l, line, "wrong line in {err}");
            }
            assert_names_file_and_line(&err, path, line);
        }
        other => panic!("expected Error::Parse at line {line}, got {other:?}"),
    }
}

/// Asserts an `InvalidKey` error at `line`, named in the message.
#[track_caller]
fn assert_invalid_key(result: zmq_auth::Result<Certificate>, path: &Path, line: usize) -> Error {
    match result {
        Err(err @ Error::InvalidKey { .. }) => {
            if let Error::InvalidKey {
                path: p, line: l, ..
            } = &err
            {
                assert_eq!(p, path);
                assert_eq!(*l, line, "wrong line in {err}");
            }
            assert_names_file_and_line(&err, path, line);
            err
        }
        other => panic!("expected Error::InvalidKey at line {line}, got {other:?}"),
    }
}

/// Names of the entries of a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// No temporary files (`.NAME.tmp…`) left behind.
fn assert_no_temp_files(dir: &Path) {
    let leftovers: Vec<String> = listing(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') || n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A strict check of the layout `create_certificates` must write (DESIGN §6): banner
/// `#` lines, one blank line, `metadata` with 4-space, always-quoted children, `curve`
/// with the public key and, only in the secret file, the secret key; `\n` endings.
/// Returns the secret key text when there is one.
fn check_written_layout(
    text: &str,
    secret_file: bool,
    public: &str,
    metadata: &[(&str, &str)],
) -> Option<String> {
    assert!(!text.contains('\r'), "CR in written file:\n{text}");
    assert!(text.ends_with('\n'), "no final newline:\n{text}");
    let lines: Vec<&str> = text[..text.len() - 1].split('\n').collect();
    let mut i = 0;
    while i < lines.len() && lines[i].starts_with('#') {
        i += 1;
    }
    assert!(i >= 1, "no banner:\n{text}");
    let banner = lines[..i].join("\n");
    assert!(banner.contains("Generated on"), "banner:\n{banner}");
    assert_eq!(
        banner.contains("Secret"),
        secret_file,
        "banner should say Secret only in the secret file:\n{banner}"
    );
    let mut expect: Vec<String> = vec![String::new(), "metadata".into()];
    for (k, v) in metadata {
        expect.push(format!("    {k} = \"{v}\""));
    }
    expect.push("curve".into());
    expect.push(format!("    public-key = \"{public}\""));
    let rest = &lines[i..];
    let n = expect.len();
    assert!(rest.len() >= n, "file too short:\n{text}");
    assert_eq!(&rest[..n], &expect[..], "layout of:\n{text}");
    if secret_file {
        assert_eq!(rest.len(), n + 1, "layout of:\n{text}");
        let line = rest[n];
        let key = line
            .strip_prefix("    secret-key = \"")
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("bad secret-key line {line:?}"));
        assert_eq!(key.len(), 40);
        assert!(decode_z85_key(key).is_ok());
        Some(key.to_string())
    } else {
        assert_eq!(rest.len(), n, "public file has extra lines:\n{text}");
        assert!(!text.contains("secret-key"));
        None
    }
}

// ---------------------------------------------------------------------------------------
// Round trip: create → load
// ---------------------------------------------------------------------------------------

#[test]
fn round_trip_public_and_secret_with_metadata() {
    let dir = tempdir();
    let metadata = [
        ("name", "Alice Liddell"),
        ("email", "alice@example.org"),
        ("note", "it's # not a comment, 'quoted' and \ttabbed  "),
        ("Unicode.Value", "Zoë — ✓"),
        ("empty", ""),
    ];
    let (public_path, secret_path) =
        create_certificates(dir.path(), "alice", &metadata).expect("create");
    assert_eq!(public_path, dir.path().join("alice.key"));
    assert_eq!(secret_path, dir.path().join("alice.key_secret"));
    assert_eq!(listing(dir.path()), ["alice.key", "alice.key_secret"]);

    let public = load_certificate(&public_path).expect("load public");
    let secret = load_certificate(&secret_path).expect("load secret");
    assert_eq!(public.public_key(), secret.public_key());
    assert_keys(&public, secret.public_key(), None);
    let secret_key = secret.secret_key().expect("secret key").to_string();
    assert_keys(&secret, public.public_key(), Some(&secret_key));
    assert_ne!(public.public_key(), secret_key);
    // Metadata in both files, in order, exactly.
    assert_eq!(metadata_of(&public), metadata);
    assert_eq!(metadata_of(&secret), metadata);
    assert_eq!(public.metadata_value("name"), Some("Alice Liddell"));
    assert_eq!(secret.metadata_value("empty"), Some(""));
    assert_eq!(secret.metadata_value("absent"), None);
}

#[test]
fn round_trip_without_metadata() {
    let dir = tempdir();
    let (public_path, secret_path) = create_certificates(dir.path(), "server", &[]).unwrap();
    let public = load_certificate(&public_path).unwrap();
    let secret = load_certificate(&secret_path).unwrap();
    assert_eq!(public.public_key(), secret.public_key());
    assert!(public.secret_key().is_none());
    assert!(secret.secret_key().is_some());
    assert!(public.metadata().is_empty());
    assert!(secret.metadata().is_empty());
}

#[test]
fn round_trip_from_zpl_of_written_text() {
    let dir = tempdir();
    let (public_path, secret_path) =
        create_certificates(dir.path(), "c", &[("name", "Carl")]).unwrap();
    let public_text = fs::read_to_string(&public_path).unwrap();
    let secret_text = fs::read_to_string(&secret_path).unwrap();
    let from_public = Certificate::from_zpl("anything.key", &public_text).unwrap();
    let from_secret = Certificate::from_zpl("anything.key_secret", &secret_text).unwrap();
    assert_eq!(from_public, load_certificate(&public_path).unwrap());
    assert_eq!(from_secret, load_certificate(&secret_path).unwrap());
    assert_eq!(from_public.public_key(), from_secret.public_key());
}

#[test]
fn each_create_makes_a_new_key_pair_and_replaces_the_old_one() {
    let dir = tempdir();
    let (p1, s1) = create_certificates(dir.path(), "x", &[("v", "1")]).unwrap();
    let first = load_certificate(&s1).unwrap();
    let (p2, s2) = create_certificates(dir.path(), "x", &[("v", "2")]).unwrap();
    assert_eq!((&p1, &s1), (&p2, &s2));
    let second = load_certificate(&s2).unwrap();
    assert_ne!(first.public_key(), second.public_key());
    assert_ne!(first.secret_key(), second.secret_key());
    let public = load_certificate(&p2).unwrap();
    assert_eq!(public.public_key(), second.public_key());
    assert_eq!(public.metadata_value("v"), Some("2"));
    assert_eq!(listing(dir.path()), ["x.key", "x.key_secret"]);
}

#[test]
fn created_files_have_the_exact_layout() {
    let dir = tempdir();
    let metadata = [("name", "Bob Builder"), ("email", "bob@example.org")];
    let (public_path, secret_path) = create_certificates(dir.path(), "bob", &metadata).unwrap();
    let public = load_certificate(&public_path).unwrap();
    let secret = load_certificate(&secret_path).unwrap();

    let public_text = fs::read_to_string(&public_path).unwrap();
    let secret_text = fs::read_to_string(&secret_path).unwrap();
    assert_eq!(
        check_written_layout(&public_text, false, public.public_key(), &metadata),
        None
    );
    let written_secret = check_written_layout(&secret_text, true, public.public_key(), &metadata);
    assert_eq!(written_secret.as_deref(), secret.secret_key());

    // Without metadata the section is still there, empty (as CZMQ writes it).
    let (p, s) = create_certificates(dir.path(), "bare", &[]).unwrap();
    let key = load_certificate(&p).unwrap().public_key().to_string();
    check_written_layout(&fs::read_to_string(p).unwrap(), false, &key, &[]);
    check_written_layout(&fs::read_to_string(s).unwrap(), true, &key, &[]);
}

#[cfg(unix)]
#[test]
fn secret_file_is_0600_and_public_not_world_writable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let (public_path, secret_path) = create_certificates(dir.path(), "m", &[]).unwrap();
    let secret_mode = fs::metadata(&secret_path).unwrap().permissions().mode() & 0o7777;
    let public_mode = fs::metadata(&public_path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(secret_mode, 0o600, "secret mode {secret_mode:o}");
    assert_eq!(public_mode & 0o022, 0, "public mode {public_mode:o}");
    assert_ne!(
        public_mode & 0o400,
        0,
        "public file unreadable: {public_mode:o}"
    );

    // Replacing an existing, too-open secret file leaves the new one 0600 too.
    fs::set_permissions(&secret_path, fs::Permissions::from_mode(0o666)).unwrap();
    let (_, secret_path) = create_certificates(dir.path(), "m", &[]).unwrap();
    let mode = fs::metadata(&secret_path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "replaced secret mode {mode:o}");
}

#[test]
fn bad_names_are_rejected_and_nothing_is_created() {
    let dir = tempdir();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    for name in [
        "",
        "..",
        ".",
        "a/b",
        "/abs",
        "../escape",
        "x/..",
        "a\\b",
        "nul\0",
    ] {
        match create_certificates(&sub, name, &[]) {
            Err(err @ Error::InvalidName(_)) => {
                if let Error::InvalidName(n) = &err {
                    assert_eq!(n, name);
                }
                assert!(
                    err.to_string().contains("invalid certificate name"),
                    "{err}"
                );
            }
            other => panic!("name {name:?}: expected Error::InvalidName, got {other:?}"),
        }
    }
    assert!(listing(&sub).is_empty(), "{:?}", listing(&sub));
    assert_eq!(listing(dir.path()), ["sub"]);
}

#[test]
fn bad_metadata_is_rejected_and_nothing_is_created() {
    let dir = tempdir();
    let cases: &[(&str, &str)] = &[
        ("bad name", "x"),
        ("", "x"),
        ("a=b", "x"),
        ("a#b", "x"),
        ("a\"b", "x"),
        ("new\nline", "x"),
        ("name", "say \"hi\""),
        ("name", "\""),
        ("name", "two\nlines"),
        ("name", "carriage\rreturn"),
        ("name", "crlf\r\n"),
    ];
    for &(k, v) in cases {
        // The bad pair comes after a good one: nothing at all may be written.
        let metadata = [("ok", "fine"), (k, v)];
        match create_certificates(dir.path(), "m", &metadata) {
            Err(err @ Error::InvalidMetadata { .. }) => {
                if let Error::InvalidMetadata { name, .. } = &err {
                    assert_eq!(name, k);
                }
                assert!(err.to_string().contains("invalid metadata"), "{err}");
            }
            other => panic!("metadata ({k:?}, {v:?}): expected InvalidMetadata, got {other:?}"),
        }
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    }
}

#[test]
fn created_certificates_always_load_back() {
    // Whatever create_certificates accepts, load_certificate must read back; a metadata
    // list it cannot represent must be refused up front, with no file written.
    let dir = tempdir();
    let metadata = [("name", "first"), ("name", "second")];
    match create_certificates(dir.path(), "dup", &metadata) {
        Ok((public, secret)) => {
            for path in [public, secret] {
                if let Err(e) = load_certificate(&path) {
                    panic!(
                        "create_certificates accepted duplicate metadata names and wrote \
                         a file load_certificate rejects: {e}"
                    );
                }
            }
        }
        Err(Error::InvalidMetadata { name, .. }) => {
            assert_eq!(name, "name");
            assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

#[test]
fn create_in_missing_directory_is_an_io_error() {
    let dir = tempdir();
    let missing = dir.path().join("does-not-exist");
    match create_certificates(&missing, "x", &[]) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, &missing),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert!(!missing.exists());
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn atomic_write_failed_secret_rename_leaves_no_file() {
    // `<name>.key_secret` is a directory: renaming the secret file into place fails.
    let dir = tempdir();
    let blocker = dir.path().join("n.key_secret");
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("inside"), "untouched").unwrap();

    match create_certificates(dir.path(), "n", &[("name", "N")]) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, &blocker),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert_eq!(listing(dir.path()), ["n.key_secret"]);
    assert!(blocker.is_dir());
    assert_eq!(listing(&blocker), ["inside"]);
    assert_eq!(
        fs::read_to_string(blocker.join("inside")).unwrap(),
        "untouched"
    );
    assert!(!dir.path().join("n.key").exists());
    assert_no_temp_files(dir.path());
}

#[test]
fn atomic_write_failed_public_rename_leaves_no_file() {
    // `<name>.key` is a non-empty directory: the public rename fails after the secret
    // one succeeded; the lone secret must not stay behind.
    let dir = tempdir();
    let blocker = dir.path().join("n.key");
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("inside"), "untouched").unwrap();

    match create_certificates(dir.path(), "n", &[]) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, &blocker),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert_eq!(listing(dir.path()), ["n.key"]);
    assert_eq!(listing(&blocker), ["inside"]);
    assert!(!dir.path().join("n.key_secret").exists());
    assert_no_temp_files(dir.path());
}

#[test]
fn failed_re_create_keeps_the_existing_secret_key() {
    // An existing pair is being replaced and the public rename fails: the user's existing
    // secret key must survive (all or nothing), not be overwritten and then deleted.
    let dir = tempdir();
    let (public_path, secret_path) = create_certificates(dir.path(), "old", &[]).unwrap();
    let old_secret_text = fs::read_to_string(&secret_path).unwrap();
    fs::remove_file(&public_path).unwrap();
    fs::create_dir(&public_path).unwrap();
    fs::write(public_path.join("inside"), "x").unwrap();

    assert!(create_certificates(dir.path(), "old", &[]).is_err());
    assert_no_temp_files(dir.path());
    assert!(
        secret_path.is_file(),
        "a failed create_certificates deleted the existing {}",
        secret_path.display()
    );
    assert_eq!(
        fs::read_to_string(&secret_path).unwrap(),
        old_secret_text,
        "a failed create_certificates changed the existing secret file"
    );
}

// ---------------------------------------------------------------------------------------
// Real files from pyzmq 27.3 and CZMQ 4.2.1
// ---------------------------------------------------------------------------------------

#[test]
fn embedded_fixture_texts_are_the_copied_files() {
    assert_eq!(PYZMQ_ALICE_KEY, FILE_PYZMQ_ALICE_KEY);
    assert_eq!(PYZMQ_ALICE_KEY_SECRET, FILE_PYZMQ_ALICE_KEY_SECRET);
    assert_eq!(CZMQ_BOB_KEY, FILE_CZMQ_BOB_KEY);
    assert_eq!(CZMQ_BOB_KEY_SECRET, FILE_CZMQ_BOB_KEY_SECRET);
    assert_eq!(CZMQ_CAROL_SECRET, FILE_CZMQ_CAROL_SECRET);
    // The shapes the issue describes.
    assert!(PYZMQ_ALICE_KEY
        .lines()
        .next()
        .unwrap()
        .contains("19:33:56.586987 by pyzmq"));
    assert!(PYZMQ_ALICE_KEY_SECRET.contains("\n    email = alice@example.org\n"));
    assert!(
        CZMQ_BOB_KEY.contains("****\n#   ZeroMQ")
            && CZMQ_BOB_KEY.contains("subdirectory.\n\nmetadata\n")
    );
    assert!(CZMQ_BOB_KEY.contains("\n    name = \"Bob Builder\"\n"));
}

#[test]
fn pyzmq_fixtures_load_with_the_right_keys() {
    let dir = fixtures().join("pyzmq");

    let alice = load_certificate(dir.join("alice.key")).unwrap();
    assert_keys(&alice, ALICE_PUBLIC, None);
    assert!(alice.metadata().is_empty());

    let alice_secret = load_certificate(dir.join("alice.key_secret")).unwrap();
    assert_keys(&alice_secret, ALICE_PUBLIC, Some(ALICE_SECRET));
    assert_eq!(
        metadata_of(&alice_secret),
        [("email", "alice@example.org"), ("name", "Alice")]
    );

    let server = load_certificate(dir.join("server.key")).unwrap();
    assert_keys(&server, SERVER_PUBLIC, None);
    assert!(server.metadata().is_empty());

    let server_secret = load_certificate(dir.join("server.key_secret")).unwrap();
    assert_keys(&server_secret, SERVER_PUBLIC, Some(SERVER_SECRET));
    assert!(server_secret.metadata().is_empty());
}

#[test]
fn czmq_fixtures_load_with_the_right_keys() {
    let dir = fixtures().join("czmq");
    let bob_metadata = [("name", "Bob Builder"), ("email", "bob@example.org")];

    let bob = load_certificate(dir.join("bob.key")).unwrap();
    assert_keys(&bob, BOB_PUBLIC, None);
    assert_eq!(metadata_of(&bob), bob_metadata);

    let bob_secret = load_certificate(dir.join("bob.key_secret")).unwrap();
    assert_keys(&bob_secret, BOB_PUBLIC, Some(BOB_SECRET));
    assert_eq!(metadata_of(&bob_secret), bob_metadata);

    let carol = load_certificate(dir.join("carol")).unwrap();
    assert_keys(&carol, CAROL_PUBLIC, None);
    assert!(carol.metadata().is_empty());

    let carol_secret = load_certificate(dir.join("carol_secret")).unwrap();
    assert_keys(&carol_secret, CAROL_PUBLIC, Some(CAROL_SECRET));
    assert!(carol_secret.metadata().is_empty());
}

#[test]
fn fixture_texts_parse_with_from_zpl() {
    /// (file name, text, public key, secret key, metadata)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
    );
    let cases: &[Case] = &[
        ("alice.key", PYZMQ_ALICE_KEY, ALICE_PUBLIC, None, &[]),
        (
            "alice.key_secret",
            PYZMQ_ALICE_KEY_SECRET,
            ALICE_PUBLIC,
            Some(ALICE_SECRET),
            &[("email", "alice@example.org"), ("name", "Alice")],
        ),
        (
            "server.key",
            FILE_PYZMQ_SERVER_KEY,
            SERVER_PUBLIC,
            None,
            &[],
        ),
        (
            "server.key_secret",
            FILE_PYZMQ_SERVER_KEY_SECRET,
            SERVER_PUBLIC,
            Some(SERVER_SECRET),
            &[],
        ),
        (
            "bob.key",
            CZMQ_BOB_KEY,
            BOB_PUBLIC,
            None,
            &[("name", "Bob Builder"), ("email", "bob@example.org")],
        ),
        (
            "bob.key_secret",
            CZMQ_BOB_KEY_SECRET,
            BOB_PUBLIC,
            Some(BOB_SECRET),
            &[("name", "Bob Builder"), ("email", "bob@example.org")],
        ),
        ("carol", FILE_CZMQ_CAROL, CAROL_PUBLIC, None, &[]),
        (
            "carol_secret",
            CZMQ_CAROL_SECRET,
            CAROL_PUBLIC,
            Some(CAROL_SECRET),
            &[],
        ),
    ];
    for &(name, text, public, secret, metadata) in cases {
        let cert = Certificate::from_zpl(name, text)
            .unwrap_or_else(|e| panic!("{name} should parse: {e}"));
        assert_keys(&cert, public, secret);
        assert_eq!(metadata_of(&cert), metadata, "{name}");
    }
}

#[test]
fn load_certificates_of_the_fixture_folders() {
    let pyzmq = load_certificates(fixtures().join("pyzmq")).unwrap();
    let expected: HashMap<String, bool> = [
        (ALICE_PUBLIC.to_string(), true),
        (SERVER_PUBLIC.to_string(), true),
    ]
    .into_iter()
    .collect();
    assert_eq!(pyzmq, expected);

    // CZMQ's `carol` / `carol_secret` naming is not `*.key`: only bob counts.
    let czmq = load_certificates(fixtures().join("czmq")).unwrap();
    let expected: HashMap<String, bool> = [(BOB_PUBLIC.to_string(), true)].into_iter().collect();
    assert_eq!(czmq, expected);
}

// ---------------------------------------------------------------------------------------
// load_certificates(dir)
// ---------------------------------------------------------------------------------------

#[test]
fn load_certificates_reads_only_key_files() {
    let dir = tempdir();
    let (a_public, _) = create_certificates(dir.path(), "a", &[("name", "A")]).unwrap();
    let (b_public, _) = create_certificates(dir.path(), "b", &[]).unwrap();
    // Neither of these is read: a broken secret file and a README.
    put(
        dir.path(),
        "broken.key_secret",
        "this is not ZPL = \"\n\t\t",
    );
    put(dir.path(), "README.txt", "garbage\n  = not ZPL\n");
    put(dir.path(), "alice.key_secret", PYZMQ_ALICE_KEY_SECRET);
    put(dir.path(), "bob.key", CZMQ_BOB_KEY);
    put(dir.path(), "carol", FILE_CZMQ_CAROL);

    let keys = load_certificates(dir.path()).unwrap();
    let mut expected = HashMap::new();
    expected.insert(
        load_certificate(a_public).unwrap().public_key().to_string(),
        true,
    );
    expected.insert(
        load_certificate(b_public).unwrap().public_key().to_string(),
        true,
    );
    expected.insert(BOB_PUBLIC.to_string(), true);
    assert_eq!(keys, expected);
    assert!(!keys.contains_key(ALICE_PUBLIC));
    assert!(!keys.contains_key(CAROL_PUBLIC));
}

#[test]
fn load_certificates_of_czmq_named_files_is_empty() {
    let dir = tempdir();
    put(dir.path(), "carol", FILE_CZMQ_CAROL);
    put(dir.path(), "carol_secret", FILE_CZMQ_CAROL_SECRET);
    assert_eq!(load_certificates(dir.path()).unwrap(), HashMap::new());
}

#[test]
fn load_certificates_of_empty_dir_is_empty() {
    let dir = tempdir();
    assert!(load_certificates(dir.path()).unwrap().is_empty());
}

#[test]
fn load_certificates_missing_directory_is_an_io_error() {
    let dir = tempdir();
    let missing = dir.path().join("nope");
    match load_certificates(&missing) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, &missing),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    // A file where a directory is expected.
    let file = put(dir.path(), "plain.txt", "x");
    match load_certificates(&file) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, &file),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn load_certificates_names_a_malformed_file() {
    let dir = tempdir();
    create_certificates(dir.path(), "good", &[]).unwrap();
    let bad = put(dir.path(), "bad.key", "curve\n    public-key = \"short\"\n");
    match load_certificates(dir.path()) {
        Err(err @ Error::InvalidKey { .. }) => assert_names_file_and_line(&err, &bad, 2),
        other => panic!("expected Error::InvalidKey naming bad.key, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn load_certificates_does_not_hang_on_a_fifo_named_key() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = tempdir();
    create_certificates(dir.path(), "good", &[]).unwrap();
    let fifo = dir.path().join("fifo.key");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !matches!(made, Ok(s) if s.success()) {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let (tx, rx) = mpsc::channel();
    let path = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(load_certificates(&path).map(|m| m.len()));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        // Skipping the FIFO, or an error naming it, are both fine.
        Ok(Ok(n)) => assert_eq!(n, 1),
        Ok(Err(err)) => assert_names_file(&err, &fifo),
        Err(_) => {
            // Unblock the reader so the thread can finish, then fail.
            let _ = fs::OpenOptions::new().write(true).open(&fifo);
            panic!(
                "load_certificates blocked for 10 s opening the FIFO {}",
                fifo.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hand-written ZPL variants
// ---------------------------------------------------------------------------------------

#[test]
fn crlf_line_endings() {
    let cert = load_ok(&PYZMQ_ALICE_KEY_SECRET.replace('\n', "\r\n"));
    assert_keys(&cert, ALICE_PUBLIC, Some(ALICE_SECRET));
    assert_eq!(
        metadata_of(&cert),
        [("email", "alice@example.org"), ("name", "Alice")]
    );

    let cert = load_ok(&CZMQ_BOB_KEY_SECRET.replace('\n', "\r\n"));
    assert_keys(&cert, BOB_PUBLIC, Some(BOB_SECRET));
    assert_eq!(
        metadata_of(&cert),
        [("name", "Bob Builder"), ("email", "bob@example.org")]
    );

    // No final line ending at all.
    let cert = load_ok(CZMQ_BOB_KEY.trim_end());
    assert_keys(&cert, BOB_PUBLIC, None);
}

#[test]
fn single_quotes() {
    let text = r##"# single-quoted values
metadata
    name = 'Bob "The" Builder'
    email = 'bob@example.org'
curve
    public-key = '=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO'
    secret-key = '2OCnHuV]Zwjmp5Nz1L-ro/QbNX.3zgU[/@a1@JtF'
"##;
    let cert = load_ok(text);
    assert_keys(&cert, BOB_PUBLIC, Some(BOB_SECRET));
    assert_eq!(
        metadata_of(&cert),
        [
            ("name", "Bob \"The\" Builder"),
            ("email", "bob@example.org")
        ]
    );
}

#[test]
fn curve_section_before_metadata() {
    let text = r##"#   reverse order
curve
    public-key = "T6#vJ1PD6$Z!C#U(3BzeQC0K%[Mh@YGq)[bh4vmR"
metadata
    name = "Carol"
"##
    .replace("T6#vJ1PD6$Z!C#U(3BzeQC0K%[Mh@YGq)[bh4vmR", CAROL_PUBLIC);
    let cert = load_ok(&text);
    assert_keys(&cert, CAROL_PUBLIC, None);
    assert_eq!(metadata_of(&cert), [("name", "Carol")]);

    let text = r##"curve
    secret-key = "T6#vJ1PD6$Z!C#U(3BzeQC0K%[Mh@YGq)[bh4vmR"
    public-key = "2xURPgND@r^HWtx)g5OR)}Ql[RT!FpxE1pHR9B@<"
metadata
    email = carol@example.org
"##;
    let cert = load_ok(text);
    assert_keys(&cert, CAROL_PUBLIC, Some(CAROL_SECRET));
    assert_eq!(metadata_of(&cert), [("email", "carol@example.org")]);
}

#[test]
fn quoted_key_with_trailing_comment_loads_the_40_characters() {
    // pyzmq strips quotes from `"KEY" # comment` and keeps a 50-character key.
    let text = r##"metadata
    name = "Alice"   # the name
curve
    public-key = "=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!" # comment
    secret-key = "]fBU!B484aFZKsuNqEfBy&Cfv^^iu#EM6vfg2VfV"# no space before it
"##;
    let cert = load_ok(text);
    assert_keys(&cert, ALICE_PUBLIC, Some(ALICE_SECRET));
    assert_eq!(metadata_of(&cert), [("name", "Alice")]);

    let text = "curve\n    public-key = '=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!'\t# tab\n";
    assert_keys(&load_ok(text), ALICE_PUBLIC, None);
}

#[test]
fn unquoted_key_with_trailing_comment_loads_the_40_characters() {
    // pyzmq reads `KEY # comment` as a 50-character key; ZPL ends the value at `#`.
    let text = r##"metadata
    name = Bob Builder # unquoted, with a space
curve
    public-key = =jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO # comment
    secret-key = 2OCnHuV]Zwjmp5Nz1L-ro/QbNX.3zgU[/@a1@JtF	# tab before it
"##;
    let cert = load_ok(text);
    assert_keys(&cert, BOB_PUBLIC, Some(BOB_SECRET));
    assert_eq!(metadata_of(&cert), [("name", "Bob Builder")]);

    // Unquoted, no comment, trailing blanks.
    let text = format!("curve\n    public-key = {BOB_PUBLIC}   \n    secret-key={BOB_SECRET}\n");
    assert_keys(&load_ok(&text), BOB_PUBLIC, Some(BOB_SECRET));
}

#[test]
fn unquoted_key_containing_hash_is_never_silently_truncated() {
    // CAROL_SECRET contains `#`: unquoted, ZPL ends the value there. It must then be an
    // error, never a different key.
    let text = format!("curve\n    public-key = {CAROL_PUBLIC}\n    secret-key = {CAROL_SECRET}\n");
    let (_dir, path, loaded) = load_text("carol.key_secret", &text);
    match loaded {
        Ok(cert) => assert_keys(&cert, CAROL_PUBLIC, Some(CAROL_SECRET)),
        Err(err) => {
            let err = assert_invalid_key(Err(err), &path, 3);
            assert!(!format!("{err} {err:?}").contains("T6#"), "{err}");
        }
    }
}

#[test]
fn comments_blank_lines_and_spacing() {
    let text = format!(
        "# banner\n\
         \x20\x20# indented comment at an odd indentation\n\
         \n\
         \x20\x20\x20\x20\n\
         metadata   # section with a comment\n\
         \x20\x20\x20\x20# a comment among the children\n\
         \x20\x20\x20\x20name=\"no spaces around =\"\n\
         \x20\x20\x20\x20hash = \"x # y\" # real comment\n\
         \x20\x20\x20\x20quote = \"it's\"\n\
         \x20\x20\x20\x20tabbed\t=\t\"tab around =\"\n\
         \x20\x20\x20\x20bare\n\
         \n\
         curve # keys\n\
         \x20\x20\x20\x20public-key = \"{ALICE_PUBLIC}\"\n\
         \x20\x20\x20\x20\x20\x20\x20\x20deeper = \"ignored\"\n\
         other-section\n\
         \x20\x20\x20\x20public-key = \"not a key and not in curve\"\n"
    );
    let cert = load_ok(&text);
    assert_keys(&cert, ALICE_PUBLIC, None);
    assert_eq!(
        metadata_of(&cert),
        [
            ("name", "no spaces around ="),
            ("hash", "x # y"),
            ("quote", "it's"),
            ("tabbed", "tab around ="),
            ("bare", ""),
        ]
    );
}

/// Issue 20: pyzmq reads any indentation, so files indented by hand with 2 spaces or
/// tabs exist. Any consistent indentation loads: the first indented line sets the unit.
#[test]
fn any_consistent_indentation_loads() {
    for indent in ["  ", "\t", "   ", "        ", "\t\t"] {
        let text = format!(
            "# hand-made\nmetadata\n{indent}name = \"Bob\"\n{indent}# a comment\ncurve\n\
             {indent}public-key = \"{BOB_PUBLIC}\"\n{indent}secret-key = \"{BOB_SECRET}\"\n"
        );
        let cert = load_ok(&text);
        assert_keys(&cert, BOB_PUBLIC, Some(BOB_SECRET));
        assert_eq!(metadata_of(&cert), vec![("name", "Bob")], "{indent:?}");
    }
    // Deeper levels in the same unit are read (and ignored: a certificate has none).
    let text = format!("curve\n  public-key = \"{BOB_PUBLIC}\"\n    nested = 1\n");
    assert_keys(&load_ok(&text), BOB_PUBLIC, None);
    let text = format!("curve\n\tpublic-key = \"{BOB_PUBLIC}\"\n\t\tnested = 1\r\n");
    assert_keys(&load_ok(&text), BOB_PUBLIC, None);
}

#[test]
fn inconsistent_indentation_is_a_parse_error_with_line() {
    // Four spaces, then a tab.
    let text =
        format!("curve\n    public-key = \"{BOB_PUBLIC}\"\n    \tsecret-key = \"{BOB_SECRET}\"\n");
    let (_dir, path, loaded) = load_text("tab2.key", &text);
    assert_parse_error(loaded, &path, 3);

    // Tabs in one section, spaces in the next.
    let text = format!("metadata\n\tname = \"Bob\"\ncurve\n    public-key = \"{BOB_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("mixed.key", &text);
    assert_parse_error(loaded, &path, 4);

    // Not a multiple of the first indentation.
    let text = format!("# c\n\nmetadata\n    a = 1\ncurve\n  public-key = \"{BOB_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("two.key", &text);
    assert_parse_error(loaded, &path, 6);
    let text = format!("metadata\n  a = 1\ncurve\n     public-key = \"{BOB_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("five.key", &text);
    assert_parse_error(loaded, &path, 4);

    // Two levels below the section.
    let text = format!("metadata\n  a = 1\ncurve\n    public-key = \"{BOB_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("deep.key", &text);
    assert_parse_error(loaded, &path, 4);

    // A child with no section above it.
    let text = format!("    public-key = \"{BOB_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("orphan.key", &text);
    assert_parse_error(loaded, &path, 1);
}

/// Issue 20: a text file that merely ends in `.key` is "not a certificate", not a
/// complaint about its third word.
#[test]
fn a_text_file_named_key_is_not_a_certificate() {
    for text in [
        "This is my SSH key, do not delete.\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        "{\"key\": \"value\"}\n",
    ] {
        let (_dir, path, loaded) = load_text("notes.key", text);
        let err = loaded.unwrap_err();
        assert!(matches!(err, Error::Parse { .. }), "{err:?}");
        assert_names_file(&err, &path);
        assert!(
            err.to_string().contains("not a certificate"),
            "{text:?}: {err}"
        );
    }
    // A damaged certificate keeps its precise message.
    let text = format!("curve\n    public-key = \"{BOB_PUBLIC}\" extra\n");
    let (_dir, _path, loaded) = load_text("damaged.key", &text);
    let err = loaded.unwrap_err().to_string();
    assert!(err.contains("unexpected text after the value"), "{err}");
}

#[test]
fn unterminated_quote_is_a_parse_error_with_line() {
    for (i, text) in [
        format!("curve\n    public-key = \"{BOB_PUBLIC}\n"),
        format!("curve\n    public-key = '{BOB_PUBLIC}\n"),
        format!("curve\n    public-key = \"{BOB_PUBLIC}'\n"),
    ]
    .iter()
    .enumerate()
    {
        let (_dir, path, loaded) = load_text(&format!("q{i}.key"), text);
        assert_parse_error(loaded, &path, 2);
    }
    let text = format!("metadata\n    name = \"Bob\ncurve\n    public-key = \"{BOB_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("meta.key", &text);
    assert_parse_error(loaded, &path, 2);
}

#[test]
fn text_after_a_quoted_value_is_a_parse_error() {
    let text = format!("curve\n    public-key = \"{BOB_PUBLIC}\" extra\n");
    let (_dir, path, loaded) = load_text("extra.key", &text);
    assert_parse_error(loaded, &path, 2);
}

#[test]
fn duplicate_sections_and_keys_are_parse_errors() {
    let text =
        format!("curve\n    public-key = \"{BOB_PUBLIC}\"\n    public-key = \"{ALICE_PUBLIC}\"\n");
    let (_dir, path, loaded) = load_text("dupkey.key", &text);
    assert_parse_error(loaded, &path, 3);

    let text = format!(
        "curve\n    public-key = \"{BOB_PUBLIC}\"\ncurve\n    public-key = \"{ALICE_PUBLIC}\"\n"
    );
    let (_dir, path, loaded) = load_text("dupsection.key", &text);
    assert_parse_error(loaded, &path, 3);
}

// ---------------------------------------------------------------------------------------
// Error cases
// ---------------------------------------------------------------------------------------

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempdir();
    let missing = dir.path().join("ghost.key");
    match load_certificate(&missing) {
        Err(err @ Error::Io { .. }) => {
            assert_names_file(&err, &missing);
            if let Error::Io { path, source } = &err {
                assert_eq!(path, &missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
    // A file in a missing directory.
    let deeper = dir.path().join("no-such-dir").join("x.key");
    match load_certificate(&deeper) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, &deeper),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    // A directory where a file is expected.
    match load_certificate(dir.path()) {
        Err(err @ Error::Io { .. }) => assert_names_file(&err, dir.path()),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn no_public_key_is_missing_public_key() {
    let cases = [
        ("empty.key", String::new()),
        ("comments.key", "#   only a banner\n\n".to_string()),
        ("meta.key", "metadata\n    name = \"x\"\n".to_string()),
        ("emptycurve.key", "metadata\ncurve\n".to_string()),
        (
            "secretonly.key",
            format!("curve\n    secret-key = \"{BOB_SECRET}\"\n"),
        ),
        (
            "wrongsection.key",
            format!("metadata\n    public-key = \"{BOB_PUBLIC}\"\ncurve\n"),
        ),
    ];
    for (name, text) in cases {
        let (_dir, path, loaded) = load_text(name, &text);
        match loaded {
            Err(err @ Error::MissingPublicKey { .. }) => {
                assert_names_file(&err, &path);
                if let Error::MissingPublicKey { path: p } = &err {
                    assert_eq!(p, &path);
                }
                assert!(!err.to_string().contains(BOB_SECRET));
            }
            other => panic!("{name}: expected Error::MissingPublicKey, got {other:?}"),
        }
    }
}

/// Keys that are not 40 valid Z85 characters decoding to 32 bytes.
fn bad_keys() -> Vec<(&'static str, String)> {
    let good = BOB_PUBLIC;
    vec![
        ("empty", String::new()),
        ("39 characters", good[..39].to_string()),
        ("41 characters", format!("{good}0")),
        ("80 characters", format!("{good}{good}")),
        ("space inside", format!("{} {}", &good[..20], &good[21..])),
        ("tilde", format!("~{}", &good[1..])),
        ("comma", format!("{},", &good[..39])),
        ("backslash", format!("{}\\{}", &good[..10], &good[11..])),
        ("underscore", format!("{}_{}", &good[..10], &good[11..])),
        ("non-ASCII, 40 bytes", "é".repeat(20)),
        ("non-ASCII, 40 chars", "é".repeat(40)),
        ("chunk above 2^32", format!("%%%%%{}", &good[5..])),
        ("all #", "#".repeat(40)),
        // A last chunk starting with `#` is Z85 padding in the z85 crate: 31 bytes.
        ("decodes to 31 bytes", format!("{}#0000", &good[..35])),
        ("decodes to 30 bytes", format!("{}##000", &good[..35])),
    ]
}

#[test]
fn invalid_public_keys_are_invalid_key_errors_with_line() {
    for (what, key) in bad_keys() {
        let text = format!("# banner\nmetadata\ncurve\n    public-key = \"{key}\"\n");
        let (_dir, path, loaded) = load_text("bad.key", &text);
        match loaded {
            Err(Error::InvalidKey { .. }) => {}
            other => panic!("{what} ({key:?}): expected Error::InvalidKey, got {other:?}"),
        }
        assert_invalid_key(load_certificate(&path), &path, 4);
        // Same through from_zpl.
        match Certificate::from_zpl("inline.key", &text) {
            Err(err @ Error::InvalidKey { .. }) => {
                assert_names_file_and_line(&err, Path::new("inline.key"), 4)
            }
            other => panic!("{what}: from_zpl gave {other:?}"),
        }
    }
    // A public-key with no value at all.
    let (_dir, path, loaded) = load_text("novalue.key", "curve\n    public-key\n");
    assert_invalid_key(loaded, &path, 2);
    let (_dir, path, loaded) = load_text("emptyvalue.key", "curve\n    public-key =\n");
    assert_invalid_key(loaded, &path, 2);
}

#[test]
fn invalid_secret_keys_are_invalid_key_errors_without_the_key() {
    for (what, key) in bad_keys() {
        let text = format!(
            "metadata\ncurve\n    public-key = \"{BOB_PUBLIC}\"\n    secret-key = \"{key}\"\n"
        );
        let (_dir, path, loaded) = load_text("bad.key_secret", &text);
        let err = match loaded {
            Err(err @ Error::InvalidKey { .. }) => err,
            other => panic!("{what} ({key:?}): expected Error::InvalidKey, got {other:?}"),
        };
        assert_names_file_and_line(&err, &path, 4);
        // The message never repeats the (would-be) secret.
        if key.len() >= 8 {
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(&key[..8]),
                "{what}: secret leaked in {shown}"
            );
        }
    }
}

#[test]
fn secret_not_matching_public_is_key_mismatch() {
    // Bob's secret beside Alice's public key.
    let text =
        format!("curve\n    public-key = \"{ALICE_PUBLIC}\"\n    secret-key = \"{BOB_SECRET}\"\n");
    let (_dir, path, loaded) = load_text("mixed.key_secret", &text);
    match loaded {
        Err(err @ Error::KeyMismatch { .. }) => {
            assert_names_file(&err, &path);
            if let Error::KeyMismatch { path: p } = &err {
                assert_eq!(p, &path);
            }
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(BOB_SECRET), "{shown}");
        }
        other => panic!("expected Error::KeyMismatch, got {other:?}"),
    }
    match Certificate::from_zpl("m.key_secret", &text) {
        Err(Error::KeyMismatch { path }) => assert_eq!(path, Path::new("m.key_secret")),
        other => panic!("from_zpl: expected Error::KeyMismatch, got {other:?}"),
    }
    // A public key used as its own secret does not match either.
    let text =
        format!("curve\n    public-key = \"{BOB_PUBLIC}\"\n    secret-key = \"{BOB_PUBLIC}\"\n");
    assert!(matches!(
        Certificate::from_zpl("self.key_secret", &text),
        Err(Error::KeyMismatch { .. })
    ));
}

#[test]
fn non_utf8_file_is_a_parse_error() {
    let dir = tempdir();
    let mut bytes = b"# banner\nmetadata\n    name = \"".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'x']);
    bytes.extend_from_slice(format!("\"\ncurve\n    public-key = \"{BOB_PUBLIC}\"\n").as_bytes());
    let path = put(dir.path(), "latin.key", &bytes);
    assert_parse_error(load_certificate(&path), &path, 3);

    // Latin-1 in the banner, line 1.
    let mut bytes = b"# Gen\xe9r\xe9\n".to_vec();
    bytes.extend_from_slice(CZMQ_BOB_KEY.as_bytes());
    let path = put(dir.path(), "latin1.key", &bytes);
    assert_parse_error(load_certificate(&path), &path, 1);

    // And load_certificates reports it.
    assert!(matches!(
        load_certificates(dir.path()),
        Err(Error::Parse { .. })
    ));
}

#[test]
fn file_over_one_mib_is_an_error() {
    let dir = tempdir();
    let valid = CZMQ_BOB_KEY;
    // Exactly 1 MiB of valid certificate (comment padding) still loads.
    let limit = 1usize << 20;
    let pad_line = format!("#{}\n", "x".repeat(99));
    let mut text = String::new();
    while text.len() + pad_line.len() + valid.len() <= limit {
        text.push_str(&pad_line);
    }
    text.push_str(&"#".repeat(limit - text.len() - valid.len() - 1));
    text.push('\n');
    text.push_str(valid);
    assert_eq!(text.len(), limit);
    let exact = put(dir.path(), "exact.key", &text);
    assert_keys(&load_certificate(&exact).unwrap(), BOB_PUBLIC, None);

    // One byte more is refused.
    text.insert(0, '#');
    let big = put(dir.path(), "big.key", &text);
    match load_certificate(&big) {
        Err(err) => {
            assert!(
                matches!(err, Error::Parse { .. } | Error::Io { .. }),
                "{err:?}"
            );
            assert_names_file(&err, &big);
        }
        Ok(_) => panic!("a file over 1 MiB loaded"),
    }
    // A much bigger file too (sparse: no disk needed).
    let huge = dir.path().join("huge.key");
    fs::File::create(&huge).unwrap().set_len(1 << 32).unwrap();
    assert!(load_certificate(&huge).is_err());
}

#[test]
fn debug_never_shows_the_secret_key() {
    for cert in [
        load_certificate(fixtures().join("pyzmq/alice.key_secret")).unwrap(),
        load_certificate(fixtures().join("czmq/carol_secret")).unwrap(),
        Certificate::from_zpl("b", CZMQ_BOB_KEY_SECRET).unwrap(),
    ] {
        let secret = cert.secret_key().unwrap().to_string();
        for shown in [format!("{cert:?}"), format!("{cert:#?}")] {
            assert!(!shown.contains(&secret), "secret key in Debug: {shown}");
            assert!(
                !shown.contains(&secret[..10]),
                "secret key in Debug: {shown}"
            );
            assert!(shown.contains(cert.public_key()), "{shown}");
        }
        // The secret bytes do not show either.
        let bytes = format!("{:?}", cert.secret_key_bytes().unwrap());
        assert!(!format!("{cert:?}").contains(&bytes[1..bytes.len() - 1]));
    }
    let dir = tempdir();
    let (_, secret) = create_certificates(dir.path(), "d", &[("name", "D")]).unwrap();
    let cert = load_certificate(secret).unwrap();
    assert!(!format!("{cert:?}").contains(cert.secret_key().unwrap()));
}

#[test]
fn from_zpl_uses_the_path_only_for_messages() {
    let cert = Certificate::from_zpl("/nonexistent/dir/x.key", CZMQ_BOB_KEY).unwrap();
    assert_keys(&cert, BOB_PUBLIC, None);
    match Certificate::from_zpl("/nonexistent/dir/x.key", "curve\n\tpublic-key = 'x' y\n") {
        Err(err @ Error::Parse { .. }) => {
            assert_names_file_and_line(&err, Path::new("/nonexistent/dir/x.key"), 2)
        }
        other => panic!("expected Error::Parse, got {other:?}"),
    }
    match Certificate::from_zpl(PathBuf::from("y.key"), "metadata\n") {
        Err(Error::MissingPublicKey { path }) => assert_eq!(path, Path::new("y.key")),
        other => panic!("expected Error::MissingPublicKey, got {other:?}"),
    }
}

#[test]
fn garbage_never_panics() {
    let long_name = "n".repeat(100_000);
    let deep: String = (0..200)
        .map(|d| format!("{}s{d}\n", "    ".repeat(d)))
        .collect();
    let inputs: Vec<String> = vec![
        String::new(),
        "\n".into(),
        "\r".into(),
        "\r\n\r\n".into(),
        "=".into(),
        "= x".into(),
        "#".into(),
        "\"".into(),
        "'".into(),
        "curve\n    public-key = \"".into(),
        "curve\n    public-key = '".into(),
        "curve\n    public-key = \"\"\"".into(),
        "curve\n    public-key =".into(),
        "curve\n    =".into(),
        "curve\n    public-key = \"é\"".into(),
        "curve\n    public-key = é".into(),
        "curve\n    public-key = \u{0}\u{0}".into(),
        "\u{feff}curve\n    public-key = x\n".into(),
        "curve\n\u{a0}\u{a0}\u{a0}\u{a0}public-key = x\n".into(),
        "\t\t\n".into(),
        " \t \n".into(),
        "curve\n    public-key\u{2028}= x\n".into(),
        "    \n        \n".into(),
        format!("{long_name}\n    {long_name} = \"{long_name}\"\n"),
        deep,
        "curve\n    public-key = \"=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO\"\n    secret-key = \""
            .into(),
    ];
    for text in &inputs {
        let _ = Certificate::from_zpl("g.key", text);
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// One line of ZPL-ish text: real keys, sections, odd quoting and comments.
fn zplish_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("curve".to_string()),
        Just("metadata".to_string()),
        Just(String::new()),
        Just(format!("    public-key = \"{BOB_PUBLIC}\"")),
        Just(format!("    secret-key = \"{BOB_SECRET}\"")),
        Just(format!("    public-key = {ALICE_PUBLIC} # c")),
        Just(format!("    secret-key = '{ALICE_SECRET}'")),
        Just(format!("    public-key = {CAROL_PUBLIC}")),
        Just(format!("    secret-key = {CAROL_SECRET}")),
        "[ \t]{0,9}[a-z#=-]{0,12}[ \t]{0,2}=?[ \t]{0,2}[\"']?[!-~ ]{0,48}[\"']?[ \t]*(#[ -~]*)?",
        "(    )?(public|secret)-key ?= ?[\"']?[0-9a-zA-Z.:+=^!/*?&<>()\\[\\]{}@%$# -]{0,45}[\"']?( #.*)?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the text, parsing never panics, and a key it returns is exactly a key
    /// written in the text: 40 characters, never a truncated or extended one.
    #[test]
    fn parsed_keys_are_never_corrupted(
        lines in prop::collection::vec(zplish_line(), 0..12),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        if let Ok(cert) = Certificate::from_zpl("p.key", &text) {
            let public = cert.public_key();
            prop_assert_eq!(public.len(), 40);
            prop_assert!(text.contains(public), "public key {:?} not in the text", public);
            prop_assert_eq!(cert.public_key_bytes(), &decode_z85_key(public).unwrap());
            prop_assert_eq!(encode_z85_key(cert.public_key_bytes()), public);
            if let Some(secret) = cert.secret_key() {
                prop_assert_eq!(secret.len(), 40);
                prop_assert!(text.contains(secret));
            }
        }
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Certificate::from_zpl("a.key", &text);
    }

    /// Any metadata create_certificates accepts (valid names, values without `"` or a
    /// line break) is read back exactly from both files.
    #[test]
    fn metadata_round_trips(
        values in prop::collection::vec("[^\"\r\n]{0,24}", 0..5),
    ) {
        let dir = tempdir();
        let names: Vec<String> = (0..values.len()).map(|i| format!("k-{i}.x_y+z")).collect();
        let metadata: Vec<(&str, &str)> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (public, secret) = create_certificates(dir.path(), "p", &metadata).unwrap();
        for path in [public, secret] {
            let cert = load_certificate(&path).unwrap();
            prop_assert_eq!(metadata_of(&cert), metadata.clone());
        }
    }
}
