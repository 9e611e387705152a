//! Driving the sans-IO `Authenticator` from your own poll loop, without the
//! authenticator thread.
//!
//! The application binds a ROUTER socket to `ZAP_ENDPOINT` itself and polls it together
//! with its server socket. Each ZAP request is a routing id, an empty delimiter and the
//! RFC 27 frames; the loop hands the frames to `Authenticator::handle_zap_message` and
//! sends the envelope back followed by the reply frames. The client sockets live in the
//! same thread: libzmq's I/O threads run their handshakes, so the one application thread
//! only has to keep answering ZAP requests.
//!
//! ```text
//! cargo run --example custom_loop
//! RUST_LOG=zmq_auth=debug cargo run --example custom_loop   # shows every decision
//! ```

mod common;

use std::time::{Duration, Instant};

use common::{ensure, last_endpoint, plain_client, Result, ADMIT_TIMEOUT, REFUSE_WINDOW};
use zmq_auth::{parse_request, zmq, Authenticator, ZAP_ENDPOINT};

/// One answered ZAP request, kept so the checks below can look at it.
#[derive(Debug)]
struct Decision {
    mechanism: String,
    address: String,
    status: u16,
    reason: String,
    user_id: String,
}

/// The application's own server: a ZAP socket, a data socket and the policy.
struct Server {
    zap: zmq::Socket,
    data: zmq::Socket,
    auth: Authenticator,
    decisions: Vec<Decision>,
}

impl Server {
    /// Answers ZAP requests until a message arrives on the data socket (returned) or
    /// `timeout` passes (`None`).
    fn serve_until_message(&mut self, timeout: Duration) -> Result<Option<zmq::Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (zap_ready, data_ready) = {
                let mut items = [
                    self.zap.as_poll_item(zmq::POLLIN),
                    self.data.as_poll_item(zmq::POLLIN),
                ];
                zmq::poll(&mut items, left.as_millis() as i64)?;
                (items[0].is_readable(), items[1].is_readable())
            };
            if zap_ready {
                self.answer_zap_request()?;
            }
            if data_ready {
                return Ok(Some(self.data.recv_msg(zmq::DONTWAIT)?));
            }
            if !zap_ready && left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// Receives one ZAP request, decides it, sends the reply.
    fn answer_zap_request(&mut self) -> Result {
        let frames = self.zap.recv_multipart(zmq::DONTWAIT)?;
        // A ROUTER prepends the sender's routing id; libzmq then sends an empty
        // delimiter frame (REQ-style) before the RFC 27 frames.
        let Some((routing_id, rest)) = frames.split_first() else {
            return Ok(());
        };
        let delimited = rest.first().is_some_and(|f| f.is_empty());
        let body: Vec<&[u8]> = rest[usize::from(delimited)..]
            .iter()
            .map(Vec::as_slice)
            .collect();

        // Every request gets a reply, however malformed; the policy does all the work.
        let reply = self.auth.handle_zap_message(&body);

        if let Ok(req) = parse_request(&body) {
            self.decisions.push(Decision {
                mechanism: String::from_utf8_lossy(req.mechanism).into_owned(),
                address: String::from_utf8_lossy(req.address).into_owned(),
                status: reply.status_code(),
                reason: reply.status_text().to_owned(),
                user_id: reply.user_id().to_owned(),
            });
        }
        let envelope: &[&[u8]] = if delimited {
            &[routing_id, b""]
        } else {
            &[routing_id]
        };
        let out = envelope.iter().copied().chain(reply.frames());
        self.zap.send_multipart(out, zmq::DONTWAIT)?;
        Ok(())
    }
}

fn main() -> Result {
    env_logger::init();
    let ctx = zmq::Context::new();

    let mut auth = Authenticator::new();
    auth.allow(["127.0.0.1"])?;
    auth.configure_plain("*", [("admin", "correct-horse")])?;

    // Our own ZAP handler socket. It must be bound before any server socket handshakes.
    let zap = ctx.socket(zmq::ROUTER)?;
    zap.set_linger(0)?;
    zap.bind(ZAP_ENDPOINT)?;
    println!("application: ROUTER bound to {ZAP_ENDPOINT}, answering ZAP from its own loop");

    let data = ctx.socket(zmq::PULL)?;
    data.set_linger(0)?;
    data.set_plain_server(true)?;
    data.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&data)?;
    println!("server: PULL bound to {endpoint}, PLAIN server (admin/correct-horse)");

    let mut server = Server {
        zap,
        data,
        auth,
        decisions: Vec::new(),
    };

    // The right password.
    let client = plain_client(&ctx, &endpoint, "admin", "correct-horse")?;
    client.send("Hello", zmq::DONTWAIT)?;
    let mut msg = server
        .serve_until_message(ADMIT_TIMEOUT)?
        .ok_or("the message of the client with the right password did not arrive within 5 s")?;
    let user_id = msg.gets("User-Id").unwrap_or("<none>").to_owned();
    ensure(
        &msg[..] == b"Hello" && user_id == "admin",
        &format!("client with the right password admitted, User-Id={user_id:?}"),
    )?;
    let d = server
        .decisions
        .iter()
        .find(|d| d.mechanism == "PLAIN")
        .ok_or("FAILED: the loop answered no PLAIN request")?;
    ensure(
        d.status == 200 && d.user_id == "admin",
        &format!(
            "the loop answered {} {:?} for {} from {}",
            d.status, d.reason, d.mechanism, d.address
        ),
    )?;
    server.decisions.clear();

    // The wrong password.
    let refused = plain_client(&ctx, &endpoint, "admin", "wrong-guess")?;
    refused.send("Let me in", zmq::DONTWAIT)?;
    let got = server.serve_until_message(REFUSE_WINDOW)?;
    ensure(
        got.is_none(),
        "client with the wrong password refused: no message within 500 ms",
    )?;
    let d = server
        .decisions
        .iter()
        .find(|d| d.mechanism == "PLAIN")
        .ok_or("FAILED: the loop answered no request for the refused client")?;
    ensure(
        d.status == 400 && d.reason == "Invalid password" && d.user_id.is_empty(),
        &format!(
            "the loop answered {} {:?} for {} from {}",
            d.status, d.reason, d.mechanism, d.address
        ),
    )?;

    println!("custom_loop: all checks passed");
    // Sockets (linger 0) go before the context, so exit never waits on the network.
    drop((refused, client, server));
    drop(ctx);
    Ok(())
}
