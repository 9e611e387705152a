//! Live revocation: would the current policy still admit a peer admitted earlier? ZAP
//! runs only at the handshake; a server that wants a revoked key to stop working on a
//! connection that is already open asks this, per message or periodically.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{CurveDecision, CurveRule, PlainRule, Policy};
use crate::keys::decode_z85_key;
use crate::store::lookup_domain;
use crate::zap::Mechanism;

impl Policy {
    /// `user_id` is the `User-Id` the peer was admitted with. CURVE: the key's Z85 text
    /// (with a custom user-id function, see [`Policy::still_admits_key`]). Cheap for
    /// maps, files and directories (hash probes); a store answers from its cache, and
    /// asks the database after a change (on the caller's thread); a provider is called.
    /// Anything it cannot confirm is `false`.
    pub(crate) fn still_admits(&self, domain: &str, mechanism: Mechanism, user_id: &str) -> bool {
        match mechanism {
            Mechanism::Null => true,
            Mechanism::Plain => self.still_plain(domain, user_id),
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

    fn still_plain(&self, domain: &str, user: &str) -> bool {
        let Some(d) = self.find_domain(&self.plain, domain.as_bytes(), Mechanism::Plain) else {
            return false;
        };
        match self.plain.get(d) {
            Some(PlainRule::Users(users)) => users.has_user(user),
            Some(PlainRule::Store(store)) => store
                .lookup_user(lookup_domain(domain.as_bytes()), user)
                .is_ok_and(|u| u.is_some()),
            Some(PlainRule::Broken) | None => false,
        }
    }

    /// [`Policy::still_admits`] for a CURVE key given as bytes.
    pub(crate) fn still_admits_key(&self, domain: &str, key: &[u8; 32]) -> bool {
        let Some(d) = self.find_domain(&self.curve, domain.as_bytes(), Mechanism::Curve) else {
            return false;
        };
        match self.curve.get(d) {
            Some(CurveRule::AllowAny) => true,
            Some(CurveRule::Keys(set)) => set.contains(key),
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
