//! Interoperability with pyzmq (from PyPI, in the virtualenv that
//! `scripts/setup-pyzmq-venv.sh` creates; the pinned version bundles libzmq 4.3.5):
//! certificate files in both directions, and pyzmq clients in a separate process
//! authenticating against a Rust server guarded by `ThreadAuthenticator`.
//!
//! The Python is `ZMQ_AUTH_PYTHON` when set, else `<repo>/.venv/bin/python`. When it is
//! missing (or cannot import zmq) the tests are skipped with a message, unless
//! `CI=true`, where that is a failure. The Python side lives in `tests/interop/`.

#[path = "interop/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{bind_server, cert_metadata, field, lines, next_event, recv_within, run};
use support::{Finished, Proc, CHILD_DEADLINE, QUIET, STEP};
use zmq_auth::{
    create_certificates, load_certificate, load_certificates, zmq, AuthEvent, Mechanism,
    StatusCode, ThreadAuthenticator,
};

const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
/// The environment variable the PLAIN password travels in (not on the command line).
const PASSWORD_ENV: &str = "ZMQ_AUTH_TEST_PASSWORD";

/// The virtualenv's Python, checked to import zmq with CURVE.
struct Py {
    python: PathBuf,
}

/// A certificate as pyzmq's `load_certificate` read it (an empty secret for none).
#[derive(Debug)]
struct PyCert {
    public: String,
    secret: String,
}

impl Py {
    fn find(test: &str) -> Option<Py> {
        let (python, origin) = match std::env::var_os("ZMQ_AUTH_PYTHON") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), "ZMQ_AUTH_PYTHON"),
            _ => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
                "the default location",
            ),
        };
        if !python.exists() {
            support::skip(
                test,
                &format!(
                    "no Python at {} ({origin}). Create the virtualenv with \
                     `bash scripts/setup-pyzmq-venv.sh` (`make test` does), or set ZMQ_AUTH_PYTHON \
                     to a Python that has pyzmq",
                    python.display()
                ),
            );
            return None;
        }
        let py = Py { python };
        let out = run(py.script("certs.py").arg("version"));
        if !out.status.success() {
            support::skip(
                test,
                &format!(
                    "{} cannot run pyzmq (re-run `bash scripts/setup-pyzmq-venv.sh`):\n{}",
                    py.python.display(),
                    out.stderr
                ),
            );
            return None;
        }
        assert_eq!(
            field(&out.stdout, "curve"),
            "True",
            "pyzmq's bundled libzmq has no CURVE: {out:?}"
        );
        eprintln!(
            "{test}: pyzmq {} with libzmq {}; zmq-auth links libzmq {:?}",
            field(&out.stdout, "pyzmq"),
            field(&out.stdout, "libzmq"),
            zmq::version()
        );
        Some(py)
    }

    fn script(&self, name: &str) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(Path::new(INTEROP).join(name))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove(PASSWORD_ENV);
        cmd
    }

    /// `zmq.auth.create_certificates(dir, name, metadata)`; the keys as pyzmq reads them.
    fn create(&self, dir: &Path, name: &str, meta: &[(&str, &str)]) -> PyCert {
        let mut cmd = self.script("certs.py");
        cmd.arg("create").arg(dir).arg(name);
        for (k, v) in meta {
            cmd.arg(format!("{k}={v}"));
        }
        let out = run(&mut cmd).ok("pyzmq create_certificates");
        assert_eq!(
            Path::new(field(&out.stdout, "public_file")),
            dir.join(format!("{name}.key"))
        );
        assert_eq!(
            Path::new(field(&out.stdout, "secret_file")),
            dir.join(format!("{name}.key_secret"))
        );
        PyCert {
            public: field(&out.stdout, "public").into(),
            secret: field(&out.stdout, "secret").into(),
        }
    }

    /// `zmq.auth.load_certificate(path)`.
    fn load(&self, path: &Path) -> PyCert {
        let out = run(self.script("certs.py").arg("load").arg(path)).ok("pyzmq load_certificate");
        PyCert {
            public: field(&out.stdout, "public").into(),
            secret: field(&out.stdout, "secret").into(),
        }
    }

    /// `zmq.auth.load_certificates(dir)`, sorted.
    fn load_dir(&self, dir: &Path) -> Vec<String> {
        let out =
            run(self.script("certs.py").arg("load_dir").arg(dir)).ok("pyzmq load_certificates");
        lines(&out.stdout, "key")
            .into_iter()
            .map(|f| f[0].to_string())
            .collect()
    }

    /// `zmq.curve_public(secret)`.
    fn curve_public(&self, secret: &str) -> String {
        let out =
            run(self.script("certs.py").arg("curve_public").arg(secret)).ok("pyzmq curve_public");
        field(&out.stdout, "public").into()
    }

    /// Starts `client.py ENDPOINT MESSAGE MECHANISM ARGS…`.
    fn client(&self, endpoint: &str, message: &str, mechanism: &str, args: &[&str]) -> Client {
        let mut cmd = self.script("client.py");
        cmd.args([endpoint, message, mechanism]).args(args);
        Client {
            proc: Proc::spawn(&mut cmd),
        }
    }

    fn plain_client(&self, endpoint: &str, message: &str, user: &str, password: &str) -> Client {
        let mut cmd = self.script("client.py");
        cmd.args([endpoint, message, "plain", "--username", user])
            .args(["--password-env", PASSWORD_ENV])
            .env(PASSWORD_ENV, password);
        Client {
            proc: Proc::spawn(&mut cmd),
        }
    }
}

/// A running `client.py`; killed and reaped if the test fails first.
struct Client {
    proc: Proc,
}

impl Client {
    /// Waits for the client to finish and returns what its socket monitor saw:
    /// `(event name, value)`.
    fn outcome(self) -> (String, u32, Finished) {
        let out = self.proc.wait(CHILD_DEADLINE).ok("pyzmq client");
        let ev = lines(&out.stdout, "event");
        assert_eq!(ev.len(), 1, "client printed no outcome: {out:?}");
        let name = ev[0][0].to_string();
        let value = ev[0][1].parse().expect("numeric event value");
        (name, value, out)
    }
}

/// Asserts that the only decision for a client is a refusal for `reason`, that nothing
/// arrives, and that the pyzmq client saw the 400.
fn assert_refused(
    auth: &ThreadAuthenticator,
    server: &zmq::Socket,
    client: Client,
    mechanism: Mechanism,
    reason: &str,
    identity: &str,
) {
    let events = auth.events();
    let Ok(ev) = events.recv_timeout(STEP) else {
        let out = client.proc.wait(CHILD_DEADLINE);
        panic!("no ZAP decision within {STEP:?} for a client to refuse ({reason}); the client: {out:?}");
    };
    assert_eq!(
        ev,
        AuthEvent {
            domain: String::new(),
            address: "127.0.0.1".into(),
            mechanism,
            status: StatusCode::AuthenticationFailure,
            user_id: String::new(),
            reason: reason.into(),
            identity: identity.into(),
        }
    );
    assert!(
        recv_within(server, QUIET).is_none(),
        "a message from a refused pyzmq client arrived"
    );
    let (name, value, out) = client.outcome();
    assert_eq!(
        (name.as_str(), value),
        ("HANDSHAKE_FAILED_AUTH", 400),
        "the pyzmq client's view: {out:?}"
    );
    // The client does not reconnect: exactly one ZAP request, already answered.
    assert_eq!(events.try_iter().collect::<Vec<_>>(), vec![]);
}

/// Asserts that the message arrives with `user_id`, that the decision was a 200 for
/// it, and that the pyzmq client saw its handshake succeed.
fn assert_accepted(
    auth: &ThreadAuthenticator,
    server: &zmq::Socket,
    client: Client,
    message: &str,
    mechanism: Mechanism,
    user_id: &str,
) {
    let msg = recv_within(server, STEP);
    let Some(mut msg) = msg else {
        let (name, value, out) = client.outcome();
        panic!("no message from the pyzmq client; it saw {name} {value}: {out:?}");
    };
    assert_eq!(msg.as_str(), Some(message));
    assert_eq!(msg.gets("User-Id"), Some(user_id));
    let events = auth.events();
    assert_eq!(
        next_event(&events, "an accepted client"),
        AuthEvent {
            domain: String::new(),
            address: "127.0.0.1".into(),
            mechanism,
            status: StatusCode::Success,
            user_id: user_id.into(),
            reason: "OK".into(),
            // The PLAIN username, or the CURVE key (the default user id is its Z85).
            identity: user_id.into(),
        }
    );
    let (name, value, out) = client.outcome();
    assert_eq!(
        (name.as_str(), value),
        ("HANDSHAKE_SUCCEEDED", 0),
        "{out:?}"
    );
    assert_eq!(lines(&out.stdout, "flushed").len(), 1, "{out:?}");
    assert_eq!(events.try_iter().collect::<Vec<_>>(), vec![]);
}

fn meta_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Files from pyzmq's `create_certificates` (metadata unquoted, and only in the secret
/// file) load here with the keys pyzmq itself reads, and `load_certificates` agrees.
#[test]
fn pyzmq_certificates_load_here() {
    let Some(py) = Py::find("pyzmq_certificates_load_here") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let meta = [("email", "alice@example.org"), ("name", "Alice Liddell")];
    let alice = py.create(dir.path(), "alice", &meta);
    let bob = py.create(dir.path(), "bob", &[]);

    let public = load_certificate(dir.path().join("alice.key")).unwrap();
    assert_eq!(public.public_key(), alice.public);
    assert_eq!(public.secret_key(), None);
    assert_eq!(
        public.metadata(),
        &[],
        "pyzmq writes no metadata in the public file"
    );
    let secret = load_certificate(dir.path().join("alice.key_secret")).unwrap();
    assert_eq!(secret.public_key(), alice.public);
    assert_eq!(secret.secret_key(), Some(alice.secret.as_str()));
    assert_eq!(cert_metadata(&secret), meta_map(&meta));

    let bob_secret = load_certificate(dir.path().join("bob.key_secret")).unwrap();
    assert_eq!(bob_secret.public_key(), bob.public);
    assert_eq!(bob_secret.secret_key(), Some(bob.secret.as_str()));

    let mut ours: Vec<String> = load_certificates(dir.path()).unwrap().into_keys().collect();
    ours.sort();
    let mut expected = vec![alice.public.clone(), bob.public.clone()];
    expected.sort();
    assert_eq!(ours, expected);
    assert_eq!(py.load_dir(dir.path()), expected);
}

/// Files from our `create_certificates` (with metadata) load in pyzmq's
/// `load_certificate` / `load_certificates` with the same keys, and
/// `zmq.curve_public(secret)` gives our public key.
#[test]
fn our_certificates_load_in_pyzmq() {
    let Some(py) = Py::find("our_certificates_load_in_pyzmq") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let meta = [
        ("name", "Dave Dee"),
        ("email", "dave@example.org"),
        ("note", "a # b = c"),
        ("city", "Zoë"),
    ];
    let (public_path, secret_path) = create_certificates(dir.path(), "dave", &meta).unwrap();
    let (erin_path, _) = create_certificates(dir.path(), "erin", &[]).unwrap();
    let ours = load_certificate(&secret_path).unwrap();
    let erin = load_certificate(&erin_path).unwrap();

    let theirs = py.load(&public_path);
    assert_eq!(
        theirs.public,
        ours.public_key(),
        "{}",
        support::show(&public_path)
    );
    assert_eq!(theirs.secret, "", "{}", support::show(&public_path));
    let theirs = py.load(&secret_path);
    assert_eq!(theirs.public, ours.public_key());
    assert_eq!(Some(theirs.secret.as_str()), ours.secret_key());
    assert_eq!(py.curve_public(&theirs.secret), ours.public_key());

    let mut expected = vec![ours.public_key().to_string(), erin.public_key().to_string()];
    expected.sort();
    assert_eq!(py.load_dir(dir.path()), expected);
}

/// pyzmq's `load_certificate` takes any line that *starts with* `public-key` or
/// `secret-key` for a key, metadata included. A metadata name like `secret-key-id`
/// must therefore either be refused by `create_certificates` or not change what pyzmq
/// loads.
#[test]
fn key_like_metadata_names_do_not_mislead_pyzmq() {
    let Some(py) = Py::find("key_like_metadata_names_do_not_mislead_pyzmq") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["secret-key-id", "public-key-origin", "secret-keyring"]
        .into_iter()
        .enumerate()
    {
        let cert = format!("c{i}");
        let (public_path, secret_path) =
            match create_certificates(dir.path(), &cert, &[(name, "label")]) {
                Err(zmq_auth::Error::InvalidMetadata { .. }) => continue,
                Err(e) => panic!("metadata `{name}`: unexpected error {e}"),
                Ok(paths) => paths,
            };
        let ours = load_certificate(&secret_path).unwrap();
        let from_public = py.load(&public_path);
        let from_secret = py.load(&secret_path);
        assert_eq!(
            (
                from_public.public.as_str(),
                from_public.secret.as_str(),
                from_secret.public.as_str(),
                from_secret.secret.as_str()
            ),
            (
                ours.public_key(),
                "",
                ours.public_key(),
                ours.secret_key().unwrap()
            ),
            "with metadata `{name}`, pyzmq loads other keys than ours from\n{}\n{}",
            support::show(&public_path),
            support::show(&secret_path)
        );
    }
}

fn plain_server(ctx: &zmq::Context) -> (zmq::Socket, String) {
    bind_server(ctx, zmq::PULL, |s| s.set_plain_server(true).unwrap())
}

/// PLAIN, right password: the pyzmq client's message arrives with User-Id = username.
#[test]
fn pyzmq_plain_client_accepted() {
    let Some(py) = Py::find("pyzmq_plain_client_accepted") else {
        return;
    };
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    // Record decisions from the start (the event stream is opt-in).
    let _ = auth.events();
    auth.configure_plain("*", [("admin", "s3cret"), ("guest", "guest-pw")])
        .unwrap();
    let (server, endpoint) = plain_server(&ctx);

    let client = py.plain_client(&endpoint, "hello from pyzmq", "admin", "s3cret");
    assert_accepted(
        &auth,
        &server,
        client,
        "hello from pyzmq",
        Mechanism::Plain,
        "admin",
    );
}

/// PLAIN, wrong password: refused with `Invalid password`; nothing arrives.
#[test]
fn pyzmq_plain_client_wrong_password_refused() {
    let Some(py) = Py::find("pyzmq_plain_client_wrong_password_refused") else {
        return;
    };
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    // Record decisions from the start (the event stream is opt-in).
    let _ = auth.events();
    auth.configure_plain("*", [("admin", "s3cret")]).unwrap();
    let (server, endpoint) = plain_server(&ctx);

    let client = py.plain_client(&endpoint, "let me in", "admin", "guess");
    assert_refused(
        &auth,
        &server,
        client,
        Mechanism::Plain,
        "Invalid password",
        "admin",
    );
}

/// PLAIN, unknown user: refused with `Invalid username`. (libzmq will not send an
/// empty PLAIN password: `zmq_setsockopt` refuses it with EINVAL.)
#[test]
fn pyzmq_plain_client_unknown_user_refused() {
    let Some(py) = Py::find("pyzmq_plain_client_unknown_user_refused") else {
        return;
    };
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    // Record decisions from the start (the event stream is opt-in).
    let _ = auth.events();
    auth.configure_plain("*", [("admin", "s3cret")]).unwrap();
    let (server, endpoint) = plain_server(&ctx);

    let client = py.plain_client(&endpoint, "let me in", "mallory", "guess");
    assert_refused(
        &auth,
        &server,
        client,
        Mechanism::Plain,
        "Invalid username",
        "mallory",
    );
}

/// A CURVE server whose certificate we wrote, guarding with a directory of
/// certificates that pyzmq wrote.
struct CurveSetup {
    _dir: tempfile::TempDir,
    server_public: PathBuf,
    authorized: PathBuf,
    outsiders: PathBuf,
    server: zmq::Socket,
    endpoint: String,
    auth: ThreadAuthenticator,
    _ctx: zmq::Context,
}

fn curve_setup() -> CurveSetup {
    let dir = tempfile::tempdir().unwrap();
    let sub = |name: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir(&p).unwrap();
        p
    };
    let (server_dir, authorized, outsiders) = (sub("server"), sub("authorized"), sub("outsiders"));
    let (server_public, server_secret) =
        create_certificates(&server_dir, "server", &[("role", "server")]).unwrap();
    let server_cert = load_certificate(server_secret).unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    // Record decisions from the start (the event stream is opt-in).
    let _ = auth.events();
    let (server, endpoint) = bind_server(&ctx, zmq::PULL, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(server_cert.secret_key_bytes().unwrap())
            .unwrap();
    });
    CurveSetup {
        _dir: dir,
        server_public,
        authorized,
        outsiders,
        server,
        endpoint,
        auth,
        _ctx: ctx,
    }
}

impl CurveSetup {
    fn client(&self, py: &Py, message: &str, client_secret: &Path) -> Client {
        let server_cert = self.server_public.to_str().unwrap();
        let client_cert = client_secret.to_str().unwrap();
        py.client(
            &self.endpoint,
            message,
            "curve",
            &["--server-cert", server_cert, "--client-cert", client_cert],
        )
    }
}

/// CURVE, client certificate listed: pyzmq reads our server certificate, we read its
/// client certificate from the configured directory; User-Id is its Z85 public key.
#[test]
fn pyzmq_curve_client_accepted() {
    let Some(py) = Py::find("pyzmq_curve_client_accepted") else {
        return;
    };
    let s = curve_setup();
    let alice = py.create(&s.authorized, "alice", &[("name", "Alice")]);
    py.create(&s.authorized, "bob", &[]);
    s.auth.configure_curve("*", &s.authorized).unwrap();

    let client = s.client(
        &py,
        "hello over CURVE",
        &s.authorized.join("alice.key_secret"),
    );
    assert_accepted(
        &s.auth,
        &s.server,
        client,
        "hello over CURVE",
        Mechanism::Curve,
        &alice.public,
    );
}

/// CURVE, client certificate not listed: refused with `Unknown key`; nothing arrives.
#[test]
fn pyzmq_curve_client_refused() {
    let Some(py) = Py::find("pyzmq_curve_client_refused") else {
        return;
    };
    let s = curve_setup();
    py.create(&s.authorized, "alice", &[]);
    let mallory = py.create(&s.outsiders, "mallory", &[]);
    s.auth.configure_curve("*", &s.authorized).unwrap();

    let client = s.client(&py, "let me in", &s.outsiders.join("mallory.key_secret"));
    assert_refused(
        &s.auth,
        &s.server,
        client,
        Mechanism::Curve,
        "Unknown key",
        &mallory.public,
    );
}
