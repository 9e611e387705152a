//! Lock-out of guessing peers: after `max` failed authentications within any interval
//! of length `window`, a peer is refused (400 `Too many failures`) for `ban`, without
//! its credentials being checked. Pure: the time comes in as an argument; the engine
//! owns the table.
//!
//! **Who is a peer.** An IPv4 address; an IPv6 address (/128), and beside it its /64 with
//! a limit [`V6_NET_FACTOR`] times higher, so a host that rotates through its /64 is
//! still stopped, but one guessing host does not lock out the neighbours on its LAN; an
//! IPC peer by its uid (libzmq reports `localhost:uid:gid:pid`, and every new process
//! has a new pid).
//!
//! **The window slides.** Each peer's failures are counted in [`SUB_WINDOWS`] slots of
//! `window / 16`, plus the slot now being filled: the sum covers at least the last
//! `window` (and at most 1/16 more), so `max` failures within any interval of length
//! `window` always ban — a burst across a slot boundary included — and failures a little
//! more than `window` apart may too (the error is on the side of refusing). A slot
//! counts up to 65,535 failures.
//!
//! Memory is bounded: at most [`CAPACITY`] keys are tracked, each about 112 bytes (key
//! 32, slots and ban 64, the hash table's control byte and spare room; a unit test
//! checks it), so at most about 7 MiB. When the table
//! is full, entries whose window has passed and whose ban is over are dropped first,
//! then every key that is not banned (they lose their partial counts). If every entry
//! is an active ban, addresses that cannot be tracked are counted, and banned, by a
//! wider network (IPv4 /16, IPv6 /32; at most 4,096 of those, then all together): when
//! in doubt, refuse — but only the neighbourhood of the flood. The table is swept at
//! most once a second, so a flood of new addresses does not cost a full pass per
//! request.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::address::{peer_key, v6_net, PeerKey};

/// Keys tracked at most.
pub(crate) const CAPACITY: usize = 65_536;

/// Slots a window is divided into (one more is kept: the one being filled).
pub(crate) const SUB_WINDOWS: u32 = 16;
const SLOTS: usize = SUB_WINDOWS as usize + 1;

/// How many more failures an IPv6 /64 may have than one address in it, by default.
pub(crate) const V6_NET_FACTOR: u32 = 16;
/// The IPv6 network counted beside each address, by default.
pub(crate) const V6_NET_PREFIX: u8 = 64;

/// Bytes per tracked key, about: the key (32), the entry (64) and the hash table's
/// control byte and spare room (about 1/8 empty).
#[cfg(test)]
const ENTRY_BYTES: usize = 112;

/// The settings of [`crate::ThreadAuthenticator::limit_failures`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LockoutSettings {
    pub(crate) max_failures: u32,
    pub(crate) window: Duration,
    pub(crate) ban: Duration,
    /// The IPv6 network counted beside each address (128: none).
    pub(crate) v6_net_prefix: u8,
    /// Its limit, in multiples of `max_failures`.
    pub(crate) v6_net_factor: u32,
}

impl LockoutSettings {
    /// `max` failures within `window` ban for `ban`; IPv6 networks by default.
    pub(crate) fn new(max_failures: u32, window: Duration, ban: Duration) -> LockoutSettings {
        LockoutSettings {
            max_failures,
            window,
            ban,
            v6_net_prefix: V6_NET_PREFIX,
            v6_net_factor: V6_NET_FACTOR,
        }
    }
}

struct Entry {
    /// The slot (time since the table's epoch / slot width) last counted in.
    newest: u64,
    counts: [u16; SLOTS],
    banned_until: Option<Instant>,
}

impl Entry {
    fn new(slot: u64) -> Entry {
        Entry {
            newest: slot,
            counts: [0; SLOTS],
            banned_until: None,
        }
    }

    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| now < until)
    }

    /// Its failures are all older than a window.
    fn stale(&self, slot: u64) -> bool {
        slot.saturating_sub(self.newest) >= SLOTS as u64
    }
}

pub(crate) struct Lockout {
    settings: LockoutSettings,
    /// Slot width in nanoseconds (at least 1).
    slot_nanos: u128,
    /// Where slot 0 starts: the first failure counted.
    epoch: Option<Instant>,
    table: HashMap<PeerKey, Entry>,
    capacity: usize,
    /// Failures of addresses the full table could not take, by wider network.
    overflow: HashMap<Coarse, Entry>,
    last_sweep: Option<Instant>,
    /// The latest end of any ban started (None: no ban yet). Past it nobody is banned,
    /// so the per-request check needs neither the peer's key nor a table probe.
    bans_until: Option<Instant>,
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
    // The shifts keep exactly the bits that fit the narrower type.
    match key {
        PeerKey::V4(a) => u16::try_from(a >> 16).map_or(Coarse::Rest, Coarse::V4Net16),
        PeerKey::V6(a) => u32::try_from(a >> 96).map_or(Coarse::Rest, Coarse::V6Net32),
        PeerKey::V6Net(n) => u32::try_from(n >> 96).map_or(Coarse::Rest, Coarse::V6Net32),
        PeerKey::Uid(_) | PeerKey::Other(_) => Coarse::Rest,
    }
}

/// How often a full table may be swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

fn slot_nanos(window: Duration) -> u128 {
    window
        .as_nanos()
        .checked_div(u128::from(SUB_WINDOWS))
        .unwrap_or(1)
        .max(1)
}

impl Lockout {
    pub(crate) fn new(settings: LockoutSettings) -> Lockout {
        Lockout::with_capacity(settings, CAPACITY)
    }

    pub(crate) fn with_capacity(settings: LockoutSettings, capacity: usize) -> Lockout {
        Lockout {
            settings,
            slot_nanos: slot_nanos(settings.window),
            epoch: None,
            table: HashMap::new(),
            capacity: capacity.max(1),
            overflow: HashMap::new(),
            last_sweep: None,
            bans_until: None,
        }
    }

    /// New settings; bans so far stay, and counts too unless the window changed (its
    /// slots then mean other times, so partial counts start over).
    pub(crate) fn set(&mut self, settings: LockoutSettings) {
        if settings.window != self.settings.window {
            self.slot_nanos = slot_nanos(settings.window);
            self.epoch = None;
            for e in self.table.values_mut().chain(self.overflow.values_mut()) {
                e.newest = 0;
                e.counts = [0; SLOTS];
            }
        }
        if settings.v6_net_prefix != self.settings.v6_net_prefix {
            // Networks of the old size mean nothing now.
            self.table.retain(|k, _| !matches!(k, PeerKey::V6Net(_)));
        }
        self.settings = settings;
    }

    pub(crate) fn settings(&self) -> LockoutSettings {
        self.settings
    }

    /// Could anyone be banned at all? False until a ban starts: then the engine need
    /// not read the clock for [`Lockout::is_locked`] (the common case costs a load).
    pub(crate) fn may_ban(&self) -> bool {
        self.bans_until.is_some()
    }

    /// Is this peer banned now?
    pub(crate) fn is_locked(&self, peer: &[u8], now: Instant) -> bool {
        // Every ban is over (or none started): no need to parse the address.
        if self.bans_until.is_none_or(|t| now >= t) {
            return false;
        }
        let key = peer_key(peer);
        if v6_net(&key, self.settings.v6_net_prefix)
            .and_then(|net| self.table.get(&net))
            .is_some_and(|e| e.banned(now))
        {
            return true;
        }
        match self.table.get(&key) {
            Some(e) => e.banned(now),
            // Untracked addresses answer for their wider network while it is banned.
            None => {
                self.overflow
                    .get(&coarse(&key))
                    .is_some_and(|e| e.banned(now))
                    || self
                        .overflow
                        .get(&Coarse::Rest)
                        .is_some_and(|e| e.banned(now))
            }
        }
    }

    /// The slot `now` falls in.
    fn slot(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        let nanos = now.saturating_duration_since(epoch).as_nanos();
        u64::try_from(nanos.checked_div(self.slot_nanos).unwrap_or(0)).unwrap_or(u64::MAX)
    }

    /// Counts a failed authentication; true when it started a ban (of the peer, or of
    /// its IPv6 /64).
    pub(crate) fn failed(&mut self, peer: &[u8], now: Instant) -> bool {
        let key = peer_key(peer);
        let slot = self.slot(now);
        let mut started = false;
        if let Some(net) = v6_net(&key, self.settings.v6_net_prefix) {
            let limit = self
                .settings
                .max_failures
                .saturating_mul(self.settings.v6_net_factor);
            started |= self.count_key(net, limit, slot, now);
        }
        let limit = self.settings.max_failures;
        started | self.count_key(key, limit, slot, now)
    }

    fn count_key(&mut self, key: PeerKey, limit: u32, slot: u64, now: Instant) -> bool {
        let s = self.settings;
        if !self.table.contains_key(&key) && self.table.len() >= self.capacity {
            let due = self
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
            if due {
                self.last_sweep = Some(now);
                self.make_room(slot, now);
            }
            if self.table.len() >= self.capacity {
                let mut net = coarse(&key);
                if !self.overflow.contains_key(&net) && self.overflow.len() >= OVERFLOW_CAPACITY {
                    net = Coarse::Rest;
                }
                let e = self.overflow.entry(net).or_insert_with(|| Entry::new(slot));
                let started = count(e, limit, s.ban, slot, now);
                let until = e.banned_until;
                self.note_ban(started, until);
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
        let e = self.table.entry(key).or_insert_with(|| Entry::new(slot));
        let started = count(e, limit, s.ban, slot, now);
        let until = e.banned_until;
        self.note_ban(started, until);
        started
    }

    /// Keeps [`Lockout::bans_until`] at the latest ban end.
    fn note_ban(&mut self, started: bool, until: Option<Instant>) {
        if started {
            self.bans_until = self.bans_until.max(until);
        }
    }

    fn make_room(&mut self, slot: u64, now: Instant) {
        let live = |e: &Entry| e.banned(now) || !e.stale(slot);
        self.table.retain(|_, e| live(e));
        self.overflow.retain(|_, e| live(e));
        if self.table.len() >= self.capacity {
            self.table.retain(|_, e| e.banned(now));
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

/// Counts one failure in `e` (in `slot`); true when it started a ban.
fn count(e: &mut Entry, limit: u32, ban: Duration, slot: u64, now: Instant) -> bool {
    if e.banned(now) {
        return false; // already banned (a late answer)
    }
    if e.banned_until.is_some() {
        // A ban ended: counting starts over.
        *e = Entry::new(slot);
    }
    if slot > e.newest {
        // Slots between the newest one and this one had no failures; older ones than a
        // window fall out of the ring as it turns.
        let gap = slot.saturating_sub(e.newest);
        if gap >= SLOTS as u64 {
            e.counts = [0; SLOTS];
        } else {
            let mut s = e.newest;
            while s < slot {
                s = s.saturating_add(1);
                e.counts[ring(s)] = 0;
            }
        }
        e.newest = slot;
    }
    // A failure timed before the newest (answers come back out of order) counts in the
    // newest slot: never forgotten early.
    let i = ring(e.newest);
    e.counts[i] = e.counts[i].saturating_add(1);
    let total: u32 = e.counts.iter().map(|&c| u32::from(c)).sum();
    if total >= limit {
        e.banned_until = Some(saturating_after(now, ban));
        return true;
    }
    false
}

/// The ring position of a slot.
fn ring(slot: u64) -> usize {
    // The remainder is below SLOTS, so it fits.
    usize::try_from(slot.checked_rem(SLOTS as u64).unwrap_or(0)).unwrap_or(0)
}

#[cfg(test)]
#[path = "lockout_tests.rs"]
mod tests;
