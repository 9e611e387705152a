//! CURVE client keys decided by your own code: `configure_curve_callback`.
//!
//! Instead of a certificate directory, the authenticator asks a closure (or any
//! `CredentialsProvider`) about each client's public key, given as 40 Z85 characters,
//! together with the server's ZAP domain. Here the closure looks keys up in a `HashSet`;
//! a real one might ask a database. A panic inside the closure would become a 500 reply
//! and the authenticator would keep serving.
//!
//! ```text
//! cargo run --example credentials_callback
//! RUST_LOG=zmq_auth=debug cargo run --example credentials_callback   # every decision
//! ```

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{
    curve_client, drain_events, ensure, expect_event, last_endpoint, recv_within, secret_key,
    Result, ADMIT_TIMEOUT, REFUSE_WINDOW,
};
use zmq_auth::{
    create_certificates, load_certificate, require_zap, zmq, Mechanism, StatusCode,
    ThreadAuthenticator,
};

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }
    let dir = tempfile::tempdir()?;
    let server_cert = load_certificate(create_certificates(dir.path(), "server", &[])?.1)?;
    let friend_cert = load_certificate(create_certificates(dir.path(), "friend", &[])?.1)?;
    let stranger_cert = load_certificate(create_certificates(dir.path(), "stranger", &[])?.1)?;

    let ctx = zmq::Context::new();
    // The ZAP handler must run in the same context as the server socket.
    let auth = ThreadAuthenticator::start(&ctx)?;
    // Start recording decisions (the checks below read them from auth.events()).
    let _ = auth.events();
    auth.allow(["127.0.0.1"])?;

    // The policy: only the friend's key, and only in the "orders" domain.
    let allowed: HashSet<String> = [friend_cert.public_key().to_owned()].into();
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_in_callback = Arc::clone(&calls);
    auth.configure_curve_callback("*", move |domain: &str, client_key: &str| {
        calls_in_callback.fetch_add(1, Ordering::Relaxed);
        domain == "orders" && allowed.contains(client_key)
    })?;
    println!("authenticator: CURVE keys decided by a closure (1 allowed key, domain \"orders\")");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_curve_server(true)?;
    server.set_curve_secretkey(secret_key(&server_cert)?)?;
    require_zap(&server, "orders")?; // ZAP domain, and fail closed without a handler
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!("server: PULL bound to {endpoint}, CURVE server, ZAP domain \"orders\"");

    // The friend: its key is in the set.
    let client = curve_client(&ctx, &endpoint, &friend_cert, server_cert.public_key())?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = recv_within(&server, ADMIT_TIMEOUT)?
        .ok_or("the friend's message did not arrive within 5 s")?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        &msg[..] == b"Hello" && user_id == friend_cert.public_key(),
        &format!("client whose key the callback accepts admitted, User-Id={user_id:?}"),
    )?;
    let ev = expect_event(&auth, "a 200 for the friend", |e| {
        e.mechanism == Mechanism::Curve && e.status == StatusCode::Success
    })?;
    ensure(
        ev.user_id == friend_cert.public_key() && ev.domain == "orders",
        &format!(
            "authenticator reported 200 {:?} for {} in domain {:?}",
            ev.reason, ev.address, ev.domain
        ),
    )?;
    drain_events(&auth);

    // The stranger: a valid key pair and the right server key, but not in the set.
    let refused = curve_client(&ctx, &endpoint, &stranger_cert, server_cert.public_key())?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW)?;
    ensure(
        got.is_none(),
        "client whose key the callback rejects refused: no message within 500 ms",
    )?;
    let ev = expect_event(&auth, "a refusal of the stranger", |e| {
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
    let n = calls.load(Ordering::Relaxed);
    ensure(
        n >= 2,
        &format!("the callback was consulted {n} times (once per handshake)"),
    )?;

    println!("credentials_callback: all checks passed");
    // Sockets (linger 0) and the authenticator go before the context.
    drop((refused, client, server));
    drop(auth);
    drop(ctx);
    Ok(())
}
