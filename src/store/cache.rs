//! The answer cache of one store: bounded in bytes, positive and negative, and never
//! trusted past a change it was told of, nor past the last proof that its change feed
//! is live.
//!
//! Every change notification bumps a generation and empties the cache. A look-up notes
//! the generation before it asks the database and may only fill the cache if no change
//! came in meanwhile, so an answer older than a revocation is never kept. Trust is a
//! deadline the feed keeps pushing forward (`prove_live`): when the feed goes silent the
//! deadline passes by itself, and the cache is neither read nor filled, even if the
//! feed's thread is stuck. Emptying swaps empty tables in under the lock and frees the
//! old ones on a thread of their own (never under the lock, never on the ZAP thread).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};

use crate::hash::KeyHash;
use crate::key_table::KeyTable;
use crate::metrics::CacheTable;

/// Byte budget of the CURVE answers that admit (tables and metadata).
pub(crate) const KNOWN_BUDGET: usize = 64 << 20;
/// Byte budget of the negative CURVE answers (`Unknown key`): a sweep of random keys
/// fills this, never more; then the table is emptied and starts again.
pub(crate) const UNKNOWN_BUDGET: usize = 32 << 20;
/// Byte budget of the PLAIN answers (names are peer-chosen and up to 255 bytes).
pub(crate) const USER_BUDGET: usize = 16 << 20;

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

/// A cache probe's result for a key: what the ZAP thread answers from.
pub(crate) enum Cached {
    /// Admits, with this metadata.
    Known(Option<Arc<[u8]>>),
    /// Refused (`Unknown key`).
    Unknown,
    /// Not cached (or the cache is not trusted now): ask the store.
    Miss,
}

#[cfg(test)]
impl Cached {
    fn is_miss(&self) -> bool {
        matches!(self, Cached::Miss)
    }
}

/// A key that admits: its metadata and expiry.
#[derive(Clone)]
struct Known {
    metadata: Option<Arc<[u8]>>,
    expires: Option<u64>,
}

/// The domains a known key admits in, with each one's answer: nearly always one, kept
/// inline. Domains are shared (see [`KnownKeys::intern`]): comparing one reads bytes
/// every entry shares, which stay in the processor's cache, not a block of its own.
enum KnownIn {
    One(Arc<str>, Known),
    Many(Vec<(Arc<str>, Known)>),
}

impl KnownIn {
    fn get(&self, domain: &str) -> Option<&Known> {
        match self {
            KnownIn::One(d, k) => (**d == *domain).then_some(k),
            KnownIn::Many(all) => all.iter().find(|(d, _)| **d == *domain).map(|(_, k)| k),
        }
    }

    /// The heap bytes `set` may add beyond the domain and metadata: a list's growth.
    fn growth_cost(&self, domain: &str) -> usize {
        let slot = std::mem::size_of::<(Arc<str>, Known)>();
        match self {
            _ if self.get(domain).is_some() => 0,
            KnownIn::One(..) => alloc_cost(slot.saturating_mul(4)),
            KnownIn::Many(all) if all.len() == all.capacity() => {
                alloc_cost(slot.saturating_mul(all.capacity()).saturating_mul(2))
            }
            KnownIn::Many(_) => 0,
        }
    }

    /// Sets `domain`'s answer, replacing the one it had.
    fn set(&mut self, domain: Arc<str>, known: Known) {
        match self {
            KnownIn::One(d, k) if *d == domain => *k = known,
            KnownIn::Many(all) => match all.iter_mut().find(|(d, _)| *d == domain) {
                Some((_, k)) => *k = known,
                None => all.push((domain, known)),
            },
            KnownIn::One(..) => {
                let mut all = Vec::with_capacity(4);
                let KnownIn::One(d, k) = std::mem::replace(self, KnownIn::Many(Vec::new())) else {
                    return;
                };
                all.push((d, k));
                all.push((domain, known));
                *self = KnownIn::Many(all);
            }
        }
    }
}

/// A cached PLAIN answer: the user's PHC hash, or unknown.
pub(crate) type UserEntry = Option<Arc<str>>;

/// A hash table with the bytes it holds counted: its slots (from its real capacity) plus
/// the heap bytes its entries own.
struct Budgeted<T> {
    table: T,
    heap: usize,
}

trait Slots {
    fn slots(&self) -> usize;
    fn items(&self) -> usize;
    fn slot_bytes() -> usize;
    /// What `slots` becomes when the table next grows.
    fn grown(&self) -> usize {
        self.slots().saturating_mul(2).max(4)
    }
}

impl<K, V, S> Slots for HashMap<K, V, S> {
    fn slots(&self) -> usize {
        self.capacity()
    }
    fn items(&self) -> usize {
        self.len()
    }
    fn slot_bytes() -> usize {
        // One control byte per slot (hashbrown).
        std::mem::size_of::<(K, V)>() + 1
    }
}

impl<K, S> Slots for HashSet<K, S> {
    fn slots(&self) -> usize {
        self.capacity()
    }
    fn items(&self) -> usize {
        self.len()
    }
    fn slot_bytes() -> usize {
        std::mem::size_of::<K>() + 1
    }
}

impl<T: Slots + Default + Send + 'static> Budgeted<T> {
    fn new() -> Self {
        Budgeted {
            table: T::default(),
            heap: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.table
            .slots()
            .saturating_mul(T::slot_bytes())
            .saturating_add(self.heap)
    }

    /// Makes room for one more entry owning `heap` bytes: when it would take the table
    /// past `budget` (a growth doubles the slots), the table is swapped for an empty one.
    fn make_room(&mut self, heap: usize, budget: usize) {
        let slots = if self.table.items() >= self.table.slots() {
            self.table.grown()
        } else {
            self.table.slots()
        };
        let after = slots
            .saturating_mul(T::slot_bytes())
            .saturating_add(self.heap)
            .saturating_add(heap);
        if after > budget {
            free_elsewhere(std::mem::take(&mut self.table));
            self.heap = 0;
        }
        self.heap = self.heap.saturating_add(heap);
    }
}

/// Known keys by key alone (hashed and compared as fixed 32 bytes, inline: the ZAP
/// thread's cached look-up), each with the domains it admits in.
#[derive(Default)]
struct KnownKeys {
    by_key: KeyTable<KnownIn>,
    /// The domains entries name, each held once.
    domains: Vec<Arc<str>>,
}

/// How many domains [`KnownKeys::intern`] shares; any further one is held per entry (a
/// store is configured for a few domains, so this is only a bound).
const SHARED_DOMAINS: usize = 64;

impl KnownKeys {
    /// The heap bytes naming `domain` in one more entry takes: none when it is shared
    /// already, else a copy (made once, or per entry past SHARED_DOMAINS).
    fn domain_cost(&self, domain: &str) -> usize {
        if self.shared(domain).is_some() {
            0
        } else {
            alloc_cost(domain.len().saturating_add(16))
        }
    }

    fn shared(&self, domain: &str) -> Option<&Arc<str>> {
        self.domains.iter().find(|d| ***d == *domain)
    }

    /// `domain`, shared with every entry that names it.
    fn intern(&mut self, domain: &str) -> Arc<str> {
        if let Some(d) = self.shared(domain) {
            return Arc::clone(d);
        }
        let d: Arc<str> = Arc::from(domain);
        if self.domains.len() < SHARED_DOMAINS {
            self.domains.push(Arc::clone(&d));
        }
        d
    }
}

impl Slots for KnownKeys {
    fn slots(&self) -> usize {
        self.by_key.capacity()
    }
    fn items(&self) -> usize {
        self.by_key.len()
    }
    fn slot_bytes() -> usize {
        KeyTable::<KnownIn>::bytes_per_capacity()
    }
    fn grown(&self) -> usize {
        self.by_key.capacity_after_growth()
    }
}

type UnknownTable = HashSet<(Box<str>, [u8; 32]), KeyHashPair>;
type UserTable = HashMap<(Box<str>, Box<str>), UserEntry>;

/// A (domain, key) pair, held (boxed domain) or borrowed: tables are probed with the
/// borrowed form, so a cached look-up allocates nothing. Both hash exactly as the
/// tuple `(Box<str>, [u8; 32])` does, field after field.
trait DomainKey {
    fn parts(&self) -> (&str, &[u8; 32]);
}

impl DomainKey for (Box<str>, [u8; 32]) {
    fn parts(&self) -> (&str, &[u8; 32]) {
        (&self.0, &self.1)
    }
}

impl DomainKey for (&str, &[u8; 32]) {
    fn parts(&self) -> (&str, &[u8; 32]) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn DomainKey + 'a> for (Box<str>, [u8; 32]) {
    fn borrow(&self) -> &(dyn DomainKey + 'a) {
        self
    }
}

impl Hash for dyn DomainKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (domain, key) = self.parts();
        domain.hash(state);
        key.hash(state);
    }
}

impl PartialEq for dyn DomainKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn DomainKey + '_ {}

/// A (domain, user name) pair, held or borrowed: as [`DomainKey`], for PLAIN answers.
trait DomainUser {
    fn parts(&self) -> (&str, &str);
}

impl DomainUser for (Box<str>, Box<str>) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl DomainUser for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn DomainUser + 'a> for (Box<str>, Box<str>) {
    fn borrow(&self) -> &(dyn DomainUser + 'a) {
        self
    }
}

impl Hash for dyn DomainUser + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (domain, user) = self.parts();
        domain.hash(state);
        user.hash(state);
    }
}

impl PartialEq for dyn DomainUser + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn DomainUser + '_ {}

/// [`KeyHash`] for (domain, key) pairs.
#[derive(Default, Clone)]
struct KeyHashPair(KeyHash);

impl BuildHasher for KeyHashPair {
    type Hasher = <KeyHash as BuildHasher>::Hasher;
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

pub(crate) struct Cache {
    generation: AtomicU64,
    /// Milliseconds since `epoch` before which the cache may be used (0: never).
    trusted_until: AtomicU64,
    epoch: Instant,
    known: RwLock<Budgeted<KnownKeys>>,
    unknown: RwLock<Budgeted<UnknownTable>>,
    users: RwLock<Budgeted<UserTable>>,
    hits: AtomicU64,
    /// The known-key table is large (see [`KeyTable::is_large`]): worth a hint ahead of
    /// a look-up. Read without the lock; only a hint, so a stale value is harmless.
    large: AtomicBool,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Drops `garbage` on the cache's freeing thread (a million entries take hundreds of
/// milliseconds to free); inline only if that thread cannot be started.
fn free_elsewhere<T: Send + 'static>(garbage: T) {
    type Bin = crossbeam_channel::Sender<Box<dyn Send>>;
    static BIN: OnceLock<Mutex<Option<Bin>>> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn Send>>();
        let started = std::thread::Builder::new()
            .name("zmq-auth-cache-free".into())
            .spawn(move || rx.iter().for_each(drop));
        Mutex::new(started.ok().map(|_| tx))
    });
    let sent = match bin.lock().as_ref() {
        Some(tx) => tx.send(Box::new(garbage)).map_err(|e| e.into_inner()),
        None => Err(Box::new(garbage) as Box<dyn Send>),
    };
    drop(sent);
}

/// What a heap block of `len` bytes costs with glibc's allocator: 16-byte steps with an
/// 8-byte header, 32 bytes at least (so a one-letter domain costs 32, not 1).
fn alloc_cost(len: usize) -> usize {
    len.saturating_add(8).next_multiple_of(16).max(32)
}

impl Cache {
    /// A cache, trusted from the start (true: the store's change feed is up) or not.
    pub(crate) fn new(trusted: bool) -> Cache {
        let cache = Cache {
            generation: AtomicU64::new(0),
            trusted_until: AtomicU64::new(0),
            epoch: Instant::now(),
            known: RwLock::new(Budgeted::new()),
            unknown: RwLock::new(Budgeted::new()),
            users: RwLock::new(Budgeted::new()),
            hits: AtomicU64::new(0),
            large: AtomicBool::new(false),
        };
        cache.set_trusted(trusted);
        cache
    }

    /// The generation to pass to `put_*` after a look-up.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something changed (or may have): forget everything. The tables are swapped for
    /// empty ones under their locks and freed on another thread.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let known = std::mem::replace(&mut *self.known.write(), Budgeted::new());
        let unknown = std::mem::replace(&mut *self.unknown.write(), Budgeted::new());
        let users = std::mem::replace(&mut *self.users.write(), Budgeted::new());
        self.large.store(false, Ordering::Relaxed);
        if known.table.slots() + unknown.table.capacity() + users.table.capacity() > 0 {
            free_elsewhere((known.table, unknown.table, users.table));
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The change feed went down (false) or is up for good (true: a feed that cannot go
    /// silent, such as SQLite's own watcher). Either way, forget.
    pub(crate) fn set_trusted(&self, trusted: bool) {
        let until = if trusted { u64::MAX } else { 0 };
        self.trusted_until.store(until, Ordering::Release);
        self.invalidate();
    }

    /// The change feed proved it is live: every change made before `proof_sent` has been
    /// seen, so the cache may answer until `valid_for` after it. Coming back from
    /// untrusted, the cache is emptied first.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // only the PostgreSQL feed proves liveness
    pub(crate) fn prove_live(&self, proof_sent: Instant, valid_for: Duration) {
        if !self.is_trusted() {
            self.invalidate();
        }
        let since = proof_sent.saturating_duration_since(self.epoch);
        let until = u64::try_from(since.saturating_add(valid_for).as_millis()).unwrap_or(u64::MAX);
        self.trusted_until.fetch_max(until, Ordering::AcqRel);
    }

    pub(crate) fn is_trusted(&self) -> bool {
        // Trusted for good (a feed that cannot go silent): no clock read per look-up.
        let until = self.trusted_until.load(Ordering::Acquire);
        until == u64::MAX || self.now_ms() < until
    }

    /// How many answers came from the cache (for benchmarks and metrics).
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The bytes the tables hold now (slots from their real capacity plus the heap
    /// bytes of their entries): known keys, unknown keys, users.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn bytes(&self) -> (usize, usize, usize) {
        (
            self.known.read().bytes(),
            self.unknown.read().bytes(),
            self.users.read().bytes(),
        )
    }

    /// Entries held now: known keys (each counted once, whatever the number of domains
    /// it admits in), unknown (domain, key) pairs (for `cache_bench`).
    pub(crate) fn lens(&self) -> (usize, usize) {
        (
            self.known.read().table.by_key.len(),
            self.unknown.read().table.len(),
        )
    }

    fn hit(&self, table: CacheTable) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        crate::metrics::cache_hit(table);
    }

    pub(crate) fn get_key(&self, domain: &str, key: &[u8; 32]) -> Cached {
        if !self.is_trusted() {
            return Cached::Miss;
        }
        let known = self.known.read();
        if let Some(k) = known.table.by_key.get(key).and_then(|all| all.get(domain)) {
            if k.expires.is_some_and(|t| now_secs() >= t) {
                return Cached::Miss; // expired: ask the store (which will say unknown)
            }
            let metadata = k.metadata.clone();
            drop(known);
            self.hit(CacheTable::Keys);
            return Cached::Known(metadata);
        }
        drop(known);
        let probe = (domain, key);
        let probe: &dyn DomainKey = &probe;
        if self.unknown.read().table.contains(probe) {
            self.hit(CacheTable::Keys);
            return Cached::Unknown;
        }
        Cached::Miss
    }

    /// Whether [`Cache::prefetch_key`] can do anything: the known keys fill a large
    /// table (one atomic load, no lock).
    #[inline]
    pub(crate) fn hints_ahead(&self) -> bool {
        self.large.load(Ordering::Relaxed)
    }

    /// A hint that `key` is about to be looked up by [`Cache::get_key`] (see
    /// [`KeyTable::prefetch`]).
    pub(crate) fn prefetch_key(&self, key: &[u8; 32]) {
        // Never waits: a writer (a table growing, an invalidation) means no hint.
        if let Some(known) = self.known.try_read() {
            known.table.by_key.prefetch(key);
        }
    }

    pub(crate) fn put_key(&self, generation: u64, domain: &str, key: [u8; 32], entry: KeyEntry) {
        if !self.is_trusted() {
            return;
        }
        match entry {
            KeyEntry::Known { metadata, expires } => {
                let meta = metadata.as_ref().map_or(0, |m| alloc_cost(m.len() + 16));
                let mut known = self.known.write();
                // Checked under the lock `invalidate` also takes: no change slips in.
                if self.generation() != generation {
                    return;
                }
                let growth = known
                    .table
                    .by_key
                    .get(&key)
                    .map_or(0, |all| all.growth_cost(domain));
                let copy = known.table.domain_cost(domain);
                known.make_room(
                    copy.saturating_add(meta).saturating_add(growth),
                    KNOWN_BUDGET,
                );
                // (Emptied by `make_room` meanwhile, shared domains too: the copy is
                // made after all, and charged.)
                let late = known.table.domain_cost(domain).saturating_sub(copy);
                known.heap = known.heap.saturating_add(late);
                let domain = known.table.intern(domain);
                let answer = Known { metadata, expires };
                match known.table.by_key.get_mut(&key) {
                    Some(all) => all.set(domain, answer),
                    None => {
                        known.table.by_key.insert(key, KnownIn::One(domain, answer));
                    }
                }
                self.large
                    .store(known.table.by_key.is_large(), Ordering::Relaxed);
            }
            KeyEntry::Unknown => {
                let heap = alloc_cost(domain.len());
                let pair = (Box::<str>::from(domain), key);
                let mut unknown = self.unknown.write();
                if self.generation() != generation {
                    return;
                }
                unknown.make_room(heap, UNKNOWN_BUDGET);
                unknown.table.insert(pair);
            }
        }
    }

    pub(crate) fn get_user(&self, domain: &str, user: &str) -> Option<UserEntry> {
        if !self.is_trusted() {
            return None;
        }
        let probe = (domain, user);
        let probe: &dyn DomainUser = &probe;
        let hit = self.users.read().table.get(probe).cloned();
        if hit.is_some() {
            self.hit(CacheTable::Users);
        }
        hit
    }

    pub(crate) fn put_user(&self, generation: u64, domain: &str, user: &str, entry: UserEntry) {
        if !self.is_trusted() {
            return;
        }
        let heap = alloc_cost(domain.len())
            .saturating_add(alloc_cost(user.len()))
            .saturating_add(entry.as_ref().map_or(0, |p| alloc_cost(p.len() + 16)));
        let mut users = self.users.write();
        if self.generation() != generation {
            return;
        }
        users.make_room(heap, USER_BUDGET);
        users.table.insert((domain.into(), user.into()), entry);
    }
}

/// The last handle of a store may be dropped anywhere, the ZAP thread included: a full
/// cache is freed on the freeing thread instead.
impl Drop for Cache {
    fn drop(&mut self) {
        let known = std::mem::take(&mut self.known.get_mut().table);
        let unknown = std::mem::take(&mut self.unknown.get_mut().table);
        let users = std::mem::take(&mut self.users.get_mut().table);
        if known.slots() + unknown.capacity() + users.capacity() > 0 {
            free_elsewhere((known, unknown, users));
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
