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

mod common;

use common::{
    curve_client, drain_events, ensure, expect_event, expect_monitor_event, handshake_monitor,
    last_endpoint, recv_within, secret_key, Result, ADMIT_TIMEOUT, REFUSE_WINDOW,
};
use zmq_auth::{
    create_certificates, load_certificate, require_zap, zmq, Mechanism, StatusCode,
    ThreadAuthenticator, CURVE_ALLOW_ANY,
};

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
    // Start recording decisions (the checks below read them from auth.events()).
    let _ = auth.events();
    auth.allow(["127.0.0.1"])?;
    auth.configure_curve("*", CURVE_ALLOW_ANY)?;
    println!("authenticator: allow list [127.0.0.1], CURVE allow any client");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_curve_server(true)?;
    server.set_curve_secretkey(secret_key(&server_cert)?)?;
    // Refuse every client when no ZAP handler answers (libzmq would admit them).
    require_zap(&server, "global")?;
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
    let mut msg = recv_within(&server, ADMIT_TIMEOUT)?
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
    let got = recv_within(&server, REFUSE_WINDOW)?;
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
