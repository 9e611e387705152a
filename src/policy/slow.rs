//! [`SlowJob`]: work a decision hands out because it may be slow — user code, a store
//! look-up, an argon2id check. The engine runs it on its pool under a deadline; the
//! synchronous [`crate::Authenticator`] runs it inline.

use std::borrow::Cow;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::curve::{CurveJob, StoreKeyJob};
use super::{deny, ok, try_later, UserId, Verdict};
use crate::phc::{self, Verify};
use crate::store::StoreHandle;

/// The bulkhead key of argon2id checks of password files and maps (never an address).
pub(crate) const HASH_SOURCE: usize = 0;

pub(crate) enum SlowJob {
    Curve(CurveJob),
    StoreKey(StoreKeyJob),
    /// A PLAIN password against a hash from a password file or map.
    Hash {
        user: String,
        phc: Arc<str>,
        password: Zeroizing<Vec<u8>>,
    },
    /// A PLAIN refusal where known users have hashes (an unknown user, or a plaintext
    /// user's wrong password): a check against a dummy hash, so that it takes as long as
    /// a hashed user's refusal (no enumeration of names, nor of plaintext entries, by
    /// timing); always 400 with `text`.
    Refuse {
        password: Zeroizing<Vec<u8>>,
        text: &'static str,
    },
    /// A PLAIN user looked up in a store, then its hash checked.
    StoreUser {
        store: StoreHandle,
        domain: String,
        user: String,
        password: Zeroizing<Vec<u8>>,
    },
}

impl SlowJob {
    /// Its kind, as a metrics label.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SlowJob::Curve(_) => "callback",
            SlowJob::StoreKey(_) => "store_key",
            SlowJob::Hash { .. } | SlowJob::Refuse { .. } => "hash",
            SlowJob::StoreUser { .. } => "store_user",
        }
    }

    /// The source it waits on, as the engine's bulkhead key: one credentials provider,
    /// one store, or [`HASH_SOURCE`] for argon2id checks of files and maps.
    pub(crate) fn source(&self) -> usize {
        match self {
            SlowJob::Curve(job) => job.source_id(),
            SlowJob::StoreKey(job) => job.source_id(),
            SlowJob::Hash { .. } | SlowJob::Refuse { .. } => HASH_SOURCE,
            SlowJob::StoreUser { store, .. } => store.id(),
        }
    }

    /// For a CURVE look-up (callback or store), the (domain, key) it asks about: equal
    /// asks to one source while one is in flight can share its answer. PLAIN checks
    /// carry a password and are never shared.
    pub(crate) fn asks(&self) -> Option<(&str, &[u8; 32])> {
        match self {
            SlowJob::Curve(job) => Some(job.asks()),
            SlowJob::StoreKey(job) => Some(job.asks()),
            _ => None,
        }
    }

    /// Runs the work; a panic in user code becomes 500, a store that fails 300.
    pub(crate) fn run(&self) -> Verdict<'static> {
        match self {
            SlowJob::Curve(job) => job.run(),
            SlowJob::StoreKey(job) => job.run(),
            SlowJob::Hash {
                user,
                phc,
                password,
            } => check(user, phc, password),
            SlowJob::Refuse { password, text } => refuse(password, text),
            SlowJob::StoreUser {
                store,
                domain,
                user,
                password,
            } => match store.lookup_user(domain, user) {
                Ok(Some(phc)) => check(user, &phc, password),
                Ok(None) => refuse(password, "Invalid username"),
                Err(e) => {
                    zlog!(
                        Error,
                        "{}: user look-up failed, replying 300: {e}",
                        store.describe()
                    );
                    try_later()
                }
            },
        }
    }
}

/// Costs what a hashed user's check costs, then refuses with `text`.
fn refuse(password: &[u8], text: &'static str) -> Verdict<'static> {
    if let Some(dummy) = phc::dummy_hash() {
        let _ = phc::verify(dummy, password);
    }
    deny(text)
}

fn check(user: &str, phc: &str, password: &[u8]) -> Verdict<'static> {
    match phc::verify(phc, password) {
        Verify::Match => ok(
            UserId::Text(Cow::Owned(user.to_string())),
            super::still::version_metadata(phc.as_bytes()),
        ),
        Verify::Mismatch => deny("Invalid password"),
        Verify::Unusable => {
            zlog!(
                Warn,
                "PLAIN user {user:?}: stored password hash is unusable; refusing"
            );
            deny("Invalid password")
        }
    }
}
