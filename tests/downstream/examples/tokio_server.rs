//! A tokio CURVE server on tmq 0.5, guarded by zmq-auth.
//!
//! tmq (like async_zmq) is built on rust-zmq 0.10, so the application depends on
//! `zmq-auth = { version = "0.1", default-features = false, features = ["zmq-0-10"] }`
//! and the Cargo `links` override of the README (zmq 0.10's own libzmq has no CURVE).
//!
//! What it shows: a ROUTER server whose trusted clients are the certificates in a
//! directory (`configure_curve`), made fail-closed with `require_zap` before it binds;
//! the authenticator's decision events read on a blocking-pool thread and handed to a
//! tokio task over a tokio channel, so no runtime thread ever blocks on them; a trusted
//! client answered, an untrusted one refused. Exits 0 when all of that was seen.
//!
//! `cargo run --example tokio_server` (from tests/downstream).

use std::error::Error;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tmq::{dealer, FromZmqSocket, Multipart};
use zmq_auth::crossbeam_channel as crossbeam;
use tokio::sync::mpsc;
use tokio::time::timeout;
use zmq_auth::{
    create_certificates, load_certificate, require_zap, AuthEvent, Certificate, StatusCode,
    ThreadAuthenticator,
};

type BoxError = Box<dyn Error + Send + Sync>;

/// How long any step that must happen may take.
const STEP: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if !zmq_auth::curve_available() {
        let required = std::env::var("ZMQ_AUTH_REQUIRE_CURVE").is_ok_and(|v| v == "1");
        eprintln!(
            "tokio_server: the linked libzmq has no CURVE (zmq 0.10 built its own); \
             apply the README's `links` override to use the system libzmq"
        );
        return if required { Err("CURVE required".into()) } else { Ok(()) };
    }

    // Keys: the server's pair, a trusted client and an untrusted one. Only the trusted
    // client's public certificate goes into the directory the server trusts.
    let keys = tempfile::tempdir()?;
    let trusted_dir = tempfile::tempdir()?;
    let (_, server_secret) = create_certificates(keys.path(), "server", &[])?;
    let (alice_public, alice_secret) = create_certificates(keys.path(), "alice", &[])?;
    let (_, mallory_secret) = create_certificates(keys.path(), "mallory", &[])?;
    std::fs::copy(&alice_public, trusted_dir.path().join("alice.key"))?;
    let server_cert = load_certificate(&server_secret)?;

    // tmq's Context is rust-zmq 0.10's, the one zmq-auth was built with.
    let ctx = tmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_curve("*", trusted_dir.path())?;

    // Decision events: the crossbeam receiver blocks, so it is read on tokio's blocking
    // pool and forwarded; the async task below only awaits the tokio channel.
    let events = auth.events();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<AuthEvent>();
    let bridge = tokio::task::spawn_blocking(move || loop {
        // Ends when the auditor is gone (checked every 200 ms) or the stream ends.
        match events.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => {
                if event_tx.send(event).is_err() {
                    break;
                }
            }
            Err(crossbeam::RecvTimeoutError::Timeout) if !event_tx.is_closed() => {}
            Err(_) => break,
        }
    });
    let (decided_tx, mut decided_rx) = mpsc::unbounded_channel::<(StatusCode, String)>();
    let auditor = tokio::spawn(async move {
        while let Some(event) = event_rx.recv().await {
            println!(
                "auth event: {:?} {} {:?} from {} ({})",
                event.mechanism, event.status.as_u16(), event.user_id, event.address, event.reason
            );
            let _ = decided_tx.send((event.status, event.user_id));
        }
    });

    // The server socket is made with zmq itself, because `require_zap` must run before
    // `bind` and tmq's builder has no hook between the two; tmq then wraps it.
    let raw = ctx.socket(zmq::ROUTER)?;
    raw.set_curve_server(true)?;
    raw.set_curve_secretkey(server_cert.secret_key_bytes().ok_or("no secret key")?)?;
    require_zap(&raw, "global")?; // no handler answering → refused, not admitted
    raw.bind("tcp://127.0.0.1:*")?;
    let endpoint = raw.get_last_endpoint()?.map_err(|_| "endpoint is not UTF-8")?;
    let mut server = tmq::router::Router::from_zmq_socket(raw)?;
    println!("server: CURVE ROUTER on {endpoint}, trusting {}", trusted_dir.path().display());

    // The untrusted client first: its refusal must be seen while the server stays quiet.
    let mut mallory = client(&ctx, &server_cert, &load_certificate(&mallory_secret)?, &endpoint)?;
    mallory.send(vec!["let me in"]).await?;
    let (status, _) = timeout(STEP, decided_rx.recv()).await?.ok_or("event stream ended")?;
    if status != StatusCode::AuthenticationFailure {
        return Err(format!("untrusted client: expected 400, got {}", status.as_u16()).into());
    }
    println!("mallory (untrusted): refused with 400");

    let alice_cert = load_certificate(&alice_secret)?;
    let mut alice = client(&ctx, &server_cert, &alice_cert, &endpoint)?;
    alice.send(vec!["hello"]).await?;
    let (status, user_id) = timeout(STEP, decided_rx.recv()).await?.ok_or("event stream ended")?;
    if status != StatusCode::Success || user_id != alice_cert.public_key() {
        return Err(format!("trusted client: got {} {user_id:?}", status.as_u16()).into());
    }

    // The server answers what it receives; only alice's message can be there.
    let mut request = timeout(STEP, server.next()).await?.ok_or("server stream ended")??;
    let routing_id = request.pop_front().ok_or("no routing frame")?;
    let mut body = request.pop_front().ok_or("no body")?;
    let sender = body.gets("User-Id").unwrap_or_default().to_string();
    if sender != alice_cert.public_key() || &*body != b"hello" {
        return Err(format!("unexpected message from {sender:?}").into());
    }
    server.send(Multipart::from(vec![routing_id, zmq::Message::from("welcome")])).await?;
    let reply = timeout(STEP, alice.next()).await?.ok_or("client stream ended")??;
    println!(
        "alice (trusted): admitted as {sender}, answered {:?}",
        reply.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect::<Vec<_>>()
    );

    // Nothing from mallory ever reached the server.
    if let Ok(Some(extra)) = timeout(Duration::from_millis(300), server.next()).await {
        return Err(format!("unexpected extra message: {} frames", extra?.len()).into());
    }
    drop((alice, mallory, server));
    auth.stop()?;
    auditor.abort(); // closes the tokio channel: the bridge sees it and returns
    let _ = auditor.await;
    bridge.await?;
    println!("tokio_server: trusted client admitted, untrusted refused");
    Ok(())
}

/// A DEALER with the given client certificate, connected to the server.
fn client(
    ctx: &tmq::Context,
    server: &Certificate,
    me: &Certificate,
    endpoint: &str,
) -> Result<tmq::dealer::Dealer, BoxError> {
    let socket = dealer(ctx)
        .set_linger(0)
        .set_curve_serverkey(server.public_key_bytes())
        .set_curve_publickey(me.public_key_bytes())
        .set_curve_secretkey(me.secret_key_bytes().ok_or("no secret key")?)
        .connect(endpoint)?;
    Ok(socket)
}
