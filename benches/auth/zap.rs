//! The ZAP load generator and the bare responder it is compared with.
//!
//! The generator is a DEALER connected to `inproc://zeromq.zap.01` in the responder's
//! context, speaking like libzmq's own ZAP client (an empty delimiter frame, then the
//! RFC 27 request) and keeping a fixed number of requests in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zmq_auth::zmq;
use zmq_auth::ZAP_ENDPOINT;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the generator sends: one mechanism, a domain, and credential sets used in turn.
#[derive(Clone)]
pub struct Workload {
    pub domain: Vec<u8>,
    pub mechanism: &'static [u8],
    /// Credential frames of each request, cycled (one empty set for NULL).
    pub credentials: Vec<Vec<Vec<u8>>>,
}

impl Workload {
    pub fn null(domain: &str) -> Workload {
        Workload {
            domain: domain.into(),
            mechanism: b"NULL",
            credentials: vec![Vec::new()],
        }
    }

    pub fn plain(domain: &str, users: &[(String, String)]) -> Workload {
        Workload {
            domain: domain.into(),
            mechanism: b"PLAIN",
            credentials: users
                .iter()
                .map(|(u, p)| vec![u.as_bytes().to_vec(), p.as_bytes().to_vec()])
                .collect(),
        }
    }

    pub fn curve(domain: &str, keys: &[[u8; 32]]) -> Workload {
        Workload {
            domain: domain.into(),
            mechanism: b"CURVE",
            credentials: keys.iter().map(|k| vec![k.to_vec()]).collect(),
        }
    }
}

fn send_request(d: &zmq::Socket, w: &Workload, i: usize) -> zmq::Result<()> {
    d.send(&b""[..], zmq::SNDMORE)?;
    d.send(&b"1.0"[..], zmq::SNDMORE)?;
    d.send(&b"1"[..], zmq::SNDMORE)?;
    d.send(&w.domain[..], zmq::SNDMORE)?;
    d.send(&b"127.0.0.1"[..], zmq::SNDMORE)?;
    d.send(&b""[..], zmq::SNDMORE)?;
    let creds = &w.credentials[i % w.credentials.len()];
    if creds.is_empty() {
        return d.send(w.mechanism, 0);
    }
    d.send(w.mechanism, zmq::SNDMORE)?;
    for (j, c) in creds.iter().enumerate() {
        let flags = if j + 1 == creds.len() {
            0
        } else {
            zmq::SNDMORE
        };
        d.send(&c[..], flags)?;
    }
    Ok(())
}

/// Receives one reply: `["", "1.0", id, status, text, user, metadata]`; returns the
/// status code frame's bytes as a small integer (0 when malformed).
fn recv_reply(d: &zmq::Socket, msg: &mut zmq::Message) -> zmq::Result<u16> {
    let mut idx = 0;
    let mut status = 0u16;
    loop {
        d.recv(msg, 0)?;
        if idx == 3 {
            status = std::str::from_utf8(msg)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
        idx += 1;
        if !msg.get_more() {
            break;
        }
    }
    Ok(if idx == 7 { status } else { 0 })
}

pub fn dealer(ctx: &zmq::Context) -> zmq::Result<zmq::Socket> {
    let d = ctx.socket(zmq::DEALER)?;
    d.set_linger(0)?;
    d.set_rcvtimeo(10_000)?; // a lost reply fails the run instead of hanging it
    d.connect(ZAP_ENDPOINT)?;
    Ok(d)
}

/// Sends `warmup + n` requests keeping `inflight` outstanding; returns requests/s over
/// the last `n` replies. Every reply must be 200.
pub fn throughput(
    ctx: &zmq::Context,
    w: &Workload,
    warmup: usize,
    n: usize,
    inflight: usize,
) -> Result<f64, BoxError> {
    let d = dealer(ctx)?;
    let total = warmup + n;
    let mut next = 0;
    while next < inflight.min(total) {
        send_request(&d, w, next)?;
        next += 1;
    }
    let mut msg = zmq::Message::new();
    let mut start = Instant::now();
    for received in 1..=total {
        let status = recv_reply(&d, &mut msg)?;
        if status != 200 {
            return Err(format!("reply {received}: status {status}, expected 200").into());
        }
        if received == warmup {
            start = Instant::now();
        }
        if next < total {
            send_request(&d, w, next)?;
            next += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Keeps `inflight` requests of `w` outstanding until `stop` is set, then collects the
/// outstanding replies. Returns the replies received before `stop` and the time that
/// took. Every reply must be 200.
pub fn keep_busy(
    ctx: &zmq::Context,
    w: &Workload,
    inflight: usize,
    stop: &AtomicBool,
) -> Result<(usize, Duration), BoxError> {
    let d = dealer(ctx)?;
    let mut msg = zmq::Message::new();
    let start = Instant::now();
    for i in 0..inflight {
        send_request(&d, w, i)?;
    }
    let (mut next, mut outstanding, mut answered) = (inflight, inflight, 0);
    let mut elapsed = None;
    while outstanding > 0 {
        let status = recv_reply(&d, &mut msg)?;
        outstanding -= 1;
        if status != 200 {
            return Err(format!("busy CURVE client: status {status}, expected 200").into());
        }
        if elapsed.is_none() {
            if stop.load(Ordering::Acquire) {
                elapsed = Some(start.elapsed());
            } else {
                answered += 1;
                send_request(&d, w, next)?;
                next += 1;
                outstanding += 1;
            }
        }
    }
    Ok((answered, elapsed.unwrap_or_else(|| start.elapsed())))
}

/// One request at a time for `duration`: every round trip, in order.
pub fn round_trips_for(
    ctx: &zmq::Context,
    w: &Workload,
    duration: Duration,
) -> Result<Vec<Duration>, BoxError> {
    let d = dealer(ctx)?;
    let mut msg = zmq::Message::new();
    let mut times = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < duration {
        let t = Instant::now();
        send_request(&d, w, i)?;
        let status = recv_reply(&d, &mut msg)?;
        if status != 200 {
            return Err(format!("status {status}, expected 200").into());
        }
        times.push(t.elapsed());
        i += 1;
    }
    Ok(times)
}

/// Sends one request and returns its status.
pub fn status_of(ctx: &zmq::Context, w: &Workload) -> Result<u16, BoxError> {
    let d = dealer(ctx)?;
    let mut msg = zmq::Message::new();
    send_request(&d, w, 0)?;
    Ok(recv_reply(&d, &mut msg)?)
}

/// One request at a time: the median round trip.
pub fn round_trip(ctx: &zmq::Context, w: &Workload, n: usize) -> Result<Duration, BoxError> {
    let d = dealer(ctx)?;
    let mut msg = zmq::Message::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        send_request(&d, w, i)?;
        let status = recv_reply(&d, &mut msg)?;
        if status != 200 {
            return Err(format!("status {status}, expected 200").into());
        }
        if i >= n / 10 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// The floor: a ROUTER bound to the ZAP endpoint that answers every request 200 with
/// as little work as the `zmq` crate allows (routing id and request id are moved, not
/// copied). Stopped by [`stop_bare`].
pub struct Bare {
    handle: Option<JoinHandle<zmq::Result<()>>>,
    ctx: zmq::Context,
}

pub fn start_bare(ctx: &zmq::Context) -> zmq::Result<Bare> {
    start_bare_as::<false>(ctx)
}

/// [`start_bare`]; with `key_user_id`, a CURVE request's User-Id is its key's Z85 text
/// (40 bytes, as a CURVE admission's is), not `anonymous`: the reply ZAP requires of a
/// real handler, which tells that reply's cost apart from the decision's.
pub fn start_bare_with(ctx: &zmq::Context, key_user_id: bool) -> zmq::Result<Bare> {
    if key_user_id {
        start_bare_as::<true>(ctx)
    } else {
        start_bare_as::<false>(ctx)
    }
}

/// The responder, compiled apart for each reply: the plain floor must not pay even a
/// test of the other's flag (measured: it did, about 120 instructions per request).
fn start_bare_as<const KEY_USER_ID: bool>(ctx: &zmq::Context) -> zmq::Result<Bare> {
    let r = ctx.socket(zmq::ROUTER)?;
    r.set_linger(0)?;
    r.bind(ZAP_ENDPOINT)?;
    let handle = std::thread::Builder::new()
        .name("bare-zap".into())
        .spawn(move || -> zmq::Result<()> {
            let mut frames: Vec<zmq::Message> = Vec::with_capacity(16);
            loop {
                frames.clear();
                loop {
                    let mut m = zmq::Message::new();
                    r.recv(&mut m, 0)?;
                    let more = m.get_more();
                    frames.push(m);
                    if !more {
                        break;
                    }
                }
                if frames.len() == 3 && &frames[2][..] == b"STOP" {
                    return Ok(());
                }
                if frames.len() < 4 {
                    continue;
                }
                // (Nothing more than before for the plain floor: the credentials are
                // only looked at for the User-Id.)
                let mut uid = [0u8; 40];
                let uid: &[u8] = if KEY_USER_ID {
                    match frames.get(8).map(|k| <[u8; 32]>::try_from(&k[..])) {
                        Some(Ok(key)) => {
                            z85_into(&key, &mut uid);
                            &uid
                        }
                        _ => b"anonymous",
                    }
                } else {
                    b"anonymous"
                };
                let mut it = frames.drain(..);
                let (Some(rid), Some(_delim), Some(_version), Some(id)) =
                    (it.next(), it.next(), it.next(), it.next())
                else {
                    continue;
                };
                drop(it);
                r.send(rid, zmq::SNDMORE)?;
                r.send(&b""[..], zmq::SNDMORE)?;
                r.send(&b"1.0"[..], zmq::SNDMORE)?;
                r.send(id, zmq::SNDMORE)?;
                r.send(&b"200"[..], zmq::SNDMORE)?;
                r.send(&b"OK"[..], zmq::SNDMORE)?;
                r.send(uid, zmq::SNDMORE)?;
                r.send(&b""[..], 0)?;
            }
        })
        .expect("spawn the bare responder");
    Ok(Bare {
        handle: Some(handle),
        ctx: ctx.clone(),
    })
}

/// Z85 of a 32-byte key into `out`, plainly (a responder's minimum; no tables).
pub fn z85_into(key: &[u8; 32], out: &mut [u8; 40]) {
    const DIGITS: &[u8; 85] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    for (chunk, digits) in key.chunks_exact(4).zip(out.chunks_exact_mut(5)) {
        let mut v = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        for d in digits.iter_mut().rev() {
            *d = DIGITS[(v % 85) as usize];
            v /= 85;
        }
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let Some(h) = self.handle.take() else { return };
        if let Ok(d) = dealer(&self.ctx) {
            let _ = d.send_multipart([&b""[..], b"STOP"], 0);
            let _ = h.join();
        }
    }
}

/// One request at a time, request `i` with credential set `i` of `w`: every round trip,
/// in order (`n` requests, no warm-up). Every reply must be 200.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub fn round_trips_n(
    ctx: &zmq::Context,
    w: &Workload,
    n: usize,
) -> Result<Vec<Duration>, BoxError> {
    let d = dealer(ctx)?;
    let mut msg = zmq::Message::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        send_request(&d, w, i)?;
        let status = recv_reply(&d, &mut msg)?;
        if status != 200 {
            return Err(format!("request {i}: status {status}, expected 200").into());
        }
        times.push(t.elapsed());
    }
    Ok(times)
}

/// Sends the first request of `w` again and again, one at a time, until the reply's
/// status is `want`; returns the time from `since` to that reply. Fails after `limit`.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub fn until_status(
    ctx: &zmq::Context,
    w: &Workload,
    want: u16,
    since: Instant,
    limit: Duration,
) -> Result<Duration, BoxError> {
    let d = dealer(ctx)?;
    let mut msg = zmq::Message::new();
    loop {
        send_request(&d, w, 0)?;
        let status = recv_reply(&d, &mut msg)?;
        if status == want {
            return Ok(since.elapsed());
        }
        if since.elapsed() > limit {
            return Err(format!("no status {want} after {limit:?} (last {status})").into());
        }
    }
}
