//! Credential stores (features `sqlite` and `postgres`): CURVE keys and PLAIN users in
//! a database, shared by every server that opens it, revoked in one place.
//!
//! - [`SqliteStore`] (feature `sqlite`): one file, no server; several processes may
//!   open it. Changes made by any connection (this crate's calls, another process, the
//!   `sqlite3` shell) are seen within about 100 ms through `PRAGMA data_version`.
//! - [`PostgresStore`] (feature `postgres`): the fleet store. Triggers on its tables
//!   `NOTIFY` every change, whoever makes it (this crate or `psql`); every connected
//!   server `LISTEN`s and drops its cache at once.
//!
//! Give a store to [`ThreadAuthenticator::configure_curve_store`] or
//! [`ThreadAuthenticator::configure_plain_store`] (or the same methods of
//! [`Authenticator`]). Look-ups and argon2id checks run on the engine's pool under its
//! deadline: a database that is down or late gives 300 `Try later`, never 200 and never a
//! hang. Answers are cached (positive and negative, within byte budgets), and the cache
//! is dropped on every change notification and whenever the change feed is down or
//! cannot prove it is live (PostgreSQL: a heartbeat every 250 ms).
//!
//! Passwords are stored as argon2id PHC hashes only (see [`crate::hash_password`]).
//!
//! [`ThreadAuthenticator::configure_curve_store`]: crate::ThreadAuthenticator::configure_curve_store
//! [`ThreadAuthenticator::configure_plain_store`]: crate::ThreadAuthenticator::configure_plain_store
//! [`Authenticator`]: crate::Authenticator
// The stores' links resolve to the items when their feature is on, else to docs.rs (where
// both are documented), so `cargo doc -D warnings` passes with any feature set.
#![cfg_attr(feature = "sqlite", doc = "[`SqliteStore`]: SqliteStore")]
#![cfg_attr(
    not(feature = "sqlite"),
    doc = "[`SqliteStore`]: https://docs.rs/zmq-auth/latest/zmq_auth/store/struct.SqliteStore.html"
)]
#![cfg_attr(feature = "postgres", doc = "[`PostgresStore`]: PostgresStore")]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "[`PostgresStore`]: https://docs.rs/zmq-auth/latest/zmq_auth/store/struct.PostgresStore.html"
)]
// Without a store feature, the admin helpers and constructors have no caller.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

mod cache;
#[doc(hidden)]
pub mod cache_bench;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

pub(crate) use cache::{Cache, KeyEntry};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

use crate::error::{Error, Result};
use crate::keys::{decode_z85_key, z85_key_bytes};
use crate::zap::{encode_metadata, is_reserved_property, is_valid_property_name};

/// A store the authenticator can look credentials up in: `SqliteStore` (feature
/// `sqlite`) or `PostgresStore` (feature `postgres`), described in the [module
/// docs](self) (sealed: implemented by this crate's stores only).
pub trait CredentialStore: sealed::Sealed + Send + Sync + 'static {}

pub(crate) mod sealed {
    /// Gives the engine the store's back end and cache.
    pub trait Sealed {
        #[doc(hidden)]
        fn handle(&self) -> super::StoreHandle;
    }
}

/// A key's row: its metadata and optional expiry (Unix seconds).
pub(crate) struct KeyRow {
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) expires: Option<u64>,
}

/// What a database must answer. Errors are one-line texts (never a password: only
/// hashes are stored).
pub(crate) trait Backend: Send + Sync {
    /// The key's row by the domain rule (DESIGN.md §5): in `domain` when `domain` has any
    /// key rows of its own, else in `*` (`domain` is `*` for the empty domain).
    fn find_key(&self, domain: &str, key_z85: &str) -> std::result::Result<Option<KeyRow>, String>;
    /// The user's PHC hash by the same rule: `domain`'s own users when it has any, else
    /// `*`'s.
    fn find_user(&self, domain: &str, user: &str) -> std::result::Result<Option<String>, String>;
    /// For logs and `Debug`: the store's kind and location (never a password).
    fn describe(&self) -> String;
}

/// A store as the policy holds it.
#[doc(hidden)]
#[derive(Clone)]
pub struct StoreHandle {
    backend: Arc<dyn Backend>,
    cache: Arc<Cache>,
}

pub(crate) use cache::Cached;

/// The domain a request is looked up under: its own (exact, then `*`), or `*` when it
/// is empty or not UTF-8 (no configured domain can match such bytes).
pub(crate) fn lookup_domain(domain: &[u8]) -> &str {
    match std::str::from_utf8(domain) {
        Ok(d) if !d.is_empty() => d,
        _ => "*",
    }
}

impl StoreHandle {
    pub(crate) fn new(backend: Arc<dyn Backend>, cache: Arc<Cache>) -> StoreHandle {
        StoreHandle { backend, cache }
    }

    pub(crate) fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Identifies the store (its backend), for the engine's per-source share of the pool.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.backend).cast::<()>() as usize
    }

    /// The cached answer for a key, without touching the database (safe on the ZAP
    /// thread: a read lock and a hash probe).
    pub(crate) fn cached_key(&self, domain: &str, key: &[u8; 32]) -> Cached {
        self.cache.get_key(domain, key)
    }

    /// Whether [`Store::prefetch_key`] can do anything (its cache is large).
    #[inline]
    pub(crate) fn hints_ahead(&self) -> bool {
        self.cache.hints_ahead()
    }

    /// A hint that [`Store::cached_key`] is about to be asked for `key`.
    pub(crate) fn prefetch_key(&self, key: &[u8; 32]) {
        self.cache.prefetch_key(key);
    }

    /// Asks the database (slow: on the pool). `Ok(None)`: unknown key.
    pub(crate) fn lookup_key(
        &self,
        domain: &str,
        key: &[u8; 32],
    ) -> std::result::Result<Option<Option<Arc<[u8]>>>, String> {
        if let Cached::Known(m) = self.cached_key(domain, key) {
            return Ok(Some(m));
        }
        let generation = self.cache.generation();
        let z85 = z85_key_bytes(key);
        let z85 = std::str::from_utf8(&z85).unwrap_or_default();
        let row = self.backend.find_key(domain, z85)?;
        let now = cache::now_secs();
        let (answer, entry) = match row {
            Some(row) if row.expires.is_none_or(|t| now < t) => {
                let metadata = encode_row_metadata(&row.metadata, z85);
                let entry = KeyEntry::Known {
                    metadata: metadata.clone(),
                    expires: row.expires,
                };
                (Some(metadata), entry)
            }
            _ => (None, KeyEntry::Unknown),
        };
        self.cache.put_key(generation, domain, *key, entry);
        Ok(answer)
    }

    /// The user's PHC hash (slow: on the pool). `Ok(None)`: unknown user.
    pub(crate) fn lookup_user(
        &self,
        domain: &str,
        user: &str,
    ) -> std::result::Result<Option<Arc<str>>, String> {
        if let Some(hit) = self.cache.get_user(domain, user) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let phc = self.backend.find_user(domain, user)?.map(Arc::from);
        self.cache.put_user(generation, domain, user, phc.clone());
        Ok(phc)
    }
}

/// ZMTP metadata from a key's rows; names a peer must not be sent (reserved, or not a
/// ZMTP name: rows edited by hand) are dropped with a warning.
fn encode_row_metadata(rows: &[(String, String)], key_z85: &str) -> Option<Arc<[u8]>> {
    let mut props: Vec<(&str, &str)> = Vec::new();
    for (n, v) in rows {
        if is_reserved_property(n) || !is_valid_property_name(n) {
            zlog!(
                Warn,
                "store metadata {n:?} of key {key_z85} dropped: reserved or not a ZMTP name"
            );
        } else {
            props.push((n, v));
        }
    }
    if props.is_empty() {
        return None;
    }
    encode_metadata(&props).ok().map(Arc::from)
}

/// Checks what the admin calls are given: a 40-character Z85 key (returned in its
/// canonical form), metadata a certificate could carry, a domain.
pub(crate) fn check_key_args(
    domain: &str,
    public_key_z85: &str,
    metadata: &[(&str, &str)],
) -> Result<String> {
    check_domain(domain)?;
    let key = decode_z85_key(public_key_z85)
        .map_err(|e| Error::invalid_key("", 0, format!("public key: {e}")))?;
    for (n, v) in metadata {
        if is_reserved_property(n) || !is_valid_property_name(n) {
            return Err(Error::invalid_metadata(
                *n,
                "reserved or not a ZMTP property name",
            ));
        }
        if v.len() > 1 << 16 {
            return Err(Error::invalid_metadata(*n, "value longer than 64 KiB"));
        }
    }
    let z85 = z85_key_bytes(&key);
    Ok(String::from_utf8_lossy(&z85).into_owned())
}

/// A domain for the store: `*` or a non-empty name (`""` means `*`).
pub(crate) fn store_domain(domain: &str) -> Result<&str> {
    check_domain(domain)?;
    Ok(if domain.is_empty() { "*" } else { domain })
}

fn check_domain(domain: &str) -> Result<()> {
    if domain.len() > 255 || domain.chars().any(char::is_control) {
        return Err(Error::invalid_config(
            "a store domain is at most 255 bytes, without control characters",
        ));
    }
    Ok(())
}

/// A user name for the store.
pub(crate) fn check_user(user: &str) -> Result<()> {
    if user.is_empty() || user.len() > 255 {
        return Err(Error::invalid_config("a PLAIN user name is 1 to 255 bytes"));
    }
    Ok(())
}

/// What `SqliteStore::revoke_key` and `PostgresStore::revoke_key` did, and whether
/// the key still gets in where it was revoked.
///
/// A domain's own keys override `*`: `*` rows admit in a domain only while it has no
/// keys of its own. So removing a domain's last key can make its `*` row apply there
/// again: [`still_admitted_through_wildcard`](Self::still_admitted_through_wildcard)
/// says so, and the key must then be revoked in `*` too (or the domain given a key of
/// its own) to be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Revocation {
    /// A row was removed (false: the key had no row in that domain).
    pub removed: bool,
    /// After the call, the key still admits in that domain through its `*` row, because
    /// the domain has no keys of its own. Always false for a revocation in `*`.
    pub still_admitted_through_wildcard: bool,
}

impl Revocation {
    /// The key no longer admits in the domain it was revoked in (whether or not a row
    /// was removed now).
    pub fn is_refused(&self) -> bool {
        !self.still_admitted_through_wildcard
    }
}

/// One key as listed by a store's `keys` method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The domain it admits in (`*`: every domain without keys of its own).
    pub domain: String,
    /// The public key, 40 Z85 characters.
    pub public_key: String,
    /// Its metadata, as given to `add_key`.
    pub metadata: Vec<(String, String)>,
    /// Unix seconds when it was added.
    pub created: u64,
    /// Unix seconds after which it no longer admits, if set.
    pub expires: Option<u64>,
}
