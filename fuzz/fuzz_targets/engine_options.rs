//! `EngineOptions` and `limit_failures` values on a running `ThreadAuthenticator`: start
//! it with options from the input, set the lock-out, and send PLAIN requests straight to
//! the ZAP endpoint (as libzmq does, over a DEALER socket). Whatever the values, every
//! request gets its reply and the handler stays alive (DESIGN §5 rule 9).
//!
//! Input: `pool deadline max window ban (address|password)*`, each value picked from a
//! table of edges (0, 1, huge, `Duration::MAX`). Slow (a context and threads per input):
//! this target is for the values, `limits` for the lock-out's logic.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator, ZAP_ENDPOINT};

const POOL: [usize; 8] = [0, 1, 2, 4, 3, 1 << 40, usize::MAX / 16 + 1, usize::MAX];

fn duration(sel: u8) -> Duration {
    match sel % 8 {
        0 => Duration::ZERO,
        1 => Duration::from_nanos(1),
        2 => Duration::from_millis(1),
        3 => Duration::from_secs(1),
        4 => Duration::from_secs(3600),
        5 => Duration::from_secs(u64::MAX / 2),
        6 => Duration::MAX,
        _ => Duration::from_millis(u64::from(sel)),
    }
}

/// `ZMQ_AUTH_FUZZ_SKIP_KNOWN=1`: skip the values known to crash before their fix
/// (FUZZING.md): a pool of more than 1024 threads, a ban that overflows `Instant`.
fn skip_known() -> bool {
    std::env::var_os("ZMQ_AUTH_FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1")
}

fuzz_target!(|data: &[u8]| {
    let Some((&[pool, deadline, max, window, ban], ops)) = data.split_first_chunk::<5>() else {
        return;
    };
    let pool = POOL[usize::from(pool) % POOL.len()];
    let deadline = duration(deadline);
    let max = u32::from(max % 4);
    let (window, ban) = (duration(window), duration(ban));
    if skip_known()
        && (pool > 1024
            || std::time::Instant::now()
                .checked_add(ban.saturating_mul(2))
                .is_none())
    {
        return;
    }
    // The table has no size between 4 and 2^40: a million threads on a shared machine
    // would be a test of the machine. The huge sizes must fail (or be clamped) cleanly.
    let options = EngineOptions::default().pool_size(pool).deadline(deadline);
    let ctx = zmq::Context::new();
    let auth = match ThreadAuthenticator::start_with(&ctx, options) {
        Ok(a) => a,
        Err(_) => return, // refusing a value is fine
    };
    assert!(auth.is_alive());
    auth.configure_plain("*", [("admin", "right")]).unwrap();
    let limited = auth.limit_failures(max, window, ban).is_ok();
    let client = ctx.socket(zmq::DEALER).unwrap();
    client.set_rcvtimeo(10_000).unwrap();
    client.set_linger(0).unwrap();
    client.connect(ZAP_ENDPOINT).unwrap();
    for (i, &op) in ops.iter().take(8).enumerate() {
        let address: &[u8] = if op & 1 == 0 {
            b"10.0.0.1"
        } else {
            b"10.0.0.2"
        };
        let password: &[u8] = if op & 2 == 0 { b"right" } else { b"wrong" };
        let id = i.to_string();
        let frames: [&[u8]; 9] = [
            b"",
            b"1.0",
            id.as_bytes(),
            b"",
            address,
            b"",
            b"PLAIN",
            b"admin",
            password,
        ];
        client.send_multipart(frames, 0).unwrap();
        let reply = client.recv_multipart(0).unwrap_or_else(|e| {
            panic!(
                "no reply to request {i} ({e}); alive: {}; pool {pool}, deadline {deadline:?}, \
                 limit_failures({max}, {window:?}, {ban:?}) -> {limited}",
                auth.is_alive()
            )
        });
        assert_eq!(reply.len(), 7, "{reply:?}");
        assert_eq!(reply[2], id.as_bytes());
        let status = std::str::from_utf8(&reply[3]).unwrap_or("?");
        let text = std::str::from_utf8(&reply[4]).unwrap_or("?");
        match (op & 2 == 0, status, text) {
            (true, "200", "OK") | (false, "400", "Invalid password") => {}
            (_, "400", "Too many failures") if limited => {}
            other => panic!("request {i}: {other:?}"),
        }
    }
    assert!(auth.is_alive(), "the ZAP thread ended");
    auth.stop().unwrap();
});
