//! Issue 19 rows: a burst of 1,000 requests to an instant callback (admitted whole, or
//! refused by count as before), and an unknown PLAIN user in a table of 500,000 users.

use std::time::{Duration, Instant};

use zmq_auth::{zmq, ThreadAuthenticator, ZAP_ENDPOINT};

use crate::table::{ms, us, Row, Target};
use crate::zap::BoxError;
use crate::{Params, DOMAIN};

/// Requests in the burst row.
pub const BURST: usize = 1_000;
/// Users in the unknown-user row.
pub const USERS: usize = 500_000;

/// A DEALER speaking RFC 27 to the handler of `ctx`.
fn dealer(ctx: &zmq::Context) -> Result<zmq::Socket, BoxError> {
    let s = ctx.socket(zmq::DEALER)?;
    s.set_linger(0)?;
    s.set_rcvtimeo(30_000)?;
    s.set_sndhwm(0)?;
    s.set_rcvhwm(0)?;
    s.connect(ZAP_ENDPOINT)?;
    Ok(s)
}

fn send(s: &zmq::Socket, id: &[u8], mechanism: &[u8], creds: &[&[u8]]) -> Result<(), BoxError> {
    let mut frames: Vec<&[u8]> = vec![
        b"",
        b"1.0",
        id,
        DOMAIN.as_bytes(),
        b"127.0.0.1",
        b"",
        mechanism,
    ];
    frames.extend_from_slice(creds);
    s.send_multipart(frames, 0)?;
    Ok(())
}

/// The status code of the next reply.
fn status(s: &zmq::Socket) -> Result<Vec<u8>, BoxError> {
    let r = s.recv_multipart(0).map_err(|e| format!("no reply: {e}"))?;
    r.get(3).cloned().ok_or_else(|| "short reply".into())
}

/// One burst: admitted with 200, refused 300 (busy), time until every request was
/// answered.
pub struct Burst {
    pub admitted: usize,
    pub busy: usize,
    pub all_answered: Duration,
}

/// `n` CURVE requests sent at once to an instant callback, default `EngineOptions`.
pub fn burst(n: usize) -> Result<Burst, BoxError> {
    let keys: Vec<[u8; 32]> = (0..n)
        .map(|i| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k
        })
        .collect();
    burst_of(&keys, |auth| {
        auth.configure_curve_callback(DOMAIN, |_, _| true)
    })
}

/// One CURVE request per key, sent at once to an authenticator with default
/// `EngineOptions` that `configure` set up.
pub fn burst_of(
    keys: &[[u8; 32]],
    configure: impl FnOnce(&ThreadAuthenticator) -> zmq_auth::Result<()>,
) -> Result<Burst, BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    configure(&auth)?;
    let s = dealer(&ctx)?;
    let t = Instant::now();
    for k in keys {
        send(&s, b"1", b"CURVE", &[k])?;
    }
    let (mut admitted, mut busy) = (0, 0);
    for _ in 0..keys.len() {
        match &status(&s)?[..] {
            b"200" => admitted += 1,
            b"300" => busy += 1,
            _ => {}
        }
    }
    let all_answered = t.elapsed();
    auth.stop()?;
    Ok(Burst {
        admitted,
        busy,
        all_answered,
    })
}

/// Mean ZAP round trip (1 in flight) of an unknown PLAIN user and of a known one, in a
/// plaintext table of `users` users.
pub fn unknown_user(users: usize, requests: usize) -> Result<(Duration, Duration), BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_plain(
        DOMAIN,
        (0..users).map(|i| (format!("user{i}"), format!("password-{i}-x"))),
    )?;
    let s = dealer(&ctx)?;
    let round = |user: &[u8], pw: &[u8], want: &[u8]| -> Result<Duration, BoxError> {
        // Warm-up, then timed.
        for _ in 0..requests / 10 + 1 {
            send(&s, b"1", b"PLAIN", &[user, pw])?;
            status(&s)?;
        }
        let t = Instant::now();
        for _ in 0..requests {
            send(&s, b"1", b"PLAIN", &[user, pw])?;
            if status(&s)? != want {
                return Err("unexpected status in the unknown-user row".into());
            }
        }
        Ok(t.elapsed() / u32::try_from(requests.max(1)).unwrap_or(u32::MAX))
    };
    let unknown = round(b"nobody-here", b"guess", b"400")?;
    let known = round(b"user7", b"password-7-x", b"200")?;
    auth.stop()?;
    Ok((unknown, known))
}

/// The rows, for the full run.
pub fn rows(
    p: &Params,
    rows: &mut Vec<Row>,
    summary: &mut Vec<(String, f64)>,
) -> Result<(), BoxError> {
    eprintln!("burst of {BURST} to an instant callback...");
    let mut bursts = Vec::new();
    for _ in 0..p.rounds.min(5) {
        bursts.push(burst(BURST)?);
    }
    let worst = bursts.iter().map(|b| b.admitted).min().unwrap_or(0);
    let mut times: Vec<Duration> = bursts.iter().map(|b| b.all_answered).collect();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    summary.push(("burst_admitted_min".into(), worst as f64));
    summary.push(("burst_all_answered_ms".into(), median.as_secs_f64() * 1e3));
    rows.push(Row {
        name: format!(
            "burst of {BURST} CURVE requests, instant callback: admitted (fewest of {})",
            bursts.len()
        ),
        floor: format!("{BURST}"),
        ours: format!("{worst} (all answered in {})", ms(median)),
        ratio: Some(worst as f64 / BURST as f64),
        target: Target::AtLeast(1.0),
    });

    let users = if p.quick { USERS / 10 } else { USERS };
    eprintln!("unknown PLAIN user at {users} users...");
    let requests = if p.quick { 200 } else { 2_000 };
    let (unknown, known) = unknown_user(users, requests)?;
    summary.push((
        "plain_unknown_user_rtt_us".into(),
        unknown.as_secs_f64() * 1e6,
    ));
    summary.push(("plain_known_user_rtt_us".into(), known.as_secs_f64() * 1e6));
    rows.push(Row {
        name: format!("unknown PLAIN user, {users} plaintext users: round trip (1 in flight)"),
        floor: format!("{} (known user)", us(known)),
        ours: us(unknown),
        ratio: Some(unknown.as_secs_f64() / known.as_secs_f64()),
        target: Target::Info,
    });
    Ok(())
}
