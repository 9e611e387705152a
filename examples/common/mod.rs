//! Helpers shared by the examples: the plumbing around each example's lesson.
//!
//! Each example declares `mod common;`, so this file is compiled into every one of them.
//! Cargo does not build `examples/common/` as an example of its own, because it has no
//! `main.rs`. What an example teaches — how the authenticator is configured, how the
//! server socket is set up, and which checks prove that the right clients get in — stays
//! in the example's own file. This module holds only what every example would otherwise
//! copy: waiting with a deadline, printing checks, and building the client sockets.

// Each example uses only some of these helpers, and the unused rest would warn in that
// example's build (`clippy -D warnings` turns the warnings into errors).
#![allow(dead_code)]

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zmq_auth::{create_certificates, zmq, AuthEvent, Certificate, ThreadAuthenticator};

/// Any error ends the example with a message and a non-zero exit status, which is how
/// `make test` notices a failure. A boxed error lets `?` work on every error type.
pub type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// How long a client that should get in may take (it normally takes milliseconds). The
/// limit is generous: it only bounds how long a broken run takes to fail.
pub const ADMIT_TIMEOUT: Duration = Duration::from_millis(5_000);
/// How long we watch for a message from a client that must be refused. No message can
/// prove "never", so the examples wait this long and then count the client as refused.
pub const REFUSE_WINDOW: Duration = Duration::from_millis(500);
/// How long we wait for the authenticator, or a socket monitor, to report.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints `ok: what` when the check holds, fails the example otherwise.
///
/// Every check prints a line, so the output reads as a list of what was shown, and the
/// first check that fails ends the example with `FAILED: what`.
pub fn ensure(holds: bool, what: &str) -> Result {
    if holds {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}").into())
    }
}

/// The endpoint that `socket` is bound to, such as `tcp://127.0.0.1:41234`.
///
/// The servers bind to port `*`, so two examples (or tests) running at the same time
/// never fight over a port. Clients need this address to connect.
pub fn last_endpoint(socket: &zmq::Socket) -> Result<String> {
    socket
        .get_last_endpoint()?
        .map_err(|_| "the bound endpoint is not UTF-8".into())
}

/// Waits at most `timeout` for a message.
///
/// A plain `recv` would block forever on a client that was refused. With a deadline, the
/// example can check that no message arrives, and it fails instead of hanging if a
/// message that should arrive does not.
pub fn recv_within(socket: &zmq::Socket, timeout: Duration) -> Result<Option<zmq::Message>> {
    if socket.poll(zmq::POLLIN, poll_timeout(timeout))? == 0 {
        return Ok(None);
    }
    Ok(Some(socket.recv_msg(zmq::DONTWAIT)?))
}

/// Waits for the first decision matching `wanted`, skipping others.
///
/// The authenticator reports every decision on a channel, in the order it made them, so
/// a decision about another client can come first. `what` names the decision in the
/// failure message when none comes within [`EVENT_TIMEOUT`].
pub fn expect_event(
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
///
/// Called between the phases of an example, so that a late report about an earlier
/// client is not taken for a decision about the next one.
pub fn drain_events(auth: &ThreadAuthenticator) {
    auth.events().try_iter().for_each(drop);
}

/// A PUSH socket that connects with no security options, and so uses the NULL
/// mechanism.
///
/// It has linger 0, like every socket in the examples, so that dropping it never waits
/// for messages that a refused connection cannot deliver.
pub fn null_client(ctx: &zmq::Context, endpoint: &str) -> Result<zmq::Socket> {
    let client = ctx.socket(zmq::PUSH)?;
    client.set_linger(0)?;
    client.connect(endpoint)?;
    Ok(client)
}

/// A PUSH socket that connects with PLAIN credentials (linger 0).
pub fn plain_client(
    ctx: &zmq::Context,
    endpoint: &str,
    username: &str,
    password: &str,
) -> Result<zmq::Socket> {
    let client = ctx.socket(zmq::PUSH)?;
    client.set_linger(0)?;
    client.set_plain_username(Some(username))?;
    client.set_plain_password(Some(password))?;
    client.connect(endpoint)?;
    Ok(client)
}

/// A PUSH socket that connects with CURVE (linger 0). It uses `cert`'s key pair and
/// `server_key`, the server's public key in Z85.
///
/// A CURVE client must know the server's public key before it connects: that is how it
/// knows that it is talking to the real server.
pub fn curve_client(
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

/// The secret key of `cert` (32 bytes), or an error if the certificate was loaded from a
/// public-only `*.key` file.
///
/// A CURVE socket needs the secret half of its own key pair. `Certificate` returns it as
/// an `Option`, because a certificate loaded from a public file has no secret key.
pub fn secret_key(cert: &Certificate) -> Result<&[u8]> {
    Ok(cert
        .secret_key_bytes()
        .ok_or("the certificate has no secret key")?)
}

/// Attaches a monitor to `socket` that reports handshake outcomes.
///
/// The authenticator only sees the handshakes that reach ZAP. Only a socket monitor
/// shows the rest: a handshake that failed earlier (a CURVE client with the wrong server
/// key), and what a refused client is told. `name` makes the monitor's inproc endpoint
/// unique within the context.
pub fn handshake_monitor(
    ctx: &zmq::Context,
    socket: &zmq::Socket,
    name: &str,
) -> Result<zmq::Socket> {
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

/// Waits for the monitor to report `wanted` and skips other events. Returns the event's
/// value: a protocol error code, or a ZAP status code for `HANDSHAKE_FAILED_AUTH`.
///
/// The `zmq` crate hands over monitor events as raw frames, so this function decodes
/// them. It waits at most [`EVENT_TIMEOUT`].
pub fn expect_monitor_event(monitor: &zmq::Socket, wanted: zmq::SocketEvent) -> Result<u32> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let left = poll_timeout(deadline.saturating_duration_since(Instant::now()));
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

/// Lays out a server and a client certificate as pyzmq's `generate_certificates.py`
/// does. It creates `certificates/`, `public_keys/` and `private_keys/` under `base`,
/// writes both certificates into `certificates/` with the metadata `name`, then moves
/// the public halves (`*.key`) to `public_keys/` and the secret halves (`*.key_secret`)
/// to `private_keys/`. Returns the two key directories.
///
/// The `generate_certificates` example shows this layout, and `ironhouse` points
/// `configure_curve` at the `public_keys/` that it produces.
pub fn generate_certificates(base: &Path) -> Result<(PathBuf, PathBuf)> {
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

/// `timeout` in the whole milliseconds that `zmq::poll` takes.
fn poll_timeout(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)
}
