//! Grasslands: no security at all (the baseline the other "houses" build on).
//!
//! A PULL server and a PUSH client in one process, over TCP on loopback. There is no
//! security mechanism and no ZAP handler, so every client is admitted, nothing is
//! encrypted, and messages carry no `User-Id`.
//!
//! ```text
//! cargo run --example grasslands
//! ```

mod common;

use common::{ensure, last_endpoint, null_client, recv_within, Result, ADMIT_TIMEOUT};
use zmq_auth::zmq;

fn main() -> Result {
    env_logger::init();
    let ctx = zmq::Context::new();

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, no security mechanism, no ZAP handler");

    // A client with no security options either.
    let client = null_client(&ctx, &endpoint)?;
    client.send("Hello", zmq::DONTWAIT)?;

    let mut msg = recv_within(&server, ADMIT_TIMEOUT)?
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
    let other = null_client(&ctx, &endpoint)?;
    other.send("Hello from anyone", zmq::DONTWAIT)?;
    let msg = recv_within(&server, ADMIT_TIMEOUT)?
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
