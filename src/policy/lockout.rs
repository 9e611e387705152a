//! Lock-out of guessing peers: after `max` failed authentications within `window`, an
//! address is refused (400 `Too many failures`) for `ban`, without its credentials
//! being checked. Pure: the time comes in as an argument; the engine owns the table.
//!
//! Memory is bounded: at most [`CAPACITY`] addresses are tracked. When the table is
//! full, entries whose window has passed and whose ban is over are dropped first, then
//! every address that is not banned (they lose their partial counts). If every entry is
//! an active ban, addresses that cannot be tracked are counted, and banned, by a wider
//! network (IPv4 /16, IPv6 /32; at most 4,096 of those, then all together): when in
//! doubt, refuse — but only the neighbourhood of the flood. The table is swept at most
//! once a second, so a flood of new addresses does not cost a full pass per request. An
//! address sweep therefore costs at most `CAPACITY` entries, about 64 bytes each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::address::{peer_key, PeerKey};

/// Addresses tracked at most.
pub(crate) const CAPACITY: usize = 65_536;

/// The settings of [`crate::ThreadAuthenticator::limit_failures`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LockoutSettings {
    pub(crate) max_failures: u32,
    pub(crate) window: Duration,
    pub(crate) ban: Duration,
}

struct Entry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

pub(crate) struct Lockout {
    settings: LockoutSettings,
    table: HashMap<PeerKey, Entry>,
    capacity: usize,
    /// Failures of addresses the full table could not take, by wider network.
    overflow: HashMap<Coarse, Entry>,
    last_sweep: Option<Instant>,
}

/// Wider networks tracked at most when the table is full (then one bucket for all).
const OVERFLOW_CAPACITY: usize = 4096;

/// The wider network an untracked address is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Coarse {
    V4Net16(u16),
    V6Net32(u32),
    Rest,
}

fn coarse(key: &PeerKey) -> Coarse {
    match key {
        PeerKey::V4(a) => Coarse::V4Net16((a >> 16) as u16),
        PeerKey::V6Net(n) => Coarse::V6Net32((n >> 32) as u32),
        PeerKey::Other(_) => Coarse::Rest,
    }
}

/// How often a full table may be swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Lockout {
    pub(crate) fn new(settings: LockoutSettings) -> Lockout {
        Lockout::with_capacity(settings, CAPACITY)
    }

    pub(crate) fn with_capacity(settings: LockoutSettings, capacity: usize) -> Lockout {
        Lockout {
            settings,
            table: HashMap::new(),
            capacity: capacity.max(1),
            overflow: HashMap::new(),
            last_sweep: None,
        }
    }

    /// New settings; counts and bans so far stay.
    pub(crate) fn set(&mut self, settings: LockoutSettings) {
        self.settings = settings;
    }

    pub(crate) fn settings(&self) -> LockoutSettings {
        self.settings
    }

    /// Is this peer banned now?
    pub(crate) fn is_locked(&self, peer: &[u8], now: Instant) -> bool {
        let banned = |e: &Entry| e.banned_until.is_some_and(|until| now < until);
        let key = peer_key(peer);
        match self.table.get(&key) {
            Some(e) => banned(e),
            // Untracked addresses answer for their wider network while it is banned.
            None => {
                self.overflow.get(&coarse(&key)).is_some_and(banned)
                    || self.overflow.get(&Coarse::Rest).is_some_and(banned)
            }
        }
    }

    /// Counts a failed authentication; true when it started a ban.
    pub(crate) fn failed(&mut self, peer: &[u8], now: Instant) -> bool {
        let key = peer_key(peer);
        if !self.table.contains_key(&key) && self.table.len() >= self.capacity {
            let due = self
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
            if due {
                self.last_sweep = Some(now);
                self.make_room(now);
            }
            if self.table.len() >= self.capacity {
                let s = self.settings;
                let mut net = coarse(&key);
                if !self.overflow.contains_key(&net) && self.overflow.len() >= OVERFLOW_CAPACITY {
                    net = Coarse::Rest;
                }
                let e = self.overflow.entry(net).or_insert(Entry {
                    window_start: now,
                    failures: 0,
                    banned_until: None,
                });
                let started = count(e, s, now);
                if started {
                    zlog!(
                        Warn,
                        "lock-out table full ({} addresses): a wider network of untracked addresses is banned",
                        self.table.len()
                    );
                }
                return started;
            }
        }
        let s = self.settings;
        let e = self.table.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        });
        count(e, s, now)
    }

    fn make_room(&mut self, now: Instant) {
        let s = self.settings;
        let live = |e: &Entry| {
            e.banned_until.is_some_and(|until| now < until)
                || now.saturating_duration_since(e.window_start) <= s.window
        };
        self.table.retain(|_, e| live(e));
        self.overflow.retain(|_, e| live(e));
        if self.table.len() >= self.capacity {
            self.table
                .retain(|_, e| e.banned_until.is_some_and(|until| now < until));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// `now + d`, or the latest instant this platform can represent short of that: a ban of
/// `Duration::MAX` means "for as long as this process runs", never an overflow.
pub(crate) fn saturating_after(now: Instant, d: Duration) -> Instant {
    if let Some(t) = now.checked_add(d) {
        return t;
    }
    // Halve the step until it fits: at most 128 tries, and a zero step always fits.
    let mut at = now;
    let mut step = d;
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(t) => at = t,
            None => step = step.checked_div(2).unwrap_or_default(),
        }
    }
    at
}

/// Counts one failure in `e`; true when it started a ban.
fn count(e: &mut Entry, s: LockoutSettings, now: Instant) -> bool {
    if e.banned_until.is_some_and(|until| now < until) {
        return false; // already banned (a late answer)
    }
    if now.saturating_duration_since(e.window_start) > s.window || e.banned_until.is_some() {
        *e = Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        };
    }
    e.failures = e.failures.saturating_add(1);
    if e.failures >= s.max_failures {
        e.banned_until = Some(saturating_after(now, s.ban));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LockoutSettings {
        LockoutSettings {
            max_failures: 3,
            window: Duration::from_secs(10),
            ban: Duration::from_secs(60),
        }
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
}
