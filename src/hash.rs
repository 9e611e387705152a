//! Cheap hashers for the maps on the ZAP hot path (the default SipHash costs more than
//! the rest of a decision).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// For maps keyed by names no peer chooses: ZAP domains (a request's domain is the
/// server socket's own `ZMQ_ZAP_DOMAIN`, filled in by libzmq) and the file names of a
/// trusted certificate directory. Nothing for anyone to flood, so FNV-1a.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct NameHash;

impl BuildHasher for NameHash {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// For tables probed with bytes the connecting peer chooses (CURVE public keys, PLAIN
/// user names) but filled only from trusted configuration (certificate files, password
/// maps): a peer can probe but never lengthen the table's clusters, and a per-process
/// random seed keeps it from even aiming. Eight bytes at a time, multiply-rotate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyHash(u64);

impl Default for KeyHash {
    fn default() -> Self {
        KeyHash(RandomState::new().hash_one(0x5eed_u64))
    }
}

impl KeyHash {
    /// A 32-byte key's hash: its four words mixed, without the length prefix and the
    /// byte-slice path a `Hash` of an array goes through.
    #[inline]
    pub(crate) fn key32(&self, key: &[u8; 32]) -> u64 {
        let mut h = KeyHasher(self.0);
        for word in key.as_chunks::<8>().0 {
            h.mix(u64::from_le_bytes(*word));
        }
        h.finish()
    }
}

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    #[inline(always)]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(31);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Whole words without a copy; only the tail (shorter than a word) is copied.
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.mix(u64::from_le_bytes(w));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(tail) {
                *d = *s;
            }
            self.mix(u64::from_le_bytes(w));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn key_hash_spreads_sequential_keys() {
        // Keys differing in one byte anywhere land in distinct buckets of a small table.
        let h = KeyHash::default();
        let mut buckets = HashSet::new();
        for pos in 0..32 {
            let mut k = [0u8; 32];
            k[pos] = 1;
            buckets.insert(h.hash_one(k) & 1023);
        }
        assert!(buckets.len() > 28, "{}", buckets.len());
        let mut m: HashMap<[u8; 32], u32, KeyHash> = HashMap::default();
        for i in 0..1000u32 {
            let mut k = [0u8; 32];
            k[28..].copy_from_slice(&i.to_be_bytes());
            m.insert(k, i);
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(
            m.get(&{
                let mut k = [0u8; 32];
                k[31] = 7;
                k
            }),
            Some(&7)
        );
    }
}
