//! Grasslands: no security at all (the baseline the other "houses" build on).
//!
//! A PULL server and a PUSH client in one process, over TCP on loopback. There is no
//! security mechanism and no ZAP handler, so every client is admitted, nothing is
//! encrypted, and messages carry no `User-Id`.
//!
//! ```text
//! cargo run --example grasslands
//! ```

use std::error::Error;

use zmq_auth::zmq;

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// How long a client that should get in may take (it normally takes milliseconds).
const ADMIT_TIMEOUT_MS: i64 = 5_000;

fn main() -> Result {
    env_logger::init();
    let ctx = zmq::Context::new();

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, no security mechanism, no ZAP handler");

    let client = ctx.socket(zmq::PUSH)?;
    client.set_linger(0)?;
    client.connect(&endpoint)?;
    client.send("Hello", zmq::DONTWAIT)?;

    let mut msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the client's message did not arrive within 5 s")?;
    ensure(
        &msg[..] == b"Hello",
        "the server received the client's message",
    )?;
    let user_id = msg.gets("User-Id").map(str::to_owned);
    ensure(
        user_id.is_none(),
        "the message carries no User-Id (nobody authenticated it)",
    )?;

    // A second, unrelated client is admitted just the same: grasslands refuses nobody.
    let other = ctx.socket(zmq::PUSH)?;
    other.set_linger(0)?;
    other.connect(&endpoint)?;
    other.send("Hello from anyone", zmq::DONTWAIT)?;
    let msg = recv_within(&server, ADMIT_TIMEOUT_MS)?
        .ok_or("the second client's message did not arrive within 5 s")?;
    ensure(
        &msg[..] == b"Hello from anyone",
        "any other client is admitted too: grasslands has nobody to refuse",
    )?;

    println!("grasslands: all checks passed");
    // Sockets (linger 0) go before the context, so exit never waits on the network.
    drop((other, client, server));
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

/// Prints `ok: what` when the check holds, fails the example otherwise.
fn ensure(holds: bool, what: &str) -> Result {
    if holds {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}").into())
    }
}
