//! Unit tests of the lock-out table (`policy::lockout`).

use super::*;

fn settings() -> LockoutSettings {
    LockoutSettings::new(3, Duration::from_secs(10), Duration::from_secs(60))
}

#[test]
fn bans_after_max_failures_within_the_window_then_lifts() {
    let mut l = Lockout::new(settings());
    let t0 = Instant::now();
    assert!(!l.failed(b"10.0.0.1", t0));
    assert!(!l.failed(b"10.0.0.1", t0 + Duration::from_secs(1)));
    assert!(!l.is_locked(b"10.0.0.1", t0 + Duration::from_secs(1)));
    assert!(l.failed(b"10.0.0.1", t0 + Duration::from_secs(2)));
    assert!(l.is_locked(b"10.0.0.1", t0 + Duration::from_secs(3)));
    assert!(l.is_locked(b"::ffff:10.0.0.1", t0 + Duration::from_secs(3)));
    assert!(!l.is_locked(b"10.0.0.2", t0 + Duration::from_secs(3)));
    assert!(!l.is_locked(b"10.0.0.1", t0 + Duration::from_secs(63)));
    // After the ban, counting starts over.
    assert!(!l.failed(b"10.0.0.1", t0 + Duration::from_secs(63)));
}

#[test]
fn a_ban_of_duration_max_saturates_instead_of_overflowing() {
    let mut l = Lockout::new(LockoutSettings {
        ban: Duration::MAX,
        ..settings()
    });
    let t0 = Instant::now();
    l.failed(b"10.0.0.1", t0);
    l.failed(b"10.0.0.1", t0);
    assert!(l.failed(b"10.0.0.1", t0));
    assert!(l.is_locked(b"10.0.0.1", t0 + Duration::from_secs(86_400 * 365)));
    assert!(saturating_after(t0, Duration::MAX) > t0);
    assert_eq!(saturating_after(t0, Duration::ZERO), t0);
}

#[test]
fn the_window_slides_across_a_boundary() {
    // Issue 18 finding 10: failures close together on either side of the boundary of
    // a fixed window did not ban (seen: 3 within 41 ms, limit 3 per 500 ms).
    let mut l = Lockout::new(LockoutSettings::new(
        3,
        Duration::from_millis(500),
        Duration::from_secs(60),
    ));
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    assert!(!l.failed(b"10.0.0.1", at(0)));
    // A fixed window started at 0 and would restart at 540, forgetting 480.
    assert!(!l.failed(b"10.0.0.1", at(480)));
    assert!(!l.failed(b"10.0.0.1", at(540)));
    assert!(
        l.failed(b"10.0.0.1", at(560)),
        "3 failures within 80 ms ban"
    );
    assert!(l.is_locked(b"10.0.0.1", at(561)));
}

/// Exact count of failures in (t - window, t].
fn exact(times: &[Duration], t: Duration, window: Duration) -> usize {
    times
        .iter()
        .filter(|&&x| x <= t && t.saturating_sub(x) < window)
        .count()
}

#[test]
fn never_more_than_max_failures_in_any_window() {
    // Pseudo-random failure times against an exact sliding log: whenever `max`
    // failures fall within one window, the lock-out has banned (at that failure
    // or earlier); and a ban never starts with fewer than `max` failures within
    // a window and a slot.
    let window = Duration::from_millis(1_000);
    let slot = window / SUB_WINDOWS;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..200 {
        let max = 2 + (round % 6);
        let mut l = Lockout::new(LockoutSettings::new(
            max,
            window,
            Duration::from_secs(3_600),
        ));
        let t0 = Instant::now();
        let mut t = Duration::ZERO;
        let mut times = Vec::new();
        for _ in 0..40 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            t += Duration::from_millis(seed % 400);
            times.push(t);
            let started = l.failed(b"10.0.0.1", t0 + t);
            let in_window = exact(&times, t, window);
            if in_window >= max as usize {
                assert!(l.is_locked(b"10.0.0.1", t0 + t), "round {round}: {times:?}");
            }
            if started {
                assert!(
                    exact(&times, t, window + slot) >= max as usize,
                    "round {round}: banned early {times:?}"
                );
            }
            if l.is_locked(b"10.0.0.1", t0 + t) {
                break;
            }
        }
    }
}

#[test]
fn ipv6_counts_per_address_and_per_64_with_a_higher_limit() {
    let mut l = Lockout::new(settings());
    let t0 = Instant::now();
    for _ in 0..3 {
        l.failed(b"2001:db8::1", t0);
    }
    assert!(l.is_locked(b"2001:db8::1", t0));
    assert!(
        !l.is_locked(b"2001:db8::2", t0),
        "the neighbour is not locked out"
    );
    // A host rotating through its /64 is stopped by the /64's own limit.
    let net_limit = 3 * V6_NET_FACTOR;
    let mut banned_at = None;
    for i in 0..net_limit {
        let a = format!("2001:db8::1:{i:x}");
        if l.failed(a.as_bytes(), t0) {
            banned_at = Some(i);
            break;
        }
    }
    // 3 failures of ::1 count towards the /64 too.
    assert_eq!(banned_at, Some(net_limit - 4));
    assert!(l.is_locked(b"2001:db8::2", t0), "now the whole /64 is");
    assert!(!l.is_locked(b"2001:db8:0:1::2", t0), "not the next /64");
}

#[test]
fn the_ipv6_network_is_configurable() {
    // Per /48, at the same limit as one address: every address of it counts as one.
    let mut l = Lockout::new(LockoutSettings {
        v6_net_prefix: 48,
        v6_net_factor: 1,
        ..settings()
    });
    let t0 = Instant::now();
    l.failed(b"2001:db8::1", t0);
    l.failed(b"2001:db8:0:1::1", t0);
    assert!(l.failed(b"2001:db8:0:2::1", t0));
    assert!(l.is_locked(b"2001:db8:0:ffff::9", t0));
    assert!(!l.is_locked(b"2001:db8:1::1", t0));
    // 128: no network counted beside the address.
    l.set(LockoutSettings {
        v6_net_prefix: 128,
        ..settings()
    });
    assert!(
        !l.is_locked(b"2001:db8:0:ffff::9", t0),
        "the /48 ban went with it"
    );
    for i in 0..100 {
        assert!(!l.failed(format!("2001:db8::{i:x}").as_bytes(), t0));
    }
}

#[test]
fn ipc_peers_count_by_uid_not_pid() {
    let mut l = Lockout::new(settings());
    let t0 = Instant::now();
    assert!(!l.failed(b"localhost:1000:1000:101", t0));
    assert!(!l.failed(b"localhost:1000:1000:102", t0));
    assert!(l.failed(b"localhost:1000:1000:103", t0));
    assert!(l.is_locked(b"localhost:1000:1000:104", t0));
    assert!(
        !l.is_locked(b"localhost:1001:1001:104", t0),
        "other users are not"
    );
}

#[test]
fn entry_size_is_as_documented() {
    let pair = std::mem::size_of::<(PeerKey, Entry)>();
    assert!(pair + pair / 8 < ENTRY_BYTES, "{pair} bytes per entry");
}

#[test]
fn new_settings_keep_bans_and_a_new_window_restarts_counts() {
    let mut l = Lockout::new(settings());
    let t0 = Instant::now();
    for _ in 0..3 {
        l.failed(b"10.0.0.1", t0);
    }
    l.failed(b"10.0.0.2", t0);
    l.failed(b"10.0.0.2", t0);
    l.set(LockoutSettings {
        window: Duration::from_secs(20),
        ..settings()
    });
    assert!(l.is_locked(b"10.0.0.1", t0), "a ban stays");
    // 10.0.0.2's two failures were counted in the old window's slots: they start over.
    assert!(!l.failed(b"10.0.0.2", t0));
    assert!(!l.failed(b"10.0.0.2", t0));
    assert!(l.failed(b"10.0.0.2", t0));
    // The same window: counts stay.
    l.failed(b"10.0.0.3", t0);
    l.failed(b"10.0.0.3", t0);
    l.set(LockoutSettings {
        window: Duration::from_secs(20),
        ban: Duration::from_secs(5),
        ..settings()
    });
    assert!(l.failed(b"10.0.0.3", t0));
}

#[test]
fn failures_spread_beyond_the_window_do_not_ban() {
    let mut l = Lockout::new(settings());
    let t0 = Instant::now();
    // One failure every 6 s: never 3 within a 10 s window.
    for i in 0..10 {
        assert!(!l.failed(b"10.0.0.1", t0 + Duration::from_secs(6 * i)));
    }
    assert!(!l.is_locked(b"10.0.0.1", t0 + Duration::from_secs(60)));
}

#[test]
fn a_sweep_of_addresses_stays_bounded_and_keeps_bans() {
    let mut l = Lockout::with_capacity(settings(), 100);
    let t0 = Instant::now();
    for _ in 0..3 {
        l.failed(b"192.0.2.1", t0);
    }
    assert!(l.is_locked(b"192.0.2.1", t0));
    for i in 0..10_000u32 {
        let a = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        l.failed(a.as_bytes(), t0);
        assert!(l.len() <= 100);
    }
    assert!(l.is_locked(b"192.0.2.1", t0), "a ban survives the sweep");
}

#[test]
fn a_table_full_of_bans_still_locks_out_new_addresses() {
    let mut l = Lockout::with_capacity(settings(), 100);
    let t0 = Instant::now();
    for i in 0..100u32 {
        let a = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        for _ in 0..3 {
            l.failed(a.as_bytes(), t0);
        }
    }
    // Full of active bans: a 101st address is counted in the shared overflow entry.
    assert!(!l.failed(b"192.0.2.7", t0));
    assert!(!l.failed(b"192.0.2.7", t0));
    assert!(l.failed(b"192.0.2.7", t0));
    assert!(l.is_locked(b"192.0.2.7", t0));
    assert!(l.is_locked(b"192.0.9.8", t0), "its /16 is banned with it");
    assert!(!l.is_locked(b"198.51.100.1", t0), "other networks are not");
    assert_eq!(l.len(), 100);
}

/// Issue 19: the check skips the address while no ban is running (none yet, or all
/// over); every later ban, even a shorter one than an earlier, still locks.
#[test]
fn the_fast_path_follows_every_ban() {
    let mut l = Lockout::new(settings());
    let t0 = Instant::now();
    assert!(!l.may_ban());
    assert!(!l.failed(b"10.0.0.1", t0));
    assert!(!l.may_ban(), "failures alone do not arm the check");
    assert!(!l.is_locked(b"10.0.0.1", t0));
    l.failed(b"10.0.0.1", t0);
    assert!(l.failed(b"10.0.0.1", t0));
    assert!(l.may_ban());
    assert!(l.is_locked(b"10.0.0.1", t0 + Duration::from_secs(59)));
    let after = t0 + Duration::from_secs(61);
    assert!(!l.is_locked(b"10.0.0.1", after));
    // A shorter ban started later, while the longer one of another peer runs.
    l.set(LockoutSettings {
        ban: Duration::from_secs(5),
        ..settings()
    });
    let t1 = t0 + Duration::from_secs(30);
    for _ in 0..3 {
        l.failed(b"10.0.0.2", t1);
    }
    assert!(l.is_locked(b"10.0.0.2", t1 + Duration::from_secs(4)));
    assert!(!l.is_locked(b"10.0.0.2", t1 + Duration::from_secs(6)));
    assert!(l.is_locked(b"10.0.0.1", t1 + Duration::from_secs(6)));
    // After every ban ended, a new one locks again.
    for _ in 0..3 {
        l.failed(b"10.0.0.3", after);
    }
    assert!(l.is_locked(b"10.0.0.3", after + Duration::from_secs(1)));
}
