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

mod common;

use common::{
    drain_events, ensure, expect_event, last_endpoint, plain_client, recv_within, Result,
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
    auth.configure_plain("*", [("admin", "correct-horse")])?;
    println!("authenticator: allow list [127.0.0.1], PLAIN user admin in every domain");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_plain_server(true)?;
    require_zap(&server, "global")?; // refuse clients when no ZAP handler answers
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, PLAIN server");

    // The right password.
    let client = plain_client(&ctx, &endpoint, "admin", "correct-horse")?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = recv_within(&server, ADMIT_TIMEOUT)?
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
    let refused = plain_client(&ctx, &endpoint, "admin", "wrong-guess")?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW)?;
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
