//! End to end: complete CURVE handshakes over TCP loopback, each followed by one
//! request/reply, with a fixed number of clients connecting at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use zmq_auth::zmq;

use crate::zap::BoxError;

/// An echoing CURVE ROUTER server on `tcp://127.0.0.1:*` in `ctx` (whose ZAP handler is
/// whatever the caller started), served by a thread until dropped.
struct Server {
    endpoint: String,
    public: [u8; 32],
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<zmq::Result<()>>>,
}

impl Server {
    fn start(ctx: &zmq::Context, domain: &str) -> Result<Server, BoxError> {
        let pair = zmq::CurveKeyPair::new()?;
        let s = ctx.socket(zmq::ROUTER)?;
        s.set_linger(0)?;
        s.set_curve_server(true)?;
        s.set_curve_secretkey(&pair.secret_key)?;
        s.set_zap_domain(domain)?;
        s.bind("tcp://127.0.0.1:*")?;
        let endpoint = s
            .get_last_endpoint()?
            .map_err(|_| "endpoint is not UTF-8")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_t = Arc::clone(&stop);
        let handle = std::thread::spawn(move || -> zmq::Result<()> {
            while !stop_t.load(Ordering::Relaxed) {
                if s.poll(zmq::POLLIN, 50)? == 0 {
                    continue;
                }
                while let Ok(frames) = s.recv_multipart(zmq::DONTWAIT) {
                    s.send_multipart(frames, zmq::DONTWAIT)?;
                }
            }
            Ok(())
        });
        Ok(Server {
            endpoint,
            public: pair.public_key,
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Runs `warmup + n` handshakes (connect, CURVE handshake, ZAP, one message each way,
/// close) with `concurrency` clients at a time, from a separate client context.
/// Returns handshakes/s over the last `n`.
pub fn handshakes(
    server_ctx: &zmq::Context,
    domain: &str,
    clients: &[([u8; 32], [u8; 32])],
    warmup: usize,
    n: usize,
    concurrency: usize,
) -> Result<f64, BoxError> {
    let server = Server::start(server_ctx, domain)?;
    let cctx = zmq::Context::new();
    let total = warmup + n;
    let mut started = 0;
    let connect = |i: usize| -> zmq::Result<zmq::Socket> {
        let (public, secret) = &clients[i % clients.len()];
        let c = cctx.socket(zmq::DEALER)?;
        c.set_linger(0)?;
        c.set_curve_serverkey(&server.public)?;
        c.set_curve_publickey(public)?;
        c.set_curve_secretkey(secret)?;
        c.connect(&server.endpoint)?;
        c.send(&b"ping"[..], 0)?;
        Ok(c)
    };
    let mut live: Vec<zmq::Socket> = Vec::with_capacity(concurrency);
    while live.len() < concurrency.min(total) {
        live.push(connect(started)?);
        started += 1;
    }
    let mut done = 0;
    let mut start = Instant::now();
    let mut last_progress = Instant::now();
    while done < total {
        let ready: Vec<usize> = {
            let mut items: Vec<zmq::PollItem> =
                live.iter().map(|s| s.as_poll_item(zmq::POLLIN)).collect();
            zmq::poll(&mut items, 1000)?;
            items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.is_readable())
                .map(|(i, _)| i)
                .collect()
        };
        if ready.is_empty() && last_progress.elapsed().as_secs() >= 10 {
            return Err(format!("no handshake completed for 10 s ({done} done)").into());
        }
        for i in ready {
            let reply = live[i].recv_bytes(zmq::DONTWAIT)?;
            if reply != b"ping" {
                return Err("unexpected reply".into());
            }
            done += 1;
            last_progress = Instant::now();
            if done == warmup {
                start = Instant::now();
            }
            if started < total {
                live[i] = connect(started)?;
                started += 1;
            }
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(live);
    drop(cctx);
    drop(server);
    Ok(rate)
}
