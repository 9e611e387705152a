//! Revocation of an established peer: ZAP runs only at the handshake, so a client whose
//! key is revoked keeps its open connection. This ROUTER server asks
//! `ThreadAuthenticator::still_admits` for every message and stops serving a peer whose
//! certificate was removed from the trusted directory while it was connected.
//!
//! ```text
//! cargo run --example revocation
//! ```

mod common;

use std::time::Duration;

use common::{ensure, generate_certificates, last_endpoint, recv_within, secret_key, Result};
use zmq_auth::{load_certificate, require_zap, zmq, Mechanism, ThreadAuthenticator};

/// Serves one message if its sender is still admitted: returns what was done.
fn serve_one(auth: &ThreadAuthenticator, server: &zmq::Socket) -> Result<Option<bool>> {
    let Some(identity) = recv_within(server, Duration::from_secs(2))? else {
        return Ok(None);
    };
    let mut body = server.recv_msg(0)?;
    let user_id = body.gets("User-Id").unwrap_or("").to_string();
    if auth.still_admits("revocation", Mechanism::Curve, &user_id) {
        server.send(&identity[..], zmq::SNDMORE)?;
        server.send(&b"served"[..], 0)?;
        Ok(Some(true))
    } else {
        println!("dropping a message from {user_id}: no longer admitted");
        Ok(Some(false))
    }
}

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }
    let base = tempfile::tempdir()?;
    let (public_keys, private_keys) = generate_certificates(base.path())?;
    let server_cert = load_certificate(private_keys.join("server.key_secret"))?;
    let client_cert = load_certificate(private_keys.join("client.key_secret"))?;

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.set_reload_interval(Duration::from_millis(100))?;
    auth.configure_curve("*", &public_keys)?;

    let server = ctx.socket(zmq::ROUTER)?;
    server.set_linger(0)?;
    server.set_curve_server(true)?;
    server.set_curve_secretkey(secret_key(&server_cert)?)?;
    require_zap(&server, "revocation")?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;

    let client = ctx.socket(zmq::DEALER)?;
    client.set_linger(0)?;
    client.set_curve_publickey(client_cert.public_key_bytes())?;
    client.set_curve_secretkey(secret_key(&client_cert)?)?;
    client.set_curve_serverkey(server_cert.public_key_bytes())?;
    client.connect(&endpoint)?;

    client.send("request 1", 0)?;
    ensure(
        serve_one(&auth, &server)? == Some(true),
        "the trusted client is served",
    )?;
    ensure(
        recv_within(&client, Duration::from_secs(2))?.is_some(),
        "the client got its answer",
    )?;

    // Revoke: remove its certificate. The connection stays open (ZAP is not asked again).
    std::fs::remove_file(public_keys.join("client.key"))?;
    println!("client.key removed from {}", public_keys.display());
    let mut dropped = false;
    for i in 2..50 {
        client.send(format!("request {i}").as_str(), 0)?;
        match serve_one(&auth, &server)? {
            Some(true) => {
                recv_within(&client, Duration::from_secs(2))?;
                std::thread::sleep(Duration::from_millis(50)); // next request, a bit later
            }
            Some(false) => {
                dropped = true;
                break;
            }
            None => return Err("FAILED: the open connection delivered nothing".into()),
        }
    }
    ensure(
        dropped,
        "after the revocation, the still-open connection is not served",
    )?;
    ensure(
        recv_within(&client, Duration::from_millis(500))?.is_none(),
        "the revoked client gets no answer",
    )?;
    Ok(())
}
