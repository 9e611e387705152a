//! A table keyed by 32-byte public keys, laid out so that the ZAP thread's look-up
//! touches one cache line, and so that line can be fetched ahead of the look-up.
//!
//! `std`'s map keeps a control byte per slot apart from the slot: a look-up in a large
//! table misses twice (control bytes, then the key), and where the key lies is known only
//! inside the map, so nobody can fetch it early. Here the keys sit two to a 64-byte line
//! with open addressing (linear probing over slots, starting at a line's first slot):
//! [`KeyTable::prefetch`] fetches a key's home line while the ZAP thread still works on
//! the request before it. Values sit in a parallel array that look-ups of membership
//! never touch.
//!
//! Filled only from trusted sources (certificate files, the store's answers), probed with
//! keys a peer chooses: a probe can never lengthen a cluster, and the hash is seeded per
//! process ([`KeyHash`]), so nobody can aim at one either. The load stays at most 4/5.

use crate::hash::KeyHash;

/// One cache line: two keys. An all-zero key marks an empty slot (the zero key itself,
/// never a real CURVE key but not ours to rule out, is held apart).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([[u8; 32]; 2]);

const EMPTY: [u8; 32] = [0; 32];
/// Slots per line.
const WIDTH: usize = 2;
/// Lines from which a table is "large": 1 MiB of keys (about 13,000 to 26,000 keys),
/// more than stays in a core's cache beside everything else the ZAP thread touches.
/// Below that, a look-up hardly waits for memory, and a hint would only cost.
const LARGE_LINES: usize = 1 << 14;

/// A map from 32-byte keys to `V` (see the module docs).
#[derive(Clone)]
pub(crate) struct KeyTable<V> {
    lines: Vec<Line>,
    /// The value of slot `i` (`None` exactly where the key is empty).
    vals: Vec<Option<V>>,
    /// The all-zero key's value, if it is held.
    zero: Option<V>,
    /// Keys held (the zero key included).
    len: usize,
    hasher: KeyHash,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable {
            lines: Vec::new(),
            vals: Vec::new(),
            zero: None,
            len: 0,
            hasher: KeyHash::default(),
        }
    }
}

impl<V> KeyTable<V> {
    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keys it holds before it grows (4/5 of its slots); growing doubles it.
    pub(crate) fn capacity(&self) -> usize {
        self.vals.len().saturating_mul(4) / 5
    }

    /// The bytes per unit of [`capacity`](Self::capacity) (a slot is a key and a
    /// value, and there are 5/4 slots per unit), for byte budgets.
    pub(crate) const fn bytes_per_capacity() -> usize {
        (32 + std::mem::size_of::<Option<V>>())
            .saturating_mul(5)
            .div_ceil(4)
    }

    fn mask(&self) -> usize {
        self.vals.len().wrapping_sub(1)
    }

    /// The first slot `key` may be in (the first of a line). Only called with slots.
    fn home(&self, key: &[u8; 32]) -> usize {
        let lines = self.lines.len();
        // Truncation is the point: the low bits pick the line.
        (self.hasher.key32(key) as usize & lines.wrapping_sub(1)).wrapping_mul(WIDTH)
    }

    fn key_at(&self, slot: usize) -> &[u8; 32] {
        &self.lines[slot / WIDTH].0[slot % WIDTH]
    }

    fn key_at_mut(&mut self, slot: usize) -> &mut [u8; 32] {
        &mut self.lines[slot / WIDTH].0[slot % WIDTH]
    }

    /// The slot holding `key` (never the zero key), if any.
    #[inline]
    fn find(&self, key: &[u8; 32]) -> Option<usize> {
        if self.lines.is_empty() {
            return None;
        }
        let line_mask = self.lines.len().wrapping_sub(1);
        let mut line = self.home(key) / WIDTH;
        // The load is at most 4/5, so an empty slot ends every probe.
        loop {
            let held = &self.lines[line & line_mask].0;
            for (i, k) in held.iter().enumerate() {
                if same(k, key) {
                    return Some((line & line_mask) * WIDTH + i);
                }
                if same(k, &EMPTY) {
                    return None;
                }
            }
            line = line.wrapping_add(1);
        }
    }

    /// `key`'s value, if held.
    #[inline]
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<&V> {
        if *key == EMPTY {
            return self.zero.as_ref();
        }
        self.find(key).and_then(|slot| self.vals[slot].as_ref())
    }

    /// `key`'s value, if held, to change in place.
    pub(crate) fn get_mut(&mut self, key: &[u8; 32]) -> Option<&mut V> {
        if *key == EMPTY {
            return self.zero.as_mut();
        }
        self.find(key).and_then(|slot| self.vals[slot].as_mut())
    }

    /// Large enough that a look-up may wait for memory (see [`LARGE_LINES`]).
    pub(crate) fn is_large(&self) -> bool {
        self.lines.len() >= LARGE_LINES
    }

    /// Asks the CPU to bring `key`'s home line (and the value beside it) into the cache,
    /// so that a look-up a little later does not wait for memory. Only a hint, and only
    /// for a large table.
    #[inline]
    pub(crate) fn prefetch(&self, key: &[u8; 32]) {
        if !self.is_large() {
            return;
        }
        let slot = self.home(key);
        if let (Some(line), Some(val)) = (self.lines.get(slot / WIDTH), self.vals.get(slot)) {
            prefetch_line(std::ptr::from_ref(line).cast());
            prefetch_line(std::ptr::from_ref(val).cast());
        }
    }

    /// Inserts or replaces `key`'s value; the old one, if any.
    pub(crate) fn insert(&mut self, key: [u8; 32], val: V) -> Option<V> {
        if key == EMPTY {
            let old = self.zero.replace(val);
            if old.is_none() {
                self.len = self.len.saturating_add(1);
            }
            return old;
        }
        if let Some(slot) = self.find(&key) {
            return self.vals[slot].replace(val);
        }
        self.reserve(1);
        self.place(key, val);
        self.len = self.len.saturating_add(1);
        None
    }

    /// Puts `key` (not held, not the zero key) in the first empty slot of its probe;
    /// there is room (see [`slots_for`]).
    fn place(&mut self, key: [u8; 32], val: V) {
        let mask = self.mask();
        let mut slot = self.home(&key);
        while !same(self.key_at(slot), &EMPTY) {
            slot = (slot + 1) & mask;
        }
        *self.key_at_mut(slot) = key;
        self.vals[slot] = Some(val);
    }

    /// Removes `key`; its value, if it was held.
    pub(crate) fn remove(&mut self, key: &[u8; 32]) -> Option<V> {
        if *key == EMPTY {
            let old = self.zero.take();
            if old.is_some() {
                self.len = self.len.saturating_sub(1);
            }
            return old;
        }
        let mut hole = self.find(key)?;
        let old = self.vals[hole].take();
        self.len = self.len.saturating_sub(1);
        // Backward shift: move up each later key of the cluster whose probe passes the
        // hole, so that no probe stops early at it (no tombstones, no decay).
        let mask = self.mask();
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let k = *self.key_at(next);
            if same(&k, &EMPTY) {
                break;
            }
            let home = self.home(&k);
            if hole.wrapping_sub(home) & mask < next.wrapping_sub(home) & mask {
                *self.key_at_mut(hole) = k;
                self.vals[hole] = self.vals[next].take();
                hole = next;
            }
        }
        *self.key_at_mut(hole) = EMPTY;
        self.vals[hole] = None;
        old
    }

    /// Makes room for `more` keys without growing again (at most 4/5 full).
    pub(crate) fn reserve(&mut self, more: usize) {
        let want = self.len.saturating_add(more);
        if !self.vals.is_empty() && want.saturating_mul(5) <= self.vals.len().saturating_mul(4) {
            return;
        }
        self.rebuild(slots_for(want));
    }

    /// What [`capacity`](Self::capacity) becomes when the table grows (the next key
    /// past a full table), for byte budgets that must see a growth coming.
    pub(crate) fn capacity_after_growth(&self) -> usize {
        slots_for(self.capacity().saturating_add(1)).saturating_mul(4) / 5
    }

    /// Moves every key into a table of `slots` slots (from [`slots_for`]).
    fn rebuild(&mut self, slots: usize) {
        let old_lines = std::mem::replace(&mut self.lines, vec![Line::default(); slots / WIDTH]);
        let mut old_vals = std::mem::take(&mut self.vals);
        self.vals.resize_with(slots, || None);
        let keys = old_lines.iter().flat_map(|l| l.0.iter());
        for (key, val) in keys.zip(old_vals.iter_mut()) {
            if let Some(val) = val.take() {
                self.place(*key, val);
            }
        }
    }

    /// Every key held, with its value (in no particular order).
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = (&[u8; 32], &V)> {
        let keys = self.lines.iter().flat_map(|l| l.0.iter());
        let slots = keys
            .zip(self.vals.iter())
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)));
        self.zero
            .as_ref()
            .map(|v| (&EMPTY, v))
            .into_iter()
            .chain(slots)
    }
}

/// Slots for `want` keys: a power of two, at least 4 lines, `want` at most 4/5 of it
/// (so one stays empty and every probe ends).
fn slots_for(want: usize) -> usize {
    let need = want.saturating_mul(5).div_ceil(4).max(WIDTH * 4);
    match need.checked_next_power_of_two() {
        Some(slots) => slots,
        // More keys than memory has bytes: no allocation could succeed anyway.
        None => panic!("key table capacity overflow"),
    }
}

/// Two keys are equal: a word at a time, inline (`==` on arrays calls `memcmp`).
#[inline(always)]
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .as_chunks::<8>()
        .0
        .iter()
        .zip(b.as_chunks::<8>().0)
        .fold(0u64, |d, (x, y)| {
            d | (u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y))
        });
    diff == 0
}

/// A hint to the CPU: this line will be read soon.
#[inline(always)]
fn prefetch_line(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program's state; the
    // pointer is into a live allocation anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key(i: u64) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&i.to_le_bytes());
        k[31] = 1;
        k
    }

    #[test]
    fn insert_get_remove() {
        let mut t: KeyTable<u32> = KeyTable::default();
        assert_eq!(t.get(&key(1)), None);
        assert_eq!(t.insert(key(1), 10), None);
        assert_eq!(t.insert(key(1), 11), Some(10));
        assert_eq!(t.get(&key(1)), Some(&11));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(&key(1)), Some(11));
        assert_eq!(t.remove(&key(1)), None);
        assert_eq!(t.len(), 0);
        assert!(t.get(&key(1)).is_none());
    }

    #[test]
    fn the_zero_key_is_a_key_like_any_other() {
        let mut t: KeyTable<u32> = KeyTable::default();
        assert!(t.get(&EMPTY).is_none(), "an empty slot is not the zero key");
        t.insert(key(5), 5);
        assert!(t.get(&EMPTY).is_none(), "an empty slot is not the zero key");
        t.insert(EMPTY, 0);
        assert_eq!(t.get(&EMPTY), Some(&0));
        assert_eq!(t.len(), 2);
        assert_eq!(t.iter().count(), 2);
        assert_eq!(t.remove(&EMPTY), Some(0));
        assert!(t.get(&EMPTY).is_none());
        assert_eq!(t.len(), 1);
    }

    /// Keys that all share a home line (found by trying), so every probe and every
    /// backward shift runs along one cluster, across the end of the table.
    #[test]
    fn colliding_keys_survive_removal_in_any_order() {
        let mut t: KeyTable<u64> = KeyTable::default();
        t.reserve(24);
        let target = t.lines.len() - 1; // the last line: clusters wrap around
        let same: Vec<[u8; 32]> = (0u64..)
            .map(key)
            .filter(|k| t.home(k) / WIDTH == target)
            .take(12)
            .collect();
        for (i, k) in same.iter().enumerate() {
            t.insert(*k, i as u64);
        }
        for order in [[0usize, 5, 11, 1, 6], [11, 10, 9, 0, 3]] {
            let mut t = t.clone();
            let mut model: HashMap<[u8; 32], u64> = same
                .iter()
                .enumerate()
                .map(|(i, k)| (*k, i as u64))
                .collect();
            for i in order {
                assert_eq!(t.remove(&same[i]), model.remove(&same[i]));
                for k in &same {
                    assert_eq!(t.get(k), model.get(k), "after removing {i}");
                }
            }
        }
    }

    /// Random inserts and removals (a small key space, so both hit), checked against
    /// `HashMap` after every step; the table grows through several sizes.
    #[test]
    fn matches_a_hash_map() {
        let mut t: KeyTable<u64> = KeyTable::default();
        let mut model: HashMap<[u8; 32], u64> = HashMap::new();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..40_000u64 {
            let r = rand();
            // The zero key too, now and then.
            let k = if r % 97 == 0 { EMPTY } else { key(r % 3_000) };
            if r % 3 == 0 {
                assert_eq!(t.remove(&k), model.remove(&k), "step {step}");
            } else {
                assert_eq!(t.insert(k, step), model.insert(k, step), "step {step}");
            }
            assert_eq!(t.len(), model.len());
            if step % 1000 == 0 {
                for i in 0..3_000 {
                    assert_eq!(t.get(&key(i)), model.get(&key(i)));
                }
                let mut seen: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
                let mut want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
                seen.sort_unstable();
                want.sort_unstable();
                assert_eq!(seen, want);
            }
        }
        assert!(t.vals.len() * 4 >= t.len() * 5, "at most 4/5 full");
    }

    /// Budgets predict a growth with `capacity_after_growth`: it is what the table
    /// really grows to, at every size.
    #[test]
    fn growth_is_predicted_exactly() {
        let mut t: KeyTable<()> = KeyTable::default();
        let mut i = 0u64;
        for _ in 0..14 {
            let (cap, predicted) = (t.capacity(), t.capacity_after_growth());
            while t.len() < cap {
                t.insert(key(i), ());
                i += 1;
                assert_eq!(t.capacity(), cap, "no growth before it is full");
            }
            t.insert(key(i), ());
            i += 1;
            assert_eq!(t.capacity(), predicted, "grown from {cap}");
            assert!(t.capacity() > cap);
        }
    }

    #[test]
    fn a_key_never_held_is_not_found_in_a_full_table() {
        let mut t: KeyTable<()> = KeyTable::default();
        for i in 0..100_000 {
            t.insert(key(i), ());
        }
        assert_eq!(t.len(), 100_000);
        assert!(t.vals.len() * 4 >= t.len() * 5);
        assert!(t.capacity() >= t.len());
        assert!((0..100_000).all(|i| t.get(&key(i)).is_some()));
        assert!((100_000..200_000).all(|i| t.get(&key(i)).is_none()));
        // A prefetch is only a hint, for any key.
        t.prefetch(&key(3));
        t.prefetch(&EMPTY);
    }
}
