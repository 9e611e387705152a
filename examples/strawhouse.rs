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

mod common;

use common::{
    drain_events, ensure, expect_event, last_endpoint, null_client, recv_within, Result,
    ADMIT_TIMEOUT, REFUSE_WINDOW,
};
use zmq_auth::{require_zap, zmq, Mechanism, StatusCode, ThreadAuthenticator};

fn main() -> Result {
    env_logger::init();
    let ctx = zmq::Context::new();

    // The ZAP handler must run in the same context as the server socket.
    let auth = ThreadAuthenticator::start(&ctx)?;
    // Start recording decisions (the checks below read them from auth.events()).
    let _ = auth.events();
    auth.allow(["127.0.0.1"])?;
    println!("authenticator: allow list [127.0.0.1]");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    // Without a domain, libzmq does not consult the ZAP handler for NULL clients.
    // require_zap also makes the server refuse clients when no handler answers.
    require_zap(&server, "global")?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, NULL mechanism, ZAP domain \"global\"");

    // Phase 1: 127.0.0.1 is allowed.
    let client = null_client(&ctx, &endpoint)?;
    client.send("Hello", zmq::DONTWAIT)?;

    let mut msg = recv_within(&server, ADMIT_TIMEOUT)?
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

    let refused = null_client(&ctx, &endpoint)?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW)?;
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
    let msg = recv_within(&server, ADMIT_TIMEOUT)?
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
