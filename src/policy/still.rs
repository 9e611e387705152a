//! Live revocation: would the current policy still admit a peer admitted earlier? ZAP
//! runs only at the handshake; a server that wants a revoked key to stop working on a
//! connection that is already open asks this, per message or periodically.

use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use super::{CurveDecision, CurveRule, PlainRule, Policy};
use crate::keys::decode_z85_key;
use crate::store::lookup_domain;
use crate::zap::Mechanism;

/// The ZAP metadata property a PLAIN admission carries: the version of the credential
/// the peer was admitted with (10 characters of `[0-9A-Za-z_-]`, 60 bits), for
/// [`crate::ThreadAuthenticator::still_admits_version`].
pub(crate) const CREDENTIAL_VERSION: &str = "Credential-Version";

/// Characters of a version: the URL-safe base64 alphabet, 6 bits each.
const VERSION_DIGITS: &[u8; 64] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/// A fingerprint of a stored credential (a plaintext password or a PHC string): keyed
/// with a random key of this process, so it tells nothing about the password outside
/// it, and changes when the stored entry does (a change keeps the same version with a
/// chance of 2^-60).
///
/// Ten characters, so that the whole metadata frame (23 bytes of framing and name, then
/// these) is 33 bytes: the most libzmq keeps inside a message without a heap block. A
/// longer value cost every PLAIN admission a `malloc` on the ZAP thread and a `free`
/// on libzmq's I/O thread.
pub(crate) fn credential_version(stored: &[u8]) -> [u8; 10] {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut h = KEY.get_or_init(Default::default).build_hasher();
    h.write(stored);
    let mut rest = h.finish();
    let mut out = [0u8; 10];
    // Least significant six bits last; the top four bits of the hash are not used.
    for slot in out.iter_mut().rev() {
        *slot = VERSION_DIGITS[usize::try_from(rest & 0x3f).unwrap_or(0)];
        rest >>= 6;
    }
    out
}

/// The metadata of a PLAIN admission: [`CREDENTIAL_VERSION`] of the stored entry.
pub(crate) fn version_metadata(stored: &[u8]) -> Option<Arc<[u8]>> {
    // Ours is a valid property name and a 10-byte value: this does not fail.
    crate::zap::encode_metadata(&[(CREDENTIAL_VERSION, credential_version(stored))])
        .ok()
        .map(Arc::from)
}

impl Policy {
    /// `user_id` is the `User-Id` the peer was admitted with. CURVE: the key's Z85 text
    /// (with a custom user-id function, see [`Policy::still_admits_key`]). Cheap for
    /// maps, files and directories (hash probes); a store answers from its cache, and
    /// asks the database after a change (on the caller's thread); a provider is called.
    /// Anything it cannot confirm is `false`.
    pub(crate) fn still_admits(&self, domain: &str, mechanism: Mechanism, user_id: &str) -> bool {
        match mechanism {
            Mechanism::Null => true,
            Mechanism::Plain => self.still_plain(domain, user_id, None),
            Mechanism::Curve => match decode_z85_key(user_id) {
                Ok(key) => self.still_admits_key(domain, &key),
                Err(_) => false,
            },
            Mechanism::Gssapi => {
                !user_id.is_empty()
                    && self.find_domain_set(&self.gssapi, domain.as_bytes(), mechanism)
            }
            Mechanism::Other => false,
        }
    }

    fn still_plain(&self, domain: &str, user: &str, version: Option<&str>) -> bool {
        let Some(d) = self.find_domain(&self.plain, domain.as_bytes(), Mechanism::Plain) else {
            return false;
        };
        let same =
            |stored: &[u8]| version.is_none_or(|v| credential_version(stored) == v.as_bytes());
        match self.plain.get(d) {
            Some(PlainRule::Users(users)) => match version {
                None => users.has_user(user),
                Some(_) => users.with_stored(user, same).unwrap_or(false),
            },
            Some(PlainRule::Store(store)) => store
                .lookup_user(lookup_domain(domain.as_bytes()), user)
                .is_ok_and(|u| u.is_some_and(|phc| same(phc.as_bytes()))),
            Some(PlainRule::Broken) | None => false,
        }
    }

    /// [`Policy::still_admits`], and for PLAIN also the credential: `version` is the
    /// [`CREDENTIAL_VERSION`] the peer was admitted with; a changed password no longer
    /// matches it. Other mechanisms ignore it.
    pub(crate) fn still_admits_version(
        &self,
        domain: &str,
        mechanism: Mechanism,
        user_id: &str,
        version: &str,
    ) -> bool {
        match mechanism {
            Mechanism::Plain => self.still_plain(domain, user_id, Some(version)),
            _ => self.still_admits(domain, mechanism, user_id),
        }
    }

    /// [`Policy::still_admits`] for a CURVE key given as bytes.
    pub(crate) fn still_admits_key(&self, domain: &str, key: &[u8; 32]) -> bool {
        let Some(d) = self.find_domain(&self.curve, domain.as_bytes(), Mechanism::Curve) else {
            return false;
        };
        match self.curve.get(d) {
            Some(CurveRule::AllowAny) => true,
            Some(CurveRule::Keys(set)) => set.get(key).is_some(),
            Some(CurveRule::Store(store)) => store
                .lookup_key(lookup_domain(domain.as_bytes()), key)
                .is_ok_and(|k| k.is_some()),
            Some(CurveRule::Provider(p)) => {
                let z85 = crate::keys::z85_key_bytes(key);
                let text = std::str::from_utf8(&z85).unwrap_or_default();
                matches!(
                    catch_unwind(AssertUnwindSafe(|| p.decide(domain, text))),
                    Ok(CurveDecision::Allow)
                )
            }
            Some(CurveRule::Broken) | None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_url_safe_and_follow_the_entry() {
        let a = credential_version(b"correct-horse");
        assert!(a.iter().all(|c| VERSION_DIGITS.contains(c)));
        assert_eq!(a, credential_version(b"correct-horse"));
        assert_ne!(a, credential_version(b"battery-staple"));
        let meta = version_metadata(b"correct-horse").unwrap();
        let decoded = crate::zap::decode_metadata(&meta).unwrap();
        assert_eq!(decoded, vec![(CREDENTIAL_VERSION.to_string(), a.to_vec())]);
        // libzmq keeps a frame of up to 33 bytes inside the message (no heap block).
        assert_eq!(meta.len(), 33);
    }

    #[test]
    fn versions_use_sixty_bits() {
        // Distinct entries give distinct versions, and every position varies: no digit
        // is stuck (a shift or mask slip would leave one constant).
        let versions: std::collections::HashSet<[u8; 10]> = (0..2000u32)
            .map(|i| credential_version(&i.to_le_bytes()))
            .collect();
        assert_eq!(versions.len(), 2000);
        for pos in 0..10 {
            let seen: std::collections::HashSet<u8> = versions.iter().map(|v| v[pos]).collect();
            assert!(seen.len() > 32, "position {pos}: {} characters", seen.len());
        }
    }
}
