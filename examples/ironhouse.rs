//! Ironhouse: CURVE with client certificates, the strongest of the security houses.
//!
//! As in pyzmq's `generate_certificates.py`, a server and a client certificate are
//! created, their public halves (`*.key`) moved into `public_keys/` and their secret
//! halves (`*.key_secret`, mode 0600) into `private_keys/`. The authenticator admits
//! exactly the clients whose public certificate is in `public_keys/`; each message
//! carries the client's public key as `User-Id`, plus the metadata of its certificate.
//! A client whose certificate is not in the directory is refused with 400 `Unknown key`,
//! which libzmq reports to the client as a failed handshake.
//!
//! ```text
//! cargo run --example ironhouse
//! RUST_LOG=zmq_auth=debug cargo run --example ironhouse   # shows every decision
//! ```

mod common;

use std::fs;

use common::{
    curve_client, drain_events, ensure, expect_event, expect_monitor_event, generate_certificates,
    handshake_monitor, last_endpoint, recv_within, secret_key, Result, ADMIT_TIMEOUT,
    REFUSE_WINDOW,
};
use zmq_auth::{
    create_certificates, load_certificate, load_certificates, require_zap, zmq, Mechanism,
    StatusCode, ThreadAuthenticator,
};

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }

    // Certificates, laid out as pyzmq's generate_certificates.py does (see the
    // generate_certificates example).
    let base = tempfile::tempdir()?;
    let (public_keys, private_keys) = generate_certificates(base.path())?;
    println!("certificates in {}:", base.path().display());
    for dir in [&public_keys, &private_keys] {
        let mut names: Vec<String> = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        println!(
            "  {}/: {}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            names.join(", ")
        );
    }
    // A certificate that was never put in public_keys/.
    let strangers = base.path().join("strangers");
    fs::create_dir(&strangers)?;
    let (_, stranger_secret) =
        create_certificates(&strangers, "stranger", &[("name", "stranger")])?;

    let server_cert = load_certificate(private_keys.join("server.key_secret"))?;
    let server_public = load_certificate(public_keys.join("server.key"))?;
    let client_cert = load_certificate(private_keys.join("client.key_secret"))?;
    let stranger_cert = load_certificate(&stranger_secret)?;
    let known = load_certificates(&public_keys)?;
    ensure(
        known.len() == 2 && known.contains_key(client_cert.public_key()),
        &format!(
            "public_keys/ holds {} keys, among them the client's {}",
            known.len(),
            client_cert.public_key()
        ),
    )?;

    let ctx = zmq::Context::new();
    // The ZAP handler must run in the same context as the server socket.
    let auth = ThreadAuthenticator::start(&ctx)?;
    // Start recording decisions (the checks below read them from auth.events()).
    let _ = auth.events();
    auth.allow(["127.0.0.1"])?;
    auth.configure_curve("*", &public_keys)?;
    println!("authenticator: allow list [127.0.0.1], CURVE clients from public_keys/");

    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_curve_server(true)?;
    server.set_curve_secretkey(secret_key(&server_cert)?)?;
    // ZAP domain "global", and refuse every client when no handler answers (without
    // this, libzmq would admit any CURVE client once the authenticator is gone).
    require_zap(&server, "global")?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;
    println!(
        "server: PULL bound to {endpoint}, CURVE server key {}, require_zap(\"global\")",
        server_cert.public_key()
    );

    // The client whose certificate is in public_keys/. It knows the server's public key
    // from public_keys/server.key.
    let client = curve_client(&ctx, &endpoint, &client_cert, server_public.public_key())?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = recv_within(&server, ADMIT_TIMEOUT)?
        .ok_or("the trusted client's message did not arrive within 5 s")?;
    ensure(
        &msg[..] == b"Hello",
        "server received the trusted client's message",
    )?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        user_id == client_cert.public_key(),
        &format!("client with trusted certificate admitted, User-Id={user_id:?} (its public key)"),
    )?;
    let name = msg.gets("name").unwrap_or("<none>").to_owned();
    ensure(
        name == "client",
        &format!("its certificate's metadata travels with each message: name={name:?}"),
    )?;
    let ev = expect_event(&auth, "a 200 for the trusted client", |e| {
        e.mechanism == Mechanism::Curve && e.status == StatusCode::Success
    })?;
    ensure(
        ev.user_id == client_cert.public_key(),
        &format!(
            "authenticator reported 200 {:?} for {}",
            ev.reason, ev.address
        ),
    )?;
    drain_events(&auth);

    // A client with a valid key pair and the right server key, but whose certificate is
    // not in public_keys/.
    let refused = curve_client(&ctx, &endpoint, &stranger_cert, server_public.public_key())?;
    let refused_monitor = handshake_monitor(&ctx, &refused, "ironhouse-stranger")?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = recv_within(&server, REFUSE_WINDOW)?;
    ensure(
        got.is_none(),
        "client with unknown certificate refused: no message within 500 ms",
    )?;
    let ev = expect_event(&auth, "a refusal of the unknown certificate", |e| {
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
    let status = expect_monitor_event(&refused_monitor, zmq::SocketEvent::HANDSHAKE_FAILED_AUTH)?;
    ensure(
        status == 400,
        &format!("the refused client was told: handshake failed, authentication status {status}"),
    )?;

    // With the authenticator stopped there is no handler to ask: require_zap makes the
    // server refuse even the trusted certificate instead of admitting anyone.
    drop(client);
    auth.stop()?;
    let server_monitor = handshake_monitor(&ctx, &server, "ironhouse-server")?;
    let late = curve_client(&ctx, &endpoint, &client_cert, server_public.public_key())?;
    late.send("Hello again", zmq::DONTWAIT)?;
    expect_monitor_event(
        &server_monitor,
        zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
    )?;
    ensure(
        recv_within(&server, REFUSE_WINDOW)?.is_none(),
        "authenticator stopped: the server refused a new client (failed handshake, no message)",
    )?;

    println!("ironhouse: all checks passed");
    // Sockets (linger 0) and the authenticator go before the context.
    drop((server_monitor, late, refused_monitor, refused, server));
    drop(auth);
    drop(ctx);
    Ok(())
}
