//! Ironhouse: CURVE with client certificates, the strongest of the security houses.
//!
//! As in pyzmq's `generate_certificates.py`, a server and a client certificate are
//! created, their public halves (`*.key`) moved into `public_keys/` and their secret
//! halves (`*.key_secret`, mode 0600) into `private_keys/`. The authenticator admits
//! exactly the clients whose public certificate is in `public_keys/`; each message
//! carries the client's public key as `User-Id`, plus the metadata of its certificate.
//! A client whose certificate is not in the directory is refused with 400 `Unknown key`,
//! which libzmq reports to the client as a failed handshake.
//!
//! ```text
//! cargo run --example ironhouse
//! RUST_LOG=zmq_auth=debug cargo run --example ironhouse   # shows every decision
//! ```

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zmq_auth::{
    create_certificates, load_certificate, load_certificates, zmq, AuthEvent, Certificate,
    Mechanism, StatusCode, ThreadAuthenticator,
};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// How long a client that should get in may take (it normally takes milliseconds).
const ADMIT_TIMEOUT_MS: i64 = 5_000;
/// How long we watch for a message from a client that must be refused.
const REFUSE_WINDOW_MS: i64 = 500;
/// How long we wait for the authenticator (or a socket monitor) to report.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }

    // Certificates, laid out as pyzmq's generate_certificates.py does.
    let base = tempfile::tempdir()?;
    let (public_keys, private_keys) = generate_certificates(base.path())?;
    println!("certificates in {}:", base.path().display());
    for dir in [&public_keys, &private_keys] {
        let mut names: Vec<String> = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        println!(
            "  {}/: {}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            names.join(", ")
        );
    }
    // A certificate that was never put in public_keys/.
    let strangers = base.path().join("strangers");
    fs::create_dir(&strangers)?;
    let (_, stranger_secret) =
        create_certificates(&strangers, "stranger", &[("name", "stranger")])?;

    let server_cert = load_certificate(private_keys.join("server.key_secret"))?;
    let server_public = load_certificate(public_keys.join("server.key"))?;
    let client_cert = load_certificate(private_keys.join("client.key_secret"))?;
    let stranger_cert = load_certificate(&stranger_secret)?;
    let known = load_certificates(&public_keys)?;
    ensure(
        known.len() == 2 && known.contains_key(client_cert.public_key()),
        &format!(
            "public_keys/ holds {} keys, among them the client's {}",
            known.len(),
            client_cert.public_key()
        ),
    )?;

    let ctx = zmq::Context::new();
    // The ZAP handler must run in the same context as the server socket.
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.allow(["127.0.0.1"])?;
    auth.configure_curve("*", &public_keys)?;
    println!("authenticator: allow list [127.0.0.1], CURVE clients from public_keys/");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_curve_server(true)?;
    server.set_curve_secretkey(secret_key(&server_cert)?)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!(
        "server: PULL bound to {endpoint}, CURVE server key {}",
        server_cert.public_key()
    );

    // The client whose certificate is in public_keys/. It knows the server's public key
    // from public_keys/server.key.
    let client = curve_client(&ctx, &endpoint, &client_cert, server_public.public_key())?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the trusted client's message did not arrive within 5 s")?;
    ensure(
        &msg[..] == b"Hello",
        "server received the trusted client's message",
    )?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        user_id == client_cert.public_key(),
        &format!("client with trusted certificate admitted, User-Id={user_id:?} (its public key)"),
    )?;
    let name = msg.gets("name").unwrap_or("<none>").to_owned();
    ensure(
        name == "client",
        &format!("its certificate's metadata travels with each message: name={name:?}"),
    )?;
    let ev = expect_event(&auth, "a 200 for the trusted client", |e| {
        e.mechanism == Mechanism::Curve && e.status == StatusCode::Success
    })?;
    ensure(
        ev.user_id == client_cert.public_key(),
        &format!(
            "authenticator reported 200 {:?} for {}",
            ev.reason, ev.address
        ),
    )?;
    drain_events(&auth);

    // A client with a valid key pair and the right server key, but whose certificate is
    // not in public_keys/.
    let refused = curve_client(&ctx, &endpoint, &stranger_cert, server_public.public_key())?;
    let refused_monitor = handshake_monitor(&ctx, &refused, "ironhouse-stranger")?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW_MS)?;
    ensure(
        got.is_none(),
        "client with unknown certificate refused: no message within 500 ms",
    )?;
    let ev = expect_event(&auth, "a refusal of the unknown certificate", |e| {
        e.mechanism == Mechanism::Curve && e.status != StatusCode::Success
    })?;
    ensure(
        ev.status == StatusCode::AuthenticationFailure
            && ev.reason == "Unknown key"
            && ev.user_id.is_empty(),
        &format!(
            "authenticator reported {} {:?} for {}",
            ev.status.as_u16(),
            ev.reason,
            ev.address
        ),
    )?;
    let status = expect_monitor_event(&refused_monitor, zmq::SocketEvent::HANDSHAKE_FAILED_AUTH)?;
    ensure(
        status == 400,
        &format!("the refused client was told: handshake failed, authentication status {status}"),
    )?;

    println!("ironhouse: all checks passed");
    // Sockets (linger 0) and the authenticator go before the context.
    drop((refused_monitor, refused, client, server));
    drop(auth);
    drop(ctx);
    Ok(())
}

/// Creates `certificates/`, `public_keys/` and `private_keys/` under `base`, writes a
/// server and a client certificate into `certificates/`, then moves the public halves to
/// `public_keys/` and the secret halves to `private_keys/` (pyzmq's
/// `generate_certificates.py`). Returns the two key directories.
fn generate_certificates(base: &Path) -> Result<(PathBuf, PathBuf)> {
    let keys_dir = base.join("certificates");
    let public_keys = base.join("public_keys");
    let private_keys = base.join("private_keys");
    for dir in [&keys_dir, &public_keys, &private_keys] {
        fs::create_dir_all(dir)?;
    }
    for name in ["server", "client"] {
        let (public, secret) = create_certificates(&keys_dir, name, &[("name", name)])?;
        for (file, dest) in [(public, &public_keys), (secret, &private_keys)] {
            let file_name = file
                .file_name()
                .ok_or("certificate path without a file name")?;
            // A rename keeps the secret file's 0600 mode.
            fs::rename(&file, dest.join(file_name))?;
        }
    }
    Ok((public_keys, private_keys))
}

fn secret_key(cert: &Certificate) -> Result<&[u8]> {
    Ok(cert
        .secret_key_bytes()
        .ok_or("the certificate has no secret key")?)
}

/// A PUSH socket connecting with CURVE, using `cert`'s key pair and `server_key` (Z85).
fn curve_client(
    ctx: &zmq::Context,
    endpoint: &str,
    cert: &Certificate,
    server_key: &str,
) -> Result<zmq::Socket> {
    let client = ctx.socket(zmq::PUSH)?;
    client.set_linger(0)?;
    client.set_curve_publickey(cert.public_key_bytes())?;
    client.set_curve_secretkey(secret_key(cert)?)?;
    client.set_curve_serverkey(&zmq_auth::decode_z85_key(server_key)?)?;
    client.connect(endpoint)?;
    Ok(client)
}

/// Attaches a monitor to `socket` that reports handshake outcomes.
fn handshake_monitor(ctx: &zmq::Context, socket: &zmq::Socket, name: &str) -> Result<zmq::Socket> {
    let endpoint = format!("inproc://monitor-{name}");
    let events = zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32
        | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
        | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32
        | zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32;
    socket.monitor(&endpoint, events)?;
    let monitor = ctx.socket(zmq::PAIR)?;
    monitor.set_linger(0)?;
    monitor.connect(&endpoint)?;
    Ok(monitor)
}

/// Waits for the monitor to report `wanted`, skipping other events; returns its value
/// (a protocol error code, or a ZAP status code for `HANDSHAKE_FAILED_AUTH`).
fn expect_monitor_event(monitor: &zmq::Socket, wanted: zmq::SocketEvent) -> Result<u32> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as i64;
        if monitor.poll(zmq::POLLIN, left)? == 0 {
            return Err(format!("FAILED: the socket monitor did not report {wanted:?}").into());
        }
        // Frame 1: event number (u16) and value (u32), native endian; frame 2: endpoint.
        let frames = monitor.recv_multipart(0)?;
        let Some(head) = frames.first().filter(|f| f.len() >= 6) else {
            continue;
        };
        let event = u16::from_ne_bytes([head[0], head[1]]);
        let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
        if event == wanted as u16 {
            return Ok(value);
        }
    }
}

fn last_endpoint(socket: &zmq::Socket) -> Result<String> {
    socket
        .get_last_endpoint()?
        .map_err(|_| "the bound endpoint is not UTF-8".into())
}

/// Waits at most `timeout_ms` for a message.
fn recv_within(socket: &zmq::Socket, timeout_ms: i64) -> Result<Option<zmq::Message>> {
    if socket.poll(zmq::POLLIN, timeout_ms)? == 0 {
        return Ok(None);
    }
    Ok(Some(socket.recv_msg(zmq::DONTWAIT)?))
}

/// Waits for the first decision matching `wanted`, skipping others.
fn expect_event(
    auth: &ThreadAuthenticator,
    what: &str,
    wanted: impl Fn(&AuthEvent) -> bool,
) -> Result<AuthEvent> {
    let events = auth.events();
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ev) if wanted(&ev) => return Ok(ev),
            Ok(_) => {}
            Err(_) => return Err(format!("FAILED: no authenticator event: {what}").into()),
        }
    }
}

/// Forgets the decisions reported so far.
fn drain_events(auth: &ThreadAuthenticator) {
    auth.events().try_iter().for_each(drop);
}

/// Prints `ok: what` when the check holds, fails the example otherwise.
fn ensure(holds: bool, what: &str) -> Result {
    if holds {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}").into())
    }
}
