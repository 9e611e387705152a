//! A throwaway MIT Kerberos KDC on loopback, for GSSAPI tests.
//!
//! [`Kdc::start`] builds a realm in a temporary directory (its own `krb5.conf`,
//! `kdc.conf`, database, stash and keytab), adds a service principal and a client
//! principal, starts `krb5kdc -n` on a free `127.0.0.1` port and waits until a
//! `kinit` against it succeeds. Nothing outside the temporary directory is read
//! or written (apart from the binaries themselves), so it never touches a
//! system-wide Kerberos set-up. The KDC is killed and the directory removed on
//! drop.
//!
//! GSSAPI reads its configuration from the process environment, so a test must
//! call [`Kdc::apply_env`] **before** creating its first `zmq::Context` (or doing
//! anything else that reaches GSSAPI), and should be the only `#[test]` in its
//! binary (or guard the set-up with a `std::sync::Once`).
//!
//! Use it from a test file with
//!
//! ```ignore
//! #[path = "support/kdc.rs"]
//! mod kdc;
//!
//! let Some(kdc) = kdc::Kdc::start_or_skip() else { return };
//! kdc.apply_env();
//! ```
//!
//! When the Kerberos binaries are not installed, [`Kdc::start`] returns
//! `Ok(None)` (and [`Kdc::start_or_skip`] prints the reason and returns `None`)
//! so the test can be skipped — unless the environment variable `CI` is `true`,
//! in which case a missing binary is a hard failure.
//!
//! Debian packages: `krb5-kdc krb5-admin-server krb5-user`.
#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The realm every [`Kdc`] serves.
pub const REALM: &str = "ZMQAUTH.TEST";
/// Primary part of the service principal (`zmqtest/localhost@ZMQAUTH.TEST`).
pub const SERVICE: &str = "zmqtest";
/// Host part of the service principal.
pub const SERVICE_HOST: &str = "localhost";
/// Primary part of the client principal (`client@ZMQAUTH.TEST`).
pub const CLIENT: &str = "client";

/// How many times to pick a new port when `krb5kdc` cannot bind the one chosen.
const START_ATTEMPTS: usize = 5;
/// How long to wait for the KDC to answer a `kinit`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

const BIN_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
];

/// A running throwaway KDC. Killed (and its directory removed) on drop.
pub struct Kdc {
    child: Child,
    port: u16,
    dir: TempDir,
    kadmin_local: PathBuf,
}

struct Binaries {
    kdb5_util: PathBuf,
    kadmin_local: PathBuf,
    krb5kdc: PathBuf,
    kinit: PathBuf,
}

fn find_binary(name: &str) -> Option<PathBuf> {
    BIN_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn find_binaries() -> Result<Binaries, String> {
    let mut missing = Vec::new();
    let mut get = |name: &str| {
        find_binary(name).unwrap_or_else(|| {
            missing.push(name.to_string());
            PathBuf::new()
        })
    };
    let bins = Binaries {
        kdb5_util: get("kdb5_util"),
        kadmin_local: get("kadmin.local"),
        krb5kdc: get("krb5kdc"),
        kinit: get("kinit"),
    };
    if missing.is_empty() {
        Ok(bins)
    } else {
        Err(format!(
            "MIT Kerberos binaries not found ({}) in {}; install the Debian packages \
             krb5-kdc krb5-admin-server krb5-user",
            missing.join(", "),
            BIN_DIRS.join(":")
        ))
    }
}

/// A password nobody needs to know (the database master key).
fn random_password() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let a = h.finish();
    let b = RandomState::new().build_hasher().finish();
    format!("Mk-{a:016x}{b:016x}")
}

/// A port that is free for both TCP and UDP on 127.0.0.1 right now. Another
/// process may take it before `krb5kdc` binds it; the caller retries.
fn free_port() -> Result<u16, String> {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
        let port = tcp.local_addr().map_err(|e| e.to_string())?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both TCP and UDP on 127.0.0.1".into())
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

impl Kdc {
    /// Start a KDC. `Ok(None)`: Kerberos is not installed here, skip the test
    /// (panics instead when `CI=true`). `Err`: it is installed but did not work.
    pub fn start() -> Result<Option<Kdc>, String> {
        let bins = match find_binaries() {
            Ok(b) => b,
            Err(why) if ci() => panic!("CI=true and the GSSAPI test cannot run: {why}"),
            Err(why) => {
                eprintln!("skipping: {why}");
                return Ok(None);
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("zmq-auth-kdc-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;

        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            write_config(dir.path(), port)?;
            if !dir.path().join("principal").exists() {
                create_realm(dir.path(), &bins)?;
            }
            match start_kdc(dir.path(), port, &bins) {
                Ok(child) => {
                    return Ok(Some(Kdc {
                        child,
                        port,
                        dir,
                        kadmin_local: bins.kadmin_local,
                    }))
                }
                // the port was taken between `free_port` and krb5kdc's bind
                Err(Retry::Port(e)) => last_err = e,
                Err(Retry::Fatal(e)) => return Err(e),
            }
        }
        Err(format!(
            "krb5kdc did not start after {START_ATTEMPTS} attempts; last error:\n{last_err}"
        ))
    }

    /// [`Kdc::start`] for tests: `None` (after printing why) when the test
    /// should be skipped, panics when Kerberos is installed but broken.
    pub fn start_or_skip() -> Option<Kdc> {
        match Kdc::start() {
            Ok(k) => k,
            Err(e) => panic!("cannot start the test KDC: {e}"),
        }
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The temporary directory holding the realm.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port the KDC listens on (TCP and UDP, 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The realm, `ZMQAUTH.TEST`.
    pub fn realm(&self) -> &'static str {
        REALM
    }

    /// One keytab holding the keys of every principal this KDC created. It is
    /// both `KRB5_KTNAME` (acceptor) and `KRB5_CLIENT_KTNAME` (initiator):
    /// libzmq acquires its credentials with `GSS_C_BOTH`, so the server needs
    /// initiator credentials for its own principal too.
    pub fn keytab(&self) -> PathBuf {
        self.dir.path().join("test.keytab")
    }

    /// The service principal's host-based name, for `set_gssapi_principal` on
    /// the server and `set_gssapi_service_principal` on the client (default
    /// name type, `ZMQ_GSSAPI_NT_HOSTBASED`): `zmqtest@localhost`.
    pub fn service_name(&self) -> String {
        format!("{SERVICE}@{SERVICE_HOST}")
    }

    /// The service principal's Kerberos name: `zmqtest/localhost@ZMQAUTH.TEST`.
    pub fn service_principal(&self) -> String {
        format!("{SERVICE}/{SERVICE_HOST}@{REALM}")
    }

    /// The client principal's Kerberos name, for `set_gssapi_principal` on the
    /// client with name type `ZMQ_GSSAPI_NT_KRB5_PRINCIPAL`: `client@ZMQAUTH.TEST`.
    pub fn client_principal(&self) -> String {
        format!("{CLIENT}@{REALM}")
    }

    /// Add a principal with a random key and put its keys in [`Kdc::keytab`].
    /// `name` may omit the realm.
    pub fn add_principal(&self, name: &str) -> Result<(), String> {
        add_principal(self.dir.path(), &self.kadmin_local, name)
    }

    /// The environment a process needs to use this KDC through GSSAPI:
    /// `KRB5_CONFIG`, `KRB5_KDC_PROFILE`, `KRB5_KTNAME`, `KRB5_CLIENT_KTNAME`,
    /// `KRB5CCNAME` (a `DIR:` collection, so that client and server principals
    /// can both hold tickets in one process; a `FILE:` cache makes the
    /// handshake fail) and `KRB5RCACHEDIR` (keeps the replay cache out of
    /// `/var/tmp`). The generated `krb5.conf` also names the keytab and the
    /// `DIR:` cache as its defaults, so a process that sets only
    /// `KRB5_CONFIG` works too; the explicit variables are what a deployment
    /// without such a `krb5.conf` needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_for(self.dir.path())
    }

    /// Set [`Kdc::env`] in this process. Call it before the first
    /// `zmq::Context::new()` and before any other thread may read the
    /// environment.
    pub fn apply_env(&self) {
        for (k, v) in self.env() {
            std::env::set_var(k, v);
        }
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Retry {
    Port(String),
    Fatal(String),
}

/// Spawn `krb5kdc -n` and poll `kinit -k` against it until it answers. A KDC
/// that exits early (its port was taken) is a `Retry::Port`.
fn start_kdc(dir: &Path, port: u16, bins: &Binaries) -> Result<Child, Retry> {
    // A fresh log per attempt: readiness is read from it.
    let _ = fs::remove_file(dir.join("kdc.log"));
    let stderr_path = dir.join("krb5kdc.stderr");
    let stderr = fs::File::create(&stderr_path)
        .map_err(|e| Retry::Fatal(format!("cannot create {}: {e}", stderr_path.display())))?;
    let mut child = admin_command(&bins.krb5kdc, dir)
        .args(["-n", "-r", REALM])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| Retry::Fatal(format!("cannot run {}: {e}", bins.krb5kdc.display())))?;
    let logs = || {
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        let log = fs::read_to_string(dir.join("kdc.log")).unwrap_or_default();
        format!("krb5kdc stderr:\n{stderr}kdc.log:\n{log}")
    };

    let fail = |child: &mut Child, why: String| {
        let _ = child.kill();
        let _ = child.wait();
        Retry::Fatal(format!("{why}\n{}", logs()))
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut delay = Duration::from_millis(1);

    // 1. Until krb5kdc has its sockets ("commencing operation" in its log) or
    // has exited (it exits at once when it cannot bind). No kinit yet: if the
    // port was taken by some other server, a kinit could hang on it.
    loop {
        match child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                return Err(Retry::Port(format!(
                    "krb5kdc exited ({status}) on port {port}\n{}",
                    logs()
                )))
            }
            Err(e) => return Err(fail(&mut child, format!("waiting for krb5kdc: {e}"))),
        }
        let log = fs::read_to_string(dir.join("kdc.log")).unwrap_or_default();
        if log.contains("commencing operation") {
            break;
        }
        if Instant::now() >= deadline {
            return Err(fail(
                &mut child,
                format!("krb5kdc did not start within {READY_TIMEOUT:?}"),
            ));
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }

    // 2. Until it issues a ticket.
    let probe_cache = format!("FILE:{}", dir.join("probe.ccache").display());
    let client = format!("{CLIENT}@{REALM}");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Retry::Fatal(format!(
                "krb5kdc exited ({status}) on port {port}\n{}",
                logs()
            )));
        }
        let mut kinit = admin_command(&bins.kinit, dir);
        kinit
            .args(["-k", "-t"])
            .arg(dir.join("test.keytab"))
            .args(["-c", &probe_cache])
            .arg(&client);
        match run(&mut kinit) {
            Ok(_) => return Ok(child),
            Err(e) if Instant::now() >= deadline => {
                return Err(fail(
                    &mut child,
                    format!(
                    "the KDC on port {port} did not issue a ticket within {READY_TIMEOUT:?}: {e}"
                ),
                ))
            }
            Err(_) => {}
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

fn env_for(dir: &Path) -> Vec<(&'static str, String)> {
    let keytab = format!("FILE:{}", dir.join("test.keytab").display());
    vec![
        ("KRB5_CONFIG", dir.join("krb5.conf").display().to_string()),
        (
            "KRB5_KDC_PROFILE",
            dir.join("kdc.conf").display().to_string(),
        ),
        ("KRB5_KTNAME", keytab.clone()),
        ("KRB5_CLIENT_KTNAME", keytab),
        (
            "KRB5CCNAME",
            format!("DIR:{}", dir.join("ccache").display()),
        ),
        ("KRB5RCACHEDIR", dir.join("rcache").display().to_string()),
    ]
}

fn write_config(dir: &Path, port: u16) -> Result<(), String> {
    let d = dir.display();
    // rdns / dns_canonicalize_hostname off: "localhost" must stay "localhost"
    // when GSSAPI turns `zmqtest@localhost` into `zmqtest/localhost`.
    let krb5_conf = format!(
        "[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    ignore_acceptor_hostname = false
    udp_preference_limit = 1
    default_ccache_name = DIR:{d}/ccache
    default_keytab_name = FILE:{d}/test.keytab
    default_client_keytab_name = FILE:{d}/test.keytab

[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}

[domain_realm]
    localhost = {REALM}
    127.0.0.1 = {REALM}
"
    );
    let kdc_conf = format!(
        "[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {REALM} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
        max_life = 1h
    }}

[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5.log
"
    );
    let write = |name: &str, text: &str| {
        fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write("krb5.conf", &krb5_conf)?;
    write("kdc.conf", &kdc_conf)?;
    write("kadm5.acl", "")?;
    for sub in ["ccache", "rcache"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| format!("cannot create {sub}: {e}"))?;
    }
    Ok(())
}

fn admin_command(program: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (k, v) in env_for(dir) {
        cmd.env(k, v);
    }
    cmd
}

fn create_realm(dir: &Path, bins: &Binaries) -> Result<(), String> {
    run(admin_command(&bins.kdb5_util, dir)
        .args(["create", "-s", "-r", REALM, "-P"])
        .arg(random_password()))?;
    add_principal(
        dir,
        &bins.kadmin_local,
        &format!("{SERVICE}/{SERVICE_HOST}"),
    )?;
    add_principal(dir, &bins.kadmin_local, CLIENT)?;
    Ok(())
}

fn add_principal(dir: &Path, kadmin_local: &Path, name: &str) -> Result<(), String> {
    let keytab = dir.join("test.keytab");
    for query in [
        format!("addprinc -randkey {name}"),
        format!("ktadd -k {} {name}", keytab.display()),
    ] {
        run(admin_command(kadmin_local, dir).args(["-r", REALM, "-q", &query]))?;
    }
    Ok(())
}
