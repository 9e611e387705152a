//! Strawhouse: the NULL mechanism plus an IP address allow list.
//!
//! The server sets a ZAP domain, which makes libzmq ask the authenticator about NULL
//! clients too; the authenticator admits only addresses on its allow list. Nothing is
//! encrypted and there are no credentials: this only keeps out the wrong machines.
//!
//! Phase 1 allows 127.0.0.1 and a client gets in. Phase 2 changes the running policy to
//! allow only 10.0.0.1: a new client from 127.0.0.1 is refused, while the connection
//! admitted earlier stays up (ZAP is asked once per handshake).
//!
//! ```text
//! cargo run --example strawhouse
//! RUST_LOG=zmq_auth=debug cargo run --example strawhouse   # shows every decision
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
    println!("authenticator: allow list [127.0.0.1]");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    // Without a domain, libzmq does not consult the ZAP handler for NULL clients.
    server.set_zap_domain("global")?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, NULL mechanism, ZAP domain \"global\"");

    // Phase 1: 127.0.0.1 is allowed.
    let client = ctx.socket(zmq::PUSH)?;
    client.set_linger(0)?;
    client.connect(&endpoint)?;
    client.send("Hello", zmq::DONTWAIT)?;

    let mut msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the allowed client's message did not arrive within 5 s")?;
    ensure(&msg[..] == b"Hello", "client from 127.0.0.1 admitted")?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        user_id == "anonymous",
        &format!("its messages carry User-Id={user_id:?} (NULL clients are anonymous)"),
    )?;
    let ev = expect_event(&auth, "a 200 for the allowed client", |e| {
        e.status == StatusCode::Success && e.mechanism == Mechanism::Null
    })?;
    ensure(
        ev.domain == "global" && ev.address == "127.0.0.1",
        &format!(
            "authenticator reported 200 {:?} for {} in domain {:?}",
            ev.reason, ev.address, ev.domain
        ),
    )?;

    // Phase 2: change the running policy so that 127.0.0.1 is no longer allowed.
    auth.clear_address_lists()?;
    auth.allow(["10.0.0.1"])?;
    drain_events(&auth);
    println!("authenticator: allow list is now [10.0.0.1]");

    let refused = ctx.socket(zmq::PUSH)?;
    refused.set_linger(0)?;
    refused.connect(&endpoint)?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW_MS)?;
    ensure(
        got.is_none(),
        "new client from 127.0.0.1 refused: no message within 500 ms",
    )?;
    let ev = expect_event(&auth, "a refusal of 127.0.0.1", |e| {
        e.status != StatusCode::Success
    })?;
    ensure(
        ev.status == StatusCode::AuthenticationFailure
            && ev.reason == "Address not allowed"
            && ev.address == "127.0.0.1"
            && ev.user_id.is_empty(),
        &format!(
            "authenticator reported {} {:?} for {}",
            ev.status.as_u16(),
            ev.reason,
            ev.address
        ),
    )?;

    // The connection admitted in phase 1 is not re-checked.
    client.send("Still here", zmq::DONTWAIT)?;
    let msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the phase 1 client's second message did not arrive within 5 s")?;
    ensure(
        &msg[..] == b"Still here",
        "the connection admitted in phase 1 keeps working (ZAP runs once per handshake)",
    )?;

    println!("strawhouse: all checks passed");
    // Sockets (linger 0) and the authenticator go before the context.
    drop((refused, client, server));
    drop(auth);
    drop(ctx);
    Ok(())
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
