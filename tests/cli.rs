//! The `zmq-auth` command-line tool, run as a user runs it: the built binary in a child
//! process, its exit status and output checked, its files read back by the library and
//! by pyzmq (`tests/interop/certs.py`, skipped with a reason when the pinned pyzmq
//! virtualenv is missing, a failure under `CI=true`), and `probe` against real CURVE
//! and PLAIN servers guarded by `ThreadAuthenticator` in this process.
//!
//! One module per area in `tests/cli/` (`keys`, `trustdir`, `probe`, `stores`,
//! `passfile`, `races`); the helpers that run the tool are here.
//!
//! Every wait is bounded: children run under a deadline and are killed past it.
#![cfg(feature = "cli")]

#[path = "cli/keys.rs"]
mod keys;
#[path = "cli/passfile.rs"]
mod passfile;
#[path = "cli/probe.rs"]
mod probe;
#[path = "cli/races.rs"]
mod races;
#[path = "cli/stores.rs"]
mod stores;
#[path = "cli/trustdir.rs"]
mod trustdir;

#[cfg(feature = "postgres")]
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
#[cfg(feature = "postgres")]
use zmq_auth::store::PostgresStore;
use zmq_auth::store::SqliteStore;
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

/// A run of the tool still going: its stdin (piped) is written by [`Running::finish`],
/// so a test can hold the tool at its password prompt.
struct Running {
    child: std::process::Child,
    what: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
    start: Instant,
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on it.
fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

/// Starts `zmq-auth ARGS`; its stdin is a pipe when `piped`, else empty.
fn spawn<I, S>(args: I, piped: bool) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(if piped { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    Running {
        child,
        what,
        stdout,
        stderr,
        start: Instant::now(),
    }
}

impl Running {
    /// The child's process id.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Has the child exited yet?
    fn child_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Writes `stdin` (if any) and closes it, then waits for the exit, within
    /// [`DEADLINE`] of the start.
    fn finish(mut self, stdin: Option<&str>) -> Out {
        if let Some(mut pipe) = self.child.stdin.take() {
            // A tool that refuses before reading its input closes the pipe: not an error
            // of the test (the exit code and message are checked).
            if let Err(e) = pipe.write_all(stdin.unwrap_or_default().as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
            }
        }
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if self.start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} still running after {DEADLINE:?}; killed", self.what);
            }
            // A polling interval for the child's exit, not a correctness mechanism.
            std::thread::sleep(Duration::from_millis(5));
        };
        Out {
            code: status.code().expect("exited, not killed by a signal"),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

/// Runs `zmq-auth ARGS` with `stdin` (none: an empty stdin), within [`DEADLINE`].
fn tool_with_stdin<I, S>(args: I, stdin: Option<&str>) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn(args, stdin.is_some()).finish(stdin)
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
