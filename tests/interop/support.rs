//! Shared by `tests/interop_pyzmq.rs` and `tests/interop_czmq.rs`: skip-or-fail policy,
//! child processes with deadlines (always killed and reaped), and the tab-separated
//! output the helper programs print.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zmq_auth::{zmq, AuthEvent};

/// How long a step that must succeed may take (normally milliseconds).
pub const STEP: Duration = Duration::from_secs(5);
/// How long to watch for a message that must not arrive.
pub const QUIET: Duration = Duration::from_millis(500);
/// How long a helper process may run before it is killed and the test fails.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(30);

/// `CI=true`: a missing peer is a failure, not a skip.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Outside CI prints why the test is skipped; under `CI=true` panics with it.
pub fn skip(test: &str, why: &str) {
    if ci() {
        panic!("CI=true and {test} cannot run: {why}");
    }
    eprintln!("skipping {test}: {why}");
}

/// A running child process. Dropping it kills and reaps the process, so a failing
/// assertion never leaves a process (or a zombie) behind.
pub struct Proc {
    what: String,
    child: Option<Child>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished child left.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Panics (with both streams) unless the process exited 0.
    pub fn ok(self, what: &str) -> Finished {
        assert!(
            self.status.success(),
            "{what} failed ({}):\n--- stdout\n{}--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

impl Proc {
    /// Starts `cmd` with stdout and stderr captured (read on their own threads, so a
    /// chatty child cannot block on a full pipe) and no stdin.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Proc {
            what,
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// Waits for the child to exit, at most `deadline`; on timeout kills it and panics
    /// with what it printed.
    pub fn wait(mut self, deadline: Duration) -> Finished {
        let mut child = self.child.take().expect("waited twice");
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if start.elapsed() >= deadline => break None,
                // A polling interval for the child's exit, not a correctness mechanism.
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
        };
        let timed_out = status.is_none();
        let status = status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("reaping a killed child")
        });
        let stdout = self.stdout.take().map(join).unwrap_or_default();
        let stderr = self.stderr.take().map(join).unwrap_or_default();
        assert!(
            !timed_out,
            "{} still running after {deadline:?}; killed.\n--- stdout\n{stdout}--- stderr\n{stderr}",
            self.what
        );
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

fn join(h: JoinHandle<String>) -> String {
    h.join().unwrap_or_default()
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `cmd` to completion within [`CHILD_DEADLINE`].
pub fn run(cmd: &mut Command) -> Finished {
    Proc::spawn(cmd).wait(CHILD_DEADLINE)
}

/// The helper programs' output: `tag<TAB>field<TAB>field…` lines.
pub fn lines<'a>(out: &'a str, tag: &str) -> Vec<Vec<&'a str>> {
    out.lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            (fields.next() == Some(tag)).then(|| fields.collect())
        })
        .collect()
}

/// The single value of a `tag<TAB>value` line; panics when absent or repeated.
pub fn field<'a>(out: &'a str, tag: &str) -> &'a str {
    let found = lines(out, tag);
    assert_eq!(found.len(), 1, "expected one `{tag}` line in:\n{out}");
    found[0].first().copied().unwrap_or("")
}

/// `meta<TAB>name<TAB>value` lines as a map.
pub fn metadata(out: &str) -> BTreeMap<String, String> {
    lines(out, "meta")
        .into_iter()
        .map(|f| {
            assert_eq!(f.len(), 2, "bad meta line in:\n{out}");
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

/// A certificate's metadata as a map (order is not part of the contract).
pub fn cert_metadata(cert: &zmq_auth::Certificate) -> BTreeMap<String, String> {
    cert.metadata()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Receives one message within `timeout`.
pub fn recv_within(sock: &zmq::Socket, timeout: Duration) -> Option<zmq::Message> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match sock.poll(zmq::POLLIN, left.as_millis() as i64) {
            Ok(n) if n > 0 => match sock.recv_msg(zmq::DONTWAIT) {
                Ok(msg) => return Some(msg),
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {}
                Err(e) => panic!("recv failed: {e}"),
            },
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => panic!("poll failed: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// The next decision event, within [`STEP`].
pub fn next_event(events: &crossbeam_channel::Receiver<AuthEvent>, what: &str) -> AuthEvent {
    events
        .recv_timeout(STEP)
        .unwrap_or_else(|_| panic!("no ZAP decision event for {what} within {STEP:?}"))
}

/// A server socket of `kind` bound to `tcp://127.0.0.1:*`, configured by `setup`, and
/// the endpoint it got.
pub fn bind_server(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    setup: impl FnOnce(&zmq::Socket),
) -> (zmq::Socket, String) {
    let sock = ctx.socket(kind).unwrap();
    sock.set_linger(0).unwrap();
    setup(&sock);
    sock.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = sock
        .get_last_endpoint()
        .unwrap()
        .expect("endpoint is UTF-8");
    (sock, endpoint)
}

/// The text of a file, for assertion messages.
pub fn show(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => format!("--- {}\n{t}", path.display()),
        Err(e) => format!("--- {}: {e}", path.display()),
    }
}
