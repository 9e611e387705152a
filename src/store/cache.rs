//! The answer cache of one store: bounded, positive and negative, and never trusted
//! past a change it was told of.
//!
//! Every change notification bumps a generation and empties the cache. A look-up notes
//! the generation before it asks the database and may only fill the cache if no change
//! came in meanwhile, so an answer older than a revocation is never kept. While the
//! change feed is down (`trusted` false) the cache is neither read nor filled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

use crate::hash::KeyHash;

/// Key entries before the table is emptied (a sweep of unknown keys cannot grow it
/// without limit): about 100 MiB at most.
pub(crate) const CAPACITY: usize = 1 << 20;
/// User entries before that table is emptied: names are peer-chosen and up to 255
/// bytes, so fewer (about 20 MiB at most).
pub(crate) const USER_CAPACITY: usize = 1 << 16;

/// A cached CURVE answer.
#[derive(Clone)]
pub(crate) enum KeyEntry {
    Known {
        metadata: Option<Arc<[u8]>>,
        /// Unix seconds after which the key no longer admits.
        expires: Option<u64>,
    },
    Unknown,
}

/// A cached PLAIN answer: the user's PHC hash, or unknown.
pub(crate) type UserEntry = Option<Arc<str>>;

/// Key → (the domain a request asked for, the answer); usually one domain per key.
type KeyTable = HashMap<[u8; 32], Vec<(Box<str>, KeyEntry)>, KeyHash>;

pub(crate) struct Cache {
    generation: AtomicU64,
    trusted: AtomicBool,
    keys: RwLock<KeyTable>,
    users: RwLock<HashMap<(String, String), UserEntry>>,
    hits: AtomicU64,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Cache {
    /// A cache that is trusted from the start (the store's change feed is up).
    pub(crate) fn new(trusted: bool) -> Cache {
        Cache {
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(trusted),
            keys: RwLock::new(HashMap::default()),
            users: RwLock::new(HashMap::new()),
            hits: AtomicU64::new(0),
        }
    }

    /// The generation to pass to `put_*` after a look-up.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something changed (or may have): forget everything.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.keys.write().clear();
        self.users.write().clear();
    }

    /// The change feed went down (false) or came back (true). Either way, forget.
    pub(crate) fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::Release);
        self.invalidate();
    }

    pub(crate) fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// How many answers came from the cache (for benchmarks and metrics).
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn get_key(&self, domain: &str, key: &[u8; 32]) -> Option<KeyEntry> {
        if !self.is_trusted() {
            return None;
        }
        let keys = self.keys.read();
        let entry = keys
            .get(key)?
            .iter()
            .find(|(d, _)| &**d == domain)?
            .1
            .clone();
        if let KeyEntry::Known {
            expires: Some(t), ..
        } = entry
        {
            if now_secs() >= t {
                return None; // expired: ask the store (which will say unknown)
            }
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        crate::metrics::cache_hit("keys");
        Some(entry)
    }

    pub(crate) fn put_key(&self, generation: u64, domain: &str, key: [u8; 32], entry: KeyEntry) {
        if !self.is_trusted() {
            return;
        }
        let mut keys = self.keys.write();
        // Checked under the lock `invalidate` also takes: no change slips in between.
        if self.generation() != generation {
            return;
        }
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        let slot = keys.entry(key).or_default();
        slot.retain(|(d, _)| &**d != domain);
        slot.push((domain.into(), entry));
    }

    pub(crate) fn get_user(&self, domain: &str, user: &str) -> Option<UserEntry> {
        if !self.is_trusted() {
            return None;
        }
        let hit = self
            .users
            .read()
            .get(&(domain.to_string(), user.to_string()))
            .cloned();
        if hit.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            crate::metrics::cache_hit("users");
        }
        hit
    }

    pub(crate) fn put_user(&self, generation: u64, domain: &str, user: &str, entry: UserEntry) {
        if !self.is_trusted() {
            return;
        }
        let mut users = self.users.write();
        if self.generation() != generation {
            return;
        }
        if users.len() >= USER_CAPACITY {
            users.clear();
        }
        users.insert((domain.to_string(), user.to_string()), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_during_a_lookup_keeps_the_answer_out() {
        let c = Cache::new(true);
        let g = c.generation();
        c.invalidate(); // a revocation arrives while the look-up runs
        c.put_key(g, "*", [1; 32], KeyEntry::Unknown);
        assert!(c.get_key("*", &[1; 32]).is_none());
        let g = c.generation();
        c.put_key(g, "*", [1; 32], KeyEntry::Unknown);
        assert!(matches!(c.get_key("*", &[1; 32]), Some(KeyEntry::Unknown)));
        assert!(c.get_key("other", &[1; 32]).is_none());
    }

    #[test]
    fn untrusted_cache_is_neither_read_nor_filled() {
        let c = Cache::new(true);
        c.put_key(c.generation(), "*", [1; 32], KeyEntry::Unknown);
        c.set_trusted(false);
        assert!(c.get_key("*", &[1; 32]).is_none());
        c.put_key(c.generation(), "*", [1; 32], KeyEntry::Unknown);
        c.set_trusted(true);
        assert!(c.get_key("*", &[1; 32]).is_none());
    }

    #[test]
    fn expired_keys_are_not_answered() {
        let c = Cache::new(true);
        let entry = KeyEntry::Known {
            metadata: None,
            expires: Some(now_secs() - 1),
        };
        c.put_key(c.generation(), "*", [2; 32], entry);
        assert!(c.get_key("*", &[2; 32]).is_none());
    }
}
