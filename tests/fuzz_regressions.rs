//! The crashes the `limits` and `engine_options` fuzz targets found (now seeds in
//! fuzz/seeds/, FUZZING.md), as tests: the same settings and requests, through the
//! synchronous handler on the simulated clock the target uses
//! (`test_hooks::handle_zap_message_at`), or through the engine.
//!
//! They failed (or aborted the process) on the code before issue 18 findings 1 and 10
//! and the pool-size clamp were fixed.

use std::time::{Duration, Instant};

use zmq_auth::test_hooks::handle_zap_message_at;
use zmq_auth::Authenticator;

const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 86_400);

fn plain(auth: &mut Authenticator, address: &str, password: &str, now: Instant) -> (u16, String) {
    let request: [&[u8]; 8] = [
        b"1.0",
        b"1",
        b"",
        address.as_bytes(),
        b"",
        b"PLAIN",
        b"admin",
        password.as_bytes(),
    ];
    let reply = handle_zap_message_at(auth, &request, now);
    (reply.status_code(), reply.status_text().to_string())
}

fn too_many() -> (u16, String) {
    (400, "Too many failures".to_string())
}

/// Sets the limit; false when the value is refused (a valid design), which must leave
/// the handler without a lock-out.
fn limit(auth: &mut Authenticator, max: u32, window: Duration, ban: Duration) -> bool {
    auth.configure_plain("*", [("admin", "right")]).unwrap();
    match auth.limit_failures(max, window, ban) {
        Ok(()) => true,
        Err(e) => {
            assert!(matches!(e, zmq_auth::Error::InvalidConfig(_)), "{e:?}");
            false
        }
    }
}

/// `ban-overflow-found-by-libfuzzer`: `limit_failures(1, 1 s, Duration::MAX)`, one wrong
/// password. Before the fix, `now + ban` panicked.
#[test]
fn a_ban_of_duration_max_holds_and_does_not_panic() {
    let mut auth = Authenticator::new();
    let t0 = Instant::now();
    if !limit(&mut auth, 1, Duration::from_secs(1), Duration::MAX) {
        assert_eq!(
            plain(&mut auth, "10.0.0.1", "wrong", t0).1,
            "Invalid password"
        );
        assert_eq!(plain(&mut auth, "10.0.0.1", "right", t0).0, 200);
        return;
    }
    let now = t0 + Duration::from_millis(1);
    assert_eq!(
        plain(&mut auth, "10.0.0.1", "wrong", now),
        (400, "Invalid password".to_string())
    );
    assert_eq!(plain(&mut auth, "10.0.0.1", "right", now), too_many());
    let later = now + TEN_YEARS - Duration::from_secs(1);
    assert_eq!(plain(&mut auth, "10.0.0.1", "right", later), too_many());
    assert_eq!(plain(&mut auth, "10.0.0.2", "right", later).0, 200);
}

/// `ban-overflow-late-clock`: a finite ban (2^62 - 1 s) that still overflows `Instant`
/// when the refusal comes late on the clock.
#[test]
fn a_long_ban_late_on_the_clock_does_not_panic() {
    let mut auth = Authenticator::new();
    let ban = Duration::from_secs((1 << 62) - 1);
    if !limit(&mut auth, 1, Duration::from_secs(60), ban) {
        return;
    }
    let Some(late) = Instant::now().checked_add(Duration::from_secs(1 << 62)) else {
        return; // this platform's Instant cannot be that late
    };
    assert_eq!(
        plain(&mut auth, "10.0.0.1", "wrong", late).1,
        "Invalid password"
    );
    assert_eq!(plain(&mut auth, "10.0.0.1", "right", late), too_many());
}

/// `fixed-window-found-by-libfuzzer`: `limit_failures(4, 60 s, 60 s)`, refusals at +90 s,
/// +150 s and three at +180 s. The last four lie within 30 s: a ban must start (a fixed
/// window restarted at +180 s never banned).
#[test]
fn four_refusals_within_the_window_ban_whatever_came_before() {
    let mut auth = Authenticator::new();
    assert!(limit(
        &mut auth,
        4,
        Duration::from_secs(60),
        Duration::from_secs(60)
    ));
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    for s in [90, 150, 180, 180, 180] {
        assert_eq!(
            plain(&mut auth, "10.0.0.1", "wrong", at(s)).1,
            "Invalid password"
        );
    }
    assert_eq!(plain(&mut auth, "10.0.0.1", "right", at(180)), too_many());
    assert_eq!(plain(&mut auth, "10.0.0.1", "right", at(239)), too_many());
    assert_eq!(plain(&mut auth, "10.0.0.1", "right", at(241)).0, 200);
}

/// `engine_options/pool-size-usize-max`: `pool_size(usize::MAX)` made `start_with`
/// panic (`size * QUEUE_PER_THREAD` overflows in src/engine/pool.rs). Any answer but a
/// panic will do: an error, or a clamped pool that serves.
#[test]
fn a_huge_pool_size_is_refused_or_clamped() {
    use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};
    let ctx = zmq::Context::new();
    let options = EngineOptions::default().pool_size(usize::MAX);
    if let Ok(auth) = ThreadAuthenticator::start_with(&ctx, options) {
        assert!(auth.is_alive());
        auth.stop().unwrap();
    }
}

/// `engine_options/pool-size-2-pow-40`: `pool_size(1 << 40)` asked for a job channel of
/// 2^44 slots; the allocation fails and the process aborts (so before the fix this test
/// aborts the whole test binary: keep it ignored until then).
#[test]
fn a_pool_size_of_two_to_the_forty_is_refused_or_clamped() {
    use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};
    let ctx = zmq::Context::new();
    let options = EngineOptions::default().pool_size(1 << 40);
    if let Ok(auth) = ThreadAuthenticator::start_with(&ctx, options) {
        assert!(auth.is_alive());
        auth.stop().unwrap();
    }
}
