//! The `zmq-auth` command-line tool, run as a user runs it: the built binary in a child
//! process, its exit status and output checked, its files read back by the library and
//! by pyzmq (`tests/interop/certs.py`, skipped with a reason when the pinned pyzmq
//! virtualenv is missing, a failure under `CI=true`), and `probe` against real CURVE
//! and PLAIN servers guarded by `ThreadAuthenticator` in this process.
//!
//! Every wait is bounded: children run under a deadline and are killed past it.
#![cfg(feature = "cli")]

#[path = "support/pg.rs"]
mod pg;
#[path = "interop/support.rs"]
mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{bind_server, field};
use zmq_auth::store::{PostgresStore, SqliteStore};
use zmq_auth::{create_certificates, load_certificate, load_certificates, zmq};
use zmq_auth::{Authenticator, Certificate, ThreadAuthenticator};

const BIN: &str = env!("CARGO_BIN_EXE_zmq-auth");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fixtures");
const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
/// How long one run of the tool may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(30);

/// What one run of the tool left.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn expect(self, code: i32) -> Out {
        assert_eq!(self.code, code, "unexpected exit status: {self:#?}");
        self
    }
}

/// Runs `zmq-auth ARGS` with `stdin` (none: an empty stdin), within [`DEADLINE`].
fn tool_with_stdin<I, S>(args: I, stdin: Option<&str>) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that refuses before reading its input closes the pipe: not an error of
        // the test (the exit code and message are checked).
        if let Err(e) = pipe.write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {DEADLINE:?}; killed");
        }
        // A polling interval for the child's exit, not a correctness mechanism.
        std::thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code().expect("exited, not killed by a signal"),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn tool<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    tool_with_stdin(args, None)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// pyzmq's `zmq.auth.load_certificate`, through the pinned virtualenv; `None` (after
/// printing why, or panicking under CI) when it is not there.
fn pyzmq_load(test: &str, path: &Path) -> Option<(String, String)> {
    let python = match std::env::var_os("ZMQ_AUTH_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    };
    if !python.exists() {
        support::skip(
            test,
            &format!(
                "no Python at {} (create it with `bash scripts/setup-pyzmq-venv.sh`, which \
                 `make test` runs, or set ZMQ_AUTH_PYTHON)",
                python.display()
            ),
        );
        return None;
    }
    let out = support::run(
        Command::new(&python)
            .arg(Path::new(INTEROP).join("certs.py"))
            .arg("load")
            .arg(path)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )
    .ok("pyzmq load_certificate");
    Some((
        field(&out.stdout, "public").to_string(),
        field(&out.stdout, "secret").to_string(),
    ))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------- keygen, public, show

#[test]
fn keygen_writes_what_the_library_and_pyzmq_read() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = tool([
        "keygen",
        "alice",
        "--dir",
        p(dir.path()),
        "--meta",
        "name=Alice",
        "--meta",
        "email=alice@example.org",
        "--json",
    ])
    .expect(0);
    let public_path = dir.path().join("alice.key");
    let secret_path = dir.path().join("alice.key_secret");
    let public = load_certificate(&public_path).unwrap();
    let secret = load_certificate(&secret_path).unwrap();
    assert_eq!(public.public_key(), secret.public_key());
    assert_eq!(
        out.stdout.trim(),
        format!(
            "{{\"name\":\"alice\",\"public_key\":\"{}\",\"public_file\":\"{}\",\"secret_file\":\"{}\"}}",
            public.public_key(),
            public_path.display(),
            secret_path.display()
        )
    );
    for cert in [&public, &secret] {
        assert_eq!(cert.metadata_value("name"), Some("Alice"));
        assert_eq!(cert.metadata_value("email"), Some("alice@example.org"));
    }
    let secret_z85 = secret.secret_key().unwrap();
    assert!(
        !out.all().contains(secret_z85),
        "keygen printed the secret key"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&secret_path), 0o600);
        assert_eq!(mode(&public_path), 0o644);
    }
    // The human form says the same, without the secret.
    let human = tool(["keygen", "bob", "--dir", p(dir.path())]).expect(0);
    let bob = load_certificate(dir.path().join("bob.key_secret")).unwrap();
    assert!(human
        .stdout
        .contains(&format!("public key: {}", bob.public_key())));
    assert!(!human.all().contains(bob.secret_key().unwrap()));

    let test = "keygen_writes_what_the_library_and_pyzmq_read";
    if let Some((py_public, py_secret)) = pyzmq_load(test, &secret_path) {
        assert_eq!(py_public, public.public_key());
        assert!(py_secret == secret_z85, "pyzmq read another secret key");
        let (py_public, py_secret) = pyzmq_load(test, &public_path).unwrap();
        assert_eq!(py_public, public.public_key());
        assert_eq!(py_secret, "");
    }
}

#[test]
fn keygen_never_overwrites_without_force() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());
    tool(["keygen", "server", "--dir", d]).expect(0);
    let before = load_certificate(dir.path().join("server.key_secret")).unwrap();
    let again = tool(["keygen", "server", "--dir", d]).expect(2);
    assert!(again.stderr.contains("server.key"), "{again:?}");
    assert!(again.stderr.contains("--force"), "{again:?}");
    assert_eq!(again.stderr.lines().count(), 1, "{again:?}");
    let kept = load_certificate(dir.path().join("server.key_secret")).unwrap();
    assert_eq!(kept.public_key(), before.public_key());
    // Only the secret half left behind still counts as taken.
    std::fs::remove_file(dir.path().join("server.key")).unwrap();
    tool(["keygen", "server", "--dir", d]).expect(2);

    tool(["keygen", "server", "--dir", d, "--force"]).expect(0);
    let after = load_certificate(dir.path().join("server.key_secret")).unwrap();
    assert_ne!(after.public_key(), before.public_key());
}

#[test]
fn keygen_usage_errors_are_one_line_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());
    for (args, names) in [
        (
            vec!["keygen", "x", "--dir", d, "--meta", "novalue"],
            "novalue",
        ),
        (
            vec!["keygen", "x", "--dir", d, "--meta", "bad name=v"],
            "bad name",
        ),
        (
            vec!["keygen", "x", "--dir", "/nonexistent/dir"],
            "/nonexistent/dir",
        ),
        (vec!["keygen", "a/b", "--dir", d], "a/b"),
    ] {
        let out = tool(&args).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains(names), "{args:?}: {out:?}");
    }
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "nothing written");
    // clap's own usage errors are exit 2 too.
    tool(["keygen"]).expect(2);
    tool(["no-such-command"]).expect(2);
}

/// The fixtures' public keys (tests/data/fixtures/README.md, read with pyzmq).
const FIXTURE_KEYS: [(&str, &str); 8] = [
    ("czmq/bob.key", "=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO"),
    (
        "czmq/bob.key_secret",
        "=jZTzge^^26pzTs^yA=w/COj@U-FxMPjBNC1=RvO",
    ),
    ("czmq/carol", "2xURPgND@r^HWtx)g5OR)}Ql[RT!FpxE1pHR9B@<"),
    (
        "czmq/carol_secret",
        "2xURPgND@r^HWtx)g5OR)}Ql[RT!FpxE1pHR9B@<",
    ),
    (
        "pyzmq/alice.key",
        "=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!",
    ),
    (
        "pyzmq/alice.key_secret",
        "=wfQBwJ8D!MpTDZb:zI$f9nS:7eKy]UO^a7LUgg!",
    ),
    (
        "pyzmq/server.key",
        "wsL?o*0s5zExDq/Pc<Md%cRb7]m-Q/}6i#?xGR7?",
    ),
    (
        "pyzmq/server.key_secret",
        "wsL?o*0s5zExDq/Pc<Md%cRb7]m-Q/}6i#?xGR7?",
    ),
];

#[test]
fn public_equals_pyzmqs_public_key_for_the_fixtures() {
    if !zmq_auth::curve_available() {
        return;
    }
    for (file, expected) in FIXTURE_KEYS {
        let path = Path::new(FIXTURES).join(file);
        let out = tool([OsStr::new("public"), path.as_os_str()]).expect(0);
        assert_eq!(out.stdout, format!("{expected}\n"), "{file}");
        if let Some((py_public, _)) = pyzmq_load("public_equals_pyzmqs_public_key", &path) {
            assert_eq!(py_public, expected, "{file}: pyzmq");
        } else {
            break; // skipped (outside CI) with the reason printed
        }
    }
}

#[test]
fn public_refuses_a_secret_key_that_does_not_match() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a_public, _) = create_certificates(dir.path(), "a", &[]).unwrap();
    let (_, b_secret) = create_certificates(dir.path(), "b", &[]).unwrap();
    let a = load_certificate(&a_public).unwrap();
    let b = load_certificate(&b_secret).unwrap();
    let mixed = dir.path().join("mixed.key_secret");
    std::fs::write(
        &mixed,
        format!(
            "curve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n",
            a.public_key(),
            b.secret_key().unwrap()
        ),
    )
    .unwrap();
    let out = tool(["public", p(&mixed)]).expect(2);
    assert!(out.stderr.contains("mixed.key_secret"), "{out:?}");
    assert!(out.stderr.contains("does not match"), "{out:?}");
    assert!(!out.all().contains(b.secret_key().unwrap()));
    let out = tool(["public", p(&dir.path().join("missing.key"))]).expect(2);
    assert!(out.stderr.contains("missing.key"), "{out:?}");
}

#[test]
fn show_prints_key_and_metadata_never_the_secret() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, secret) = create_certificates(dir.path(), "s", &[("name", "Srv")]).unwrap();
    let mut files = vec![secret];
    for (file, _) in FIXTURE_KEYS {
        files.push(Path::new(FIXTURES).join(file));
    }
    for file in files {
        let cert = load_certificate(&file).unwrap();
        let out = tool([OsStr::new("show"), file.as_os_str()]).expect(0);
        assert!(out.stdout.contains(cert.public_key()), "{out:?}");
        for (name, value) in cert.metadata() {
            assert!(
                out.stdout.contains(&format!("{name} = {value:?}")),
                "{out:?}"
            );
        }
        match cert.secret_key() {
            Some(secret) => {
                assert!(!out.all().contains(secret), "show printed a secret key");
                assert!(out.stdout.contains("secret key: present (not shown)"));
            }
            None => assert!(out.stdout.contains("secret key: none")),
        }
    }
}

// ---------------------------------------------------------------------------- check

/// A trusted directory (0755) with two good public certificates, and a key directory
/// beside it with their secret halves and a spare pair.
struct Dirs {
    _root: tempfile::TempDir,
    keys: PathBuf,
    trusted: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let keys = root.path().join("keys");
    let trusted = root.path().join("trusted");
    std::fs::create_dir(&keys).unwrap();
    std::fs::create_dir(&trusted).unwrap();
    #[cfg(unix)]
    set_mode(&trusted, 0o755);
    for name in ["alice", "bob", "spare"] {
        create_certificates(&keys, name, &[("name", name)]).unwrap();
    }
    for name in ["alice", "bob"] {
        let file = format!("{name}.key");
        std::fs::copy(keys.join(&file), trusted.join(&file)).unwrap();
        #[cfg(unix)]
        set_mode(&trusted.join(&file), 0o644);
    }
    Dirs {
        _root: root,
        keys,
        trusted,
    }
}

#[test]
fn check_passes_a_clean_directory() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let out = tool(["check", p(&d.trusted)]).expect(0);
    assert!(
        out.stdout.contains("2 certificate(s), 0 problem(s)"),
        "{out:?}"
    );
    let out = tool(["check", p(&d.trusted), "--json"]).expect(0);
    assert!(out.stdout.contains("\"ok\":true"), "{out:?}");
    assert!(out.stdout.contains("\"problems\":[]"), "{out:?}");
    // Progress goes to a terminal only: nothing on a pipe.
    assert_eq!(out.stderr, "");
}

/// One problem planted in a clean directory: its name, what plants it, the file the
/// report must name, the kind, and the line (for parse errors).
type Plant = fn(&Dirs) -> PathBuf;

#[test]
fn check_finds_each_kind_of_problem_and_names_the_file() {
    if !zmq_auth::curve_available() {
        return;
    }
    let cases: Vec<(&str, Plant, &str, Option<usize>)> = vec![
        (
            "unparsable file",
            |d| {
                let f = d.trusted.join("broken.key");
                std::fs::write(&f, "curve\n    public-key = \"unterminated\n").unwrap();
                f
            },
            "parse",
            Some(2),
        ),
        (
            "bad key",
            |d| {
                let f = d.trusted.join("short.key");
                std::fs::write(&f, "metadata\ncurve\n    public-key = \"abc\"\n").unwrap();
                f
            },
            "bad-key",
            Some(3),
        ),
        (
            "invalid Z85 of the right length",
            |d| {
                let f = d.trusted.join("z85.key");
                let text = format!("curve\n    public-key = \"{}\"\n", "~".repeat(40));
                std::fs::write(&f, text).unwrap();
                f
            },
            "bad-key",
            Some(2),
        ),
        (
            "same key twice",
            |d| {
                let f = d.trusted.join("zz-alice-copy.key");
                std::fs::copy(d.keys.join("alice.key"), &f).unwrap();
                f
            },
            "duplicate",
            None,
        ),
        (
            "secret key in a .key file",
            |d| {
                let f = d.trusted.join("spare.key");
                std::fs::copy(d.keys.join("spare.key_secret"), &f).unwrap();
                f
            },
            "secret-key",
            None,
        ),
        (
            "secret certificate beside the public ones",
            |d| {
                let f = d.trusted.join("spare.key_secret");
                std::fs::copy(d.keys.join("spare.key_secret"), &f).unwrap();
                f
            },
            "secret-key",
            None,
        ),
        (
            "world-writable file",
            |d| {
                let f = d.trusted.join("alice.key");
                #[cfg(unix)]
                set_mode(&f, 0o666);
                f
            },
            "permissions",
            None,
        ),
        (
            "group-writable directory",
            |d| {
                #[cfg(unix)]
                set_mode(&d.trusted, 0o775);
                d.trusted.clone()
            },
            "permissions",
            None,
        ),
        (
            "symlink out of the directory",
            |d| {
                let f = d.trusted.join("outside.key");
                #[cfg(unix)]
                std::os::unix::fs::symlink(d.keys.join("spare.key"), &f).unwrap();
                f
            },
            "symlink",
            None,
        ),
        (
            "dangling symlink",
            |d| {
                let f = d.trusted.join("gone.key");
                #[cfg(unix)]
                std::os::unix::fs::symlink(d.trusted.join("nothing-here"), &f).unwrap();
                f
            },
            "symlink",
            None,
        ),
        (
            "certificate not named *.key",
            |d| {
                let f = d.trusted.join("spare.pub");
                std::fs::copy(d.keys.join("spare.key"), &f).unwrap();
                f
            },
            "misnamed",
            None,
        ),
    ];
    for (what, plant, kind, line) in cases {
        let d = dirs();
        let file = plant(&d);
        let out = tool(["check", p(&d.trusted)]).expect(1);
        let prefix = match line {
            Some(n) => format!("{}:{n}: {kind}: ", file.display()),
            None => format!("{}: {kind}: ", file.display()),
        };
        assert!(
            out.stdout.lines().any(|l| l.starts_with(&prefix)),
            "{what}: expected a line starting with {prefix:?} in:\n{}",
            out.stdout
        );
        let json = tool(["check", p(&d.trusted), "--json"]).expect(1);
        assert!(json.stdout.contains("\"ok\":false"), "{what}: {json:?}");
        assert!(
            json.stdout.contains(&format!("\"kind\":\"{kind}\"")),
            "{what}: {json:?}"
        );
        // No secret key of the directory's files ever shows.
        let spare = load_certificate(d.keys.join("spare.key_secret")).unwrap();
        assert!(!out.all().contains(spare.secret_key().unwrap()), "{what}");
    }
}

#[test]
fn check_of_a_missing_directory_is_exit_2() {
    let out = tool(["check", "/nonexistent/trusted"]).expect(2);
    assert!(out.stderr.contains("/nonexistent/trusted"), "{out:?}");
}

// -------------------------------------------------------------------- trust, revoke

#[test]
fn trust_then_revoke_by_key_and_by_file() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let t = p(&d.trusted);
    let spare = load_certificate(d.keys.join("spare.key")).unwrap();
    let out = tool(["trust", p(&d.keys.join("spare.key")), "--dir", t]).expect(0);
    assert!(out.stdout.contains(spare.public_key()), "{out:?}");
    let keys = load_certificates(&d.trusted).unwrap();
    assert!(keys.contains_key(spare.public_key()));
    assert_eq!(keys.len(), 3);
    assert_eq!(
        std::fs::read(d.trusted.join("spare.key")).unwrap(),
        std::fs::read(d.keys.join("spare.key")).unwrap()
    );
    // No temporary file is left behind; trusting again changes nothing.
    assert_eq!(std::fs::read_dir(&d.trusted).unwrap().count(), 3);
    let again = tool(["trust", p(&d.keys.join("spare.key")), "--dir", t]).expect(0);
    assert!(again.stdout.contains("already trusted"), "{again:?}");
    assert_eq!(std::fs::read_dir(&d.trusted).unwrap().count(), 3);
    tool(["check", t]).expect(0);

    // A secret certificate is refused, and nothing is written.
    let out = tool(["trust", p(&d.keys.join("alice.key_secret")), "--dir", t]).expect(2);
    assert!(out.stderr.contains("alice.key_secret"), "{out:?}");
    assert_eq!(std::fs::read_dir(&d.trusted).unwrap().count(), 3);

    // Revoke by Z85 key.
    tool(["revoke", spare.public_key(), "--dir", t]).expect(0);
    assert!(!load_certificates(&d.trusted)
        .unwrap()
        .contains_key(spare.public_key()));
    let out = tool(["revoke", spare.public_key(), "--dir", t]).expect(1);
    assert!(out.stdout.contains("nothing to revoke"), "{out:?}");

    // Revoke by file (here the secret half kept elsewhere: its public key is meant).
    let alice = load_certificate(d.keys.join("alice.key")).unwrap();
    tool(["revoke", p(&d.keys.join("alice.key_secret")), "--dir", t]).expect(0);
    let left = load_certificates(&d.trusted).unwrap();
    assert!(!left.contains_key(alice.public_key()));
    assert_eq!(left.len(), 1);
    assert!(
        d.keys.join("alice.key_secret").exists(),
        "only the trusted copy goes"
    );

    // Z85 keys may begin with `-`: still a key, not an option.
    let mut dash = [7u8; 32];
    dash[..4].copy_from_slice(&(63u32 * 85u32.pow(4)).to_be_bytes());
    let dash = zmq_auth::encode_z85_key(&dash);
    assert!(dash.starts_with('-'), "{dash}");
    tool(["revoke", &dash, "--dir", t]).expect(1);

    // Neither a file nor a key: exit 2, and the argument is not echoed.
    let out = tool(["revoke", "not-a-key-not-a-file", "--dir", t]).expect(2);
    assert!(!out.all().contains("not-a-key-not-a-file"), "{out:?}");
}

#[test]
fn trust_adds_the_key_suffix_and_refuses_a_taken_name() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    // A CZMQ-style public certificate named without .key.
    let czmq = Path::new(FIXTURES).join("czmq/carol");
    tool(["trust", p(&czmq), "--dir", p(&d.trusted)]).expect(0);
    let carol = load_certificate(d.trusted.join("carol.key")).unwrap();
    assert_eq!(carol.public_key(), FIXTURE_KEYS[2].1);
    // Another key under a name already in use.
    let other = d.keys.join("renamed");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(d.keys.join("spare.key"), other.join("alice.key")).unwrap();
    let out = tool(["trust", p(&other.join("alice.key")), "--dir", p(&d.trusted)]).expect(2);
    assert!(out.stderr.contains("alice.key"), "{out:?}");
    let alice = load_certificate(d.keys.join("alice.key")).unwrap();
    assert_eq!(
        load_certificate(d.trusted.join("alice.key"))
            .unwrap()
            .public_key(),
        alice.public_key()
    );
}

// ----------------------------------------------------------------------------- probe

/// A CURVE server guarded by `ThreadAuthenticator` trusting `trusted`, on its own
/// context; kept alive as long as the value.
struct CurveServer {
    _auth: ThreadAuthenticator,
    _sock: zmq::Socket,
    _ctx: zmq::Context,
    endpoint: String,
    public_key: String,
}

fn curve_server(trusted: &Path, server_secret: &Path) -> CurveServer {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", trusted).unwrap();
    let cert: Certificate = load_certificate(server_secret).unwrap();
    let (sock, endpoint) = bind_server(&ctx, zmq::ROUTER, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(cert.secret_key_bytes().unwrap())
            .unwrap();
    });
    CurveServer {
        _auth: auth,
        _sock: sock,
        _ctx: ctx,
        endpoint,
        public_key: cert.public_key().to_string(),
    }
}

#[test]
fn probe_reports_admitted_refused_wrong_server_key_and_no_answer() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let (_, server_secret) = create_certificates(&d.keys, "server", &[]).unwrap();
    let server = curve_server(&d.trusted, &server_secret);
    let ep = server.endpoint.as_str();
    let key = server.public_key.as_str();
    let alice = d.keys.join("alice.key_secret");
    let spare = d.keys.join("spare.key_secret");

    // Trusted client: admitted, exit 0.
    let out = tool(["probe", ep, "--server-key", key, "--cert", p(&alice)]).expect(0);
    assert!(out.stdout.starts_with("admitted"), "{out:?}");

    // Untrusted client: the server's 400, exit 1.
    let out = tool(["probe", ep, "--server-key", key, "--cert", p(&spare)]).expect(1);
    assert!(out.stdout.starts_with("refused"), "{out:?}");
    assert!(out.stdout.contains("answered 400"), "{out:?}");
    // Without --cert a throwaway key is refused the same way, with a hint.
    let out = tool(["probe", ep, "--server-key", key]).expect(1);
    assert!(out.stdout.contains("answered 400"), "{out:?}");
    assert!(out.stdout.contains("--cert"), "{out:?}");

    // Wrong server key: the server cannot read our HELLO and hangs up.
    let wrong = load_certificate(d.keys.join("bob.key")).unwrap();
    let out = tool([
        "probe",
        ep,
        &format!("--server-key={}", wrong.public_key()),
        "--cert",
        p(&alice),
    ])
    .expect(1);
    assert!(out.stdout.starts_with("handshake failed"), "{out:?}");
    assert!(out.stdout.contains("--server-key"), "{out:?}");

    for secret in [&alice, &spare] {
        let cert = load_certificate(secret).unwrap();
        assert!(!out.all().contains(cert.secret_key().unwrap()));
    }
}

#[test]
fn probe_with_nothing_listening_gives_up_within_the_timeout() {
    if !zmq_auth::curve_available() {
        return;
    }
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let key = zmq_auth::encode_z85_key(&[1; 32]);
    let start = Instant::now();
    let out = tool(["probe", &endpoint, "--server-key", &key, "--timeout", "0.5"]).expect(1);
    let took = start.elapsed();
    assert!(out.stdout.starts_with("no answer"), "{out:?}");
    assert!(out.stdout.contains("could not connect"), "{out:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn probe_plain_reads_the_password_from_stdin() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let password = "correct-horse-battery";
    auth.configure_plain("*", [("admin", password)]).unwrap();
    let (_sock, ep) = bind_server(&ctx, zmq::ROUTER, |s| s.set_plain_server(true).unwrap());

    let out = tool_with_stdin(
        ["probe", &ep, "--plain-user", "admin"],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    assert!(out.stdout.starts_with("admitted"), "{out:?}");
    assert!(!out.all().contains(password), "probe printed the password");

    let out = tool_with_stdin(
        ["probe", &ep, "--plain-user", "admin"],
        Some("wrong-password-here\n"),
    )
    .expect(1);
    assert!(out.stdout.contains("answered 400"), "{out:?}");
    assert!(!out.all().contains("wrong-password-here"));

    // An empty stdin is no password: a usage error, nothing sent.
    let out = tool(["probe", &ep, "--plain-user", "admin"]).expect(2);
    assert!(out.stderr.contains("empty password"), "{out:?}");

    // A CURVE client against this PLAIN server: libzmq reports a mechanism mismatch
    // or (when the server hangs up first) a closed connection; either way, not in.
    if zmq_auth::curve_available() {
        let key = zmq_auth::encode_z85_key(&[1; 32]);
        let out = tool(["probe", &ep, "--server-key", &key]).expect(1);
        assert!(out.stdout.starts_with("handshake failed"), "{out:?}");
    }
}

#[test]
fn probe_argument_errors_are_exit_2() {
    // CURVE needs a server key; a bad one is named but never echoed.
    tool(["probe", "tcp://127.0.0.1:1"]).expect(2);
    let out = tool(["probe", "tcp://127.0.0.1:1", "--server-key", "tooshortkey"]).expect(2);
    assert!(out.stderr.contains("--server-key"), "{out:?}");
    assert!(!out.stderr.contains("tooshortkey"), "{out:?}");
    let key = zmq_auth::encode_z85_key(&[1; 32]);
    let out = tool(["probe", "nonsense://x", "--server-key", &key]).expect(2);
    assert!(out.stderr.contains("nonsense://x"), "{out:?}");
    // A server key beginning with `-` is a value, not an option.
    let out = tool([
        "probe",
        "nonsense://x",
        "--server-key",
        &format!("-{}", &key[1..]),
    ])
    .expect(2);
    assert!(out.stderr.contains("nonsense://x"), "{out:?}");
    let out = tool([
        "probe",
        "tcp://127.0.0.1:1",
        "--server-key",
        &key,
        "--timeout=0",
    ])
    .expect(2);
    assert!(out.stderr.contains("--timeout"), "{out:?}");
    // --cert must hold a secret key.
    if zmq_auth::curve_available() {
        let pub_file = Path::new(FIXTURES).join("pyzmq/alice.key");
        let out = tool([
            "probe",
            "tcp://127.0.0.1:1",
            "--server-key",
            &key,
            "--cert",
            p(&pub_file),
        ])
        .expect(2);
        assert!(out.stderr.contains("alice.key"), "{out:?}");
    }
}

// ------------------------------------------------------------------------------ help

#[test]
fn every_command_has_help_with_exit_codes_and_an_example() {
    let top = tool(["--help"]).expect(0);
    assert!(top.stdout.contains("Exit status"), "{top:?}");
    for cmd in [
        "keygen",
        "public",
        "show",
        "check",
        "trust",
        "revoke",
        "probe",
        "key add",
        "key revoke",
        "key list",
        "user add",
        "user remove",
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let out = tool(&args).expect(0);
        assert!(out.stdout.contains("Exit status: 0"), "{cmd}: {out:?}");
        assert!(out.stdout.contains("Example:"), "{cmd}: {out:?}");
        assert!(
            out.stdout.contains(&format!("zmq-auth {cmd}")),
            "{cmd}: {out:?}"
        );
    }
    for group in ["key", "user"] {
        let out = tool([group, "--help"]).expect(0);
        assert!(out.stdout.contains("Exit status: 0"), "{group}: {out:?}");
        assert!(out.stdout.contains("Example:"), "{group}: {out:?}");
    }
}

// ------------------------------------------------------------------------ stores

/// A CURVE request to `auth` from `key` in `domain`: the status code.
fn curve_status(auth: &mut Authenticator, domain: &str, key: &[u8; 32]) -> u16 {
    let req: [&[u8]; 7] = [
        b"1.0",
        b"1",
        domain.as_bytes(),
        b"127.0.0.1",
        b"",
        b"CURVE",
        key,
    ];
    auth.handle_zap_message(&req).status_code()
}

/// A PLAIN request to `auth`: the status code and the user id.
fn plain_status(auth: &mut Authenticator, user: &str, password: &str) -> (u16, String) {
    let req: [&[u8]; 8] = [
        b"1.0",
        b"1",
        b"",
        b"127.0.0.1",
        b"",
        b"PLAIN",
        user.as_bytes(),
        password.as_bytes(),
    ];
    let reply = auth.handle_zap_message(&req);
    (reply.status_code(), reply.user_id().to_string())
}

/// Everything in `dir`'s files (the SQLite database and its WAL), as bytes.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_file() {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn key_add_list_revoke_in_an_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (alice_pub, alice_secret) =
        create_certificates(&keys, "alice", &[("name", "Alice"), ("team", "ops")]).unwrap();
    let (bob_pub, _) = create_certificates(&keys, "bob", &[]).unwrap();
    let alice = load_certificate(&alice_pub).unwrap();
    let bob = load_certificate(&bob_pub).unwrap();
    let db = dir.path().join("db").join("auth.db");
    std::fs::create_dir(db.parent().unwrap()).unwrap();
    let url = format!("sqlite:{}", p(&db));

    let out = tool(["key", "add", p(&alice_pub), "--store", &url]).expect(0);
    assert!(out.stdout.contains(alice.public_key()), "{out:?}");
    tool([
        "key",
        "add",
        p(&bob_pub),
        "--store",
        &url,
        "--domain",
        "global",
    ])
    .expect(0);
    // A secret certificate is refused (its public half is what a store trusts).
    let out = tool(["key", "add", p(&alice_secret), "--store", &url]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("alice.key_secret"), "{out:?}");
    let secret = load_certificate(&alice_secret).unwrap();
    assert!(!out.all().contains(secret.secret_key().unwrap()));

    // The library sees the keys, with the certificate's metadata.
    let store = SqliteStore::open(&db).unwrap();
    let stored = store.keys(Some("*")).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].public_key, alice.public_key());
    let mut meta = stored[0].metadata.clone();
    meta.sort();
    assert_eq!(
        meta,
        [
            ("name".to_string(), "Alice".to_string()),
            ("team".to_string(), "ops".to_string())
        ]
    );
    let stored = store.keys(Some("global")).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].public_key, bob.public_key());

    if zmq_auth::curve_available() {
        let mut auth = Authenticator::new();
        auth.configure_curve_store("*", store.clone()).unwrap();
        assert_eq!(curve_status(&mut auth, "", alice.public_key_bytes()), 200);
        assert_eq!(curve_status(&mut auth, "", bob.public_key_bytes()), 400);
        assert_eq!(
            curve_status(&mut auth, "global", bob.public_key_bytes()),
            200
        );
    }

    // list: text, then JSON; with --domain only that domain.
    let out = tool(["key", "list", "--store", &url]).expect(0);
    assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(alice.public_key()))
        .unwrap();
    assert!(line.starts_with("* "), "{line}");
    assert!(line.contains("name=\"Alice\""), "{line}");
    assert!(line.contains("expires never"), "{line}");
    let out = tool(["key", "list", "--store", &url, "--domain", "global"]).expect(0);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stdout.contains(bob.public_key()), "{out:?}");
    let out = tool(["key", "list", "--store", &url, "--json"]).expect(0);
    let text = out.stdout.trim();
    assert!(text.starts_with('[') && text.ends_with(']'), "{out:?}");
    assert!(
        text.contains(&format!(
            "\"domain\":\"*\",\"public_key\":\"{}\",\"metadata\":{{\"name\":\"Alice\",\"team\":\"ops\"}}",
            alice.public_key()
        )),
        "{out:?}"
    );
    assert!(text.contains("\"expires\":null"), "{out:?}");
    assert!(
        text.contains(&format!(
            "\"domain\":\"global\",\"public_key\":\"{}\",\"metadata\":{{}}",
            bob.public_key()
        )),
        "{out:?}"
    );

    // revoke: by file, then by key in its domain; a second time finds nothing (exit 1).
    let out = tool(["key", "revoke", p(&alice_pub), "--store", &url]).expect(0);
    assert!(out.stdout.starts_with("revoked"), "{out:?}");
    tool(["key", "revoke", p(&alice_pub), "--store", &url]).expect(1);
    // Bob is in "global", not "*".
    tool(["key", "revoke", bob.public_key(), "--store", &url]).expect(1);
    tool([
        "key",
        "revoke",
        bob.public_key(),
        "--store",
        &url,
        "--domain",
        "global",
    ])
    .expect(0);
    assert!(store.keys(None).unwrap().is_empty());
    let out = tool(["key", "list", "--store", &url, "--json"]).expect(0);
    assert_eq!(out.stdout.split_whitespace().collect::<String>(), "[]");

    // Errors: one line naming the argument; a missing store is not created by list.
    let missing = dir.path().join("missing.db");
    let out = tool(["key", "list", "--store", &format!("sqlite:{}", p(&missing))]).expect(2);
    assert!(out.stderr.contains("--store"), "{out:?}");
    assert!(!missing.exists());
    let out = tool(["key", "list", "--store", "mysql://u:hunter2@h/db"]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("--store"), "{out:?}");
    assert!(!out.stderr.contains("hunter2"), "{out:?}");
    let out = tool(["key", "revoke", "tooshort", "--store", &url]).expect(2);
    assert!(out.stderr.contains("KEY_OR_FILE"), "{out:?}");
}

#[test]
fn user_add_and_remove_in_an_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let url = format!("sqlite:{}", p(&db));
    let password = "Store-pw-cli-91f3e";

    let out = tool_with_stdin(
        ["user", "add", "admin", "--store", &url],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    assert!(!out.all().contains(password), "printed the password");
    tool_with_stdin(
        ["user", "add", "ops", "--store", &url, "--domain", "other"],
        Some("Other-pw-cli-2b7a\n"),
    )
    .expect(0);
    // No password on stdin: a usage error, nothing stored.
    let out = tool(["user", "add", "nobody", "--store", &url]).expect(2);
    assert!(out.stderr.contains("empty password"), "{out:?}");

    let store = SqliteStore::open(&db).unwrap();
    let mut auth = Authenticator::new();
    auth.configure_plain_store("*", store.clone()).unwrap();
    assert_eq!(
        plain_status(&mut auth, "admin", password),
        (200, "admin".to_string())
    );
    assert_eq!(plain_status(&mut auth, "admin", "wrong-password").0, 400);
    assert_eq!(plain_status(&mut auth, "nobody", "x").0, 400);
    // Only hashes reach the file.
    let bytes = all_bytes(dir.path());
    assert!(
        !contains(&bytes, password),
        "the database holds the password"
    );
    assert!(contains(&bytes, "$argon2id$"), "no hash in the database");

    // remove: wrong domain finds nothing (1); right one removes (0); again (1).
    tool(["user", "remove", "ops", "--store", &url]).expect(1);
    tool([
        "user", "remove", "ops", "--store", &url, "--domain", "other",
    ])
    .expect(0);
    let out = tool(["user", "remove", "admin", "--store", &url]).expect(0);
    assert!(out.stdout.contains("removed"), "{out:?}");
    tool(["user", "remove", "admin", "--store", &url]).expect(1);
    // Another process's change reaches this store's cache through its watch (~100 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    while plain_status(&mut auth, "admin", password).0 != 400 {
        assert!(Instant::now() < deadline, "the removal was never seen");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Exactly one of --store and --file; a password never comes from an argument.
    let f = dir.path().join("pw");
    for args in [
        vec!["user", "add", "x"],
        vec!["user", "add", "x", "--store", &url, "--file", p(&f)],
    ] {
        let out = tool_with_stdin(&args, Some("Pw-never-used-1\n")).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains("--store"), "{args:?}: {out:?}");
    }
    tool(["user", "add", "x", "--store", &url, "--password", "p"]).expect(2);
}

#[test]
fn user_add_and_remove_in_a_password_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    let original = "# PLAIN users\n\nguest = guest-pw-1\r\n# admin=not-this-one\nadmin=old-plain-pw\nops=ops-pw\n";
    std::fs::write(&file, original).unwrap();
    set_mode(&file, 0o640);
    let password = "File-pw-cli-5d1c0";

    let out = tool_with_stdin(
        ["user", "add", "admin", "--file", p(&file)],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    assert!(!out.all().contains(password), "printed the password");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(password), "plaintext in the file: {text}");
    assert!(!text.contains("old-plain-pw"), "old line kept: {text}");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], "# PLAIN users\n");
    assert_eq!(lines[1], "\n");
    assert_eq!(lines[2], "guest = guest-pw-1\r\n");
    assert_eq!(lines[3], "# admin=not-this-one\n");
    assert!(lines[4].starts_with("admin=$argon2id$"), "{text}");
    assert_eq!(lines[5], "ops=ops-pw\n");
    assert_eq!(mode(&file), 0o640, "mode kept");
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A new user is appended; the library admits both with their passwords.
    tool_with_stdin(
        ["user", "add", "carol", "--file", p(&file)],
        Some("Carol-pw-cli-77\n"),
    )
    .expect(0);
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &file).unwrap();
    assert_eq!(
        plain_status(&mut auth, "admin", password),
        (200, "admin".to_string())
    );
    assert_eq!(plain_status(&mut auth, "admin", "old-plain-pw").0, 400);
    assert_eq!(plain_status(&mut auth, "carol", "Carol-pw-cli-77").0, 200);
    assert_eq!(plain_status(&mut auth, "guest", "guest-pw-1").0, 200);
    assert_eq!(plain_status(&mut auth, "ops", "ops-pw").0, 200);

    // remove deletes the line only; a second time finds nothing (1, file untouched).
    tool(["user", "remove", "carol", "--file", p(&file)]).expect(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("carol"), "{text}");
    assert!(text.starts_with(
        "# PLAIN users\n\nguest = guest-pw-1\r\n# admin=not-this-one\nadmin=$argon2id$"
    ));
    assert!(text.ends_with("\nops=ops-pw\n"), "{text}");
    tool(["user", "remove", "carol", "--file", p(&file)]).expect(1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // A missing file is created with mode 0600.
    let fresh = dir.path().join("fresh");
    tool_with_stdin(
        ["user", "add", "dave", "--file", p(&fresh)],
        Some("Dave-pw-cli-31\n"),
    )
    .expect(0);
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &fresh).unwrap();
    assert_eq!(plain_status(&mut auth, "dave", "Dave-pw-cli-31").0, 200);

    // Errors, one line each: --domain with --file, a name the file cannot hold, a
    // missing file to remove from.
    let before = std::fs::read_to_string(&file).unwrap();
    for (args, names) in [
        (
            vec!["user", "add", "x", "--file", p(&file), "--domain", "d"],
            "--domain",
        ),
        (vec!["user", "add", "a=b", "--file", p(&file)], "NAME"),
        (vec!["user", "add", "#x", "--file", p(&file)], "NAME"),
        (
            vec!["user", "remove", "x", "--file", "/nonexistent/pw"],
            "/nonexistent/pw",
        ),
    ] {
        let out = tool_with_stdin(&args, Some("Pw-never-used-2\n")).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains(names), "{args:?}: {out:?}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn store_commands_against_postgresql() {
    let Some(pg) = pg::Pg::start_or_skip() else {
        return;
    };
    let conninfo = pg.conninfo();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, _) = create_certificates(dir.path(), "alice", &[("name", "Alice")]).unwrap();
    let alice = load_certificate(&alice_pub).unwrap();

    // key add through a URL, list and revoke through a conninfo string.
    tool(["key", "add", p(&alice_pub), "--store", &url]).expect(0);
    let store = PostgresStore::connect(&conninfo).unwrap();
    let stored = store.keys(None).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].public_key, alice.public_key());
    assert_eq!(
        stored[0].metadata,
        [("name".to_string(), "Alice".to_string())]
    );
    let out = tool(["key", "list", "--store", &conninfo]).expect(0);
    assert!(out.stdout.contains(alice.public_key()), "{out:?}");
    assert!(out.stdout.contains("name=\"Alice\""), "{out:?}");
    let out = tool(["key", "list", "--store", &conninfo, "--json"]).expect(0);
    assert!(
        out.stdout.contains("\"metadata\":{\"name\":\"Alice\"}"),
        "{out:?}"
    );
    tool(["key", "revoke", alice.public_key(), "--store", &conninfo]).expect(0);
    tool(["key", "revoke", alice.public_key(), "--store", &conninfo]).expect(1);
    assert!(store.keys(None).unwrap().is_empty());

    // user add: the library admits the user; the database holds only a hash.
    let password = "Pg-pw-cli-4e2a9";
    let pg_url = url.replacen("postgres://", "postgresql://", 1);
    tool_with_stdin(
        ["user", "add", "admin", "--store", &pg_url],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    let mut auth = Authenticator::new();
    auth.configure_plain_store("*", store.clone()).unwrap();
    assert_eq!(
        plain_status(&mut auth, "admin", password),
        (200, "admin".to_string())
    );
    let dump = pg.tool("pg_dump", &["-d", "postgres", "--data-only"]);
    assert!(dump.status.success());
    assert!(
        !contains(&dump.stdout, password),
        "pg_dump shows the password"
    );
    tool(["user", "remove", "admin", "--store", &conninfo]).expect(0);
    tool(["user", "remove", "admin", "--store", &conninfo]).expect(1);

    // A server that does not answer: exit 2, one line, no password from the URL.
    let dead = format!("postgres://postgres:Hidden-pw-9@127.0.0.1:{}/postgres", {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    let out = tool(["key", "list", "--store", &dead]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(!out.stderr.contains("Hidden-pw-9"), "{out:?}");
}
