//! Stonehouse: CURVE encryption, any client admitted.
//!
//! The server proves who it is (clients must know its public key) and all traffic is
//! encrypted, but the authenticator admits every client that completes the handshake
//! (`CURVE_ALLOW_ANY`). Each message still carries the client's public key as its
//! `User-Id`. A client that has the wrong server key cannot even complete the
//! handshake: the server fails to decrypt its HELLO, so the authenticator is never asked.
//!
//! ```text
//! cargo run --example stonehouse
//! RUST_LOG=zmq_auth=debug cargo run --example stonehouse   # shows every decision
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use zmq_auth::{
    create_certificates, load_certificate, zmq, AuthEvent, Certificate, Mechanism, StatusCode,
    ThreadAuthenticator, CURVE_ALLOW_ANY,
};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// How long a client that should get in may take (it normally takes milliseconds).
const ADMIT_TIMEOUT_MS: i64 = 5_000;
/// How long we watch for a message from a client that must be refused.
const REFUSE_WINDOW_MS: i64 = 500;
/// How long we wait for the authenticator (or a socket monitor) to report.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`: a CURVE box did not decrypt.
const PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }
    let dir = tempfile::tempdir()?;
    let (_, server_secret) = create_certificates(dir.path(), "server", &[])?;
    let (_, client_secret) = create_certificates(dir.path(), "client", &[])?;
    // A key pair the client mistakes for the server's.
    let (_, impostor_secret) = create_certificates(dir.path(), "impostor", &[])?;
    let server_cert = load_certificate(&server_secret)?;
    let client_cert = load_certificate(&client_secret)?;
    let impostor_cert = load_certificate(&impostor_secret)?;
    println!(
        "certificates: server, client and impostor in {}",
        dir.path().display()
    );

    let ctx = zmq::Context::new();
    // The ZAP handler must run in the same context as the server socket.
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.allow(["127.0.0.1"])?;
    auth.configure_curve("*", CURVE_ALLOW_ANY)?;
    println!("authenticator: allow list [127.0.0.1], CURVE allow any client");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_curve_server(true)?;
    server.set_curve_secretkey(secret_key(&server_cert)?)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    let monitor = handshake_monitor(&ctx, &server, "stonehouse-server")?;
    println!(
        "server: PULL bound to {endpoint}, CURVE server key {}",
        server_cert.public_key()
    );

    // A client that knows the server's public key.
    let client = curve_client(&ctx, &endpoint, &client_cert, server_cert.public_key())?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the client's message did not arrive within 5 s")?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        &msg[..] == b"Hello" && user_id == client_cert.public_key(),
        &format!("client with the right server key admitted, User-Id={user_id:?} (its public key)"),
    )?;
    let ev = expect_event(&auth, "a 200 for the client", |e| {
        e.mechanism == Mechanism::Curve && e.status == StatusCode::Success
    })?;
    ensure(
        ev.user_id == client_cert.public_key(),
        &format!(
            "authenticator reported 200 {:?} for {}",
            ev.reason, ev.address
        ),
    )?;
    expect_monitor_event(&monitor, zmq::SocketEvent::HANDSHAKE_SUCCEEDED)?;
    drain_events(&auth);

    // A client that has the wrong server key.
    let refused = curve_client(&ctx, &endpoint, &client_cert, impostor_cert.public_key())?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW_MS)?;
    ensure(
        got.is_none(),
        "client with the wrong server key refused: no message within 500 ms",
    )?;
    let error = expect_monitor_event(&monitor, zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL)?;
    ensure(
        error == PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
        &format!(
            "server socket reported the handshake failed: cryptographic error (0x{error:08x})"
        ),
    )?;
    let asked = auth.events().try_iter().count();
    ensure(
        asked == 0,
        "the authenticator was never asked about it (the handshake failed before ZAP)",
    )?;

    println!("stonehouse: all checks passed");
    // Sockets (linger 0) and the authenticator go before the context.
    drop((monitor, refused, client, server));
    drop(auth);
    drop(ctx);
    Ok(())
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
