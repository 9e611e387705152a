//! Woodhouse: the PLAIN mechanism, usernames and passwords checked by the authenticator.
//!
//! PLAIN sends the password in clear text: use it only on trusted networks (or with
//! CURVE, see `stonehouse` and `ironhouse`). The authenticator accepts `admin`/`secret`
//! and every message from that client carries `User-Id=admin`. A client with the wrong
//! password is refused.
//!
//! ```text
//! cargo run --example woodhouse
//! RUST_LOG=zmq_auth=debug cargo run --example woodhouse   # shows every decision
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use zmq_auth::{zmq, AuthEvent, Mechanism, StatusCode, ThreadAuthenticator};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// How long a client that should get in may take (it normally takes milliseconds).
const ADMIT_TIMEOUT_MS: i64 = 5_000;
/// How long we watch for a message from a client that must be refused.
const REFUSE_WINDOW_MS: i64 = 500;
/// How long we wait for the authenticator to report a decision.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> Result {
    env_logger::init();
    let ctx = zmq::Context::new();

    // The ZAP handler must run in the same context as the server socket.
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.allow(["127.0.0.1"])?;
    auth.configure_plain("*", [("admin", "secret")])?;
    println!("authenticator: allow list [127.0.0.1], PLAIN user admin in every domain");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_plain_server(true)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, PLAIN server");

    // The right password.
    let client = plain_client(&ctx, &endpoint, "admin", "secret")?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the message of the client with the right password did not arrive within 5 s")?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        &msg[..] == b"Hello" && user_id == "admin",
        &format!("client with the right password admitted, User-Id={user_id:?}"),
    )?;
    let ev = expect_event(&auth, "a 200 for admin", |e| {
        e.mechanism == Mechanism::Plain && e.status == StatusCode::Success
    })?;
    ensure(
        ev.user_id == "admin",
        &format!(
            "authenticator reported 200 {:?} for {}, user id {}",
            ev.reason, ev.address, ev.user_id
        ),
    )?;
    drain_events(&auth);

    // The wrong password.
    let refused = plain_client(&ctx, &endpoint, "admin", "guess")?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW_MS)?;
    ensure(
        got.is_none(),
        "client with the wrong password refused: no message within 500 ms",
    )?;
    let ev = expect_event(&auth, "a refusal of the wrong password", |e| {
        e.mechanism == Mechanism::Plain && e.status != StatusCode::Success
    })?;
    ensure(
        ev.status == StatusCode::AuthenticationFailure
            && ev.reason == "Invalid password"
            && ev.user_id.is_empty(),
        &format!(
            "authenticator reported {} {:?} (the password itself is never logged)",
            ev.status.as_u16(),
            ev.reason
        ),
    )?;

    println!("woodhouse: all checks passed");
    // Sockets (linger 0) and the authenticator go before the context.
    drop((refused, client, server));
    drop(auth);
    drop(ctx);
    Ok(())
}

/// A PUSH socket connecting with PLAIN credentials.
fn plain_client(
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
