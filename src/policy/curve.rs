//! CURVE: [`CurveDecision`], [`CredentialsProvider`], the CURVE decision and the slow
//! work it hands out when user code or a store must answer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::slow::SlowJob;
use super::{
    deny, internal, ok, try_later, CurveRule, Decision, Policy, UserId, UserIdFn, Verdict,
};
use crate::hash::NameHash;
use crate::keys::z85_key_bytes;
use crate::store::{lookup_domain, Cached, StoreHandle};
use crate::zap::{Mechanism, ZapRequest};

/// What a [`CredentialsProvider`] decides about a CURVE client key.
///
/// ```
/// use zmq_auth::{Authenticator, CredentialsProvider, CurveDecision, StatusCode};
/// struct Directory { online: bool }
/// impl CredentialsProvider for Directory {
///     fn callback(&self, _domain: &str, _key: &str) -> bool {
///         true
///     }
///     fn decide(&self, _domain: &str, _key: &str) -> CurveDecision {
///         if self.online { CurveDecision::Allow } else { CurveDecision::TryLater }
///     }
/// }
/// # if !zmq_auth::curve_available() { return; }
/// let mut auth = Authenticator::new();
/// auth.configure_curve_provider("*", Directory { online: false }).unwrap();
/// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &[1u8; 32]];
/// let reply = auth.handle_zap_message(&req);
/// assert_eq!(reply.status(), StatusCode::TemporaryError);
/// assert_eq!(reply.status_code(), 300);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveDecision {
    /// Admit the client (200).
    Allow,
    /// Refuse the client (400 `Unknown key`).
    Deny,
    /// The provider cannot decide now (its backing store is down): 300. libzmq (4.3)
    /// then neither admits nor refuses: the connection is dropped when the server's
    /// handshake timer (`ZMQ_HANDSHAKE_IVL`, 30 s by default) fires, and the client
    /// reconnects and asks again.
    TryLater,
}

/// Decides CURVE client keys for [`Authenticator::configure_curve_provider`]
/// (closures go to [`Authenticator::configure_curve_callback`]).
///
/// Takes `&self` and must be `Send + Sync`: [`crate::ThreadAuthenticator`] calls it from
/// a small pool of threads, several requests at once, under a deadline (a late answer
/// becomes 300). A panic inside the provider becomes a 500 reply; the authenticator keeps
/// serving.
///
/// [`Authenticator::configure_curve_provider`]: crate::Authenticator::configure_curve_provider
/// [`Authenticator::configure_curve_callback`]: crate::Authenticator::configure_curve_callback
///
/// ```
/// use std::collections::HashSet;
/// use zmq_auth::{encode_z85_key, Authenticator, CredentialsProvider};
/// struct Trusted(HashSet<String>);
/// impl CredentialsProvider for Trusted {
///     fn callback(&self, _domain: &str, client_key_z85: &str) -> bool {
///         self.0.contains(client_key_z85)
///     }
/// }
/// # if !zmq_auth::curve_available() { return; }
/// let good = [1u8; 32];
/// let mut auth = Authenticator::new();
/// auth.configure_curve_provider("*", Trusted([encode_z85_key(&good)].into())).unwrap();
/// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &good];
/// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
/// let req: [&[u8]; 7] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"CURVE", &[2u8; 32]];
/// assert_eq!(auth.handle_zap_message(&req).status_text(), "Unknown key");
/// ```
pub trait CredentialsProvider: Send + Sync {
    /// Is the client with this public key (Z85) allowed in this domain?
    ///
    /// ```
    /// use zmq_auth::CredentialsProvider;
    /// // Closures are providers.
    /// let only_global = |domain: &str, _key: &str| domain == "global";
    /// assert!(only_global.callback("global", &"0".repeat(40)));
    /// assert!(!only_global.callback("other", &"0".repeat(40)));
    /// ```
    fn callback(&self, domain: &str, client_key_z85: &str) -> bool;

    /// Like [`callback`](Self::callback), but may also answer [`CurveDecision::TryLater`].
    /// The default calls `callback`.
    ///
    /// ```
    /// use zmq_auth::{CredentialsProvider, CurveDecision};
    /// let provider = |_domain: &str, key: &str| key.starts_with('0');
    /// assert_eq!(provider.decide("", &"0".repeat(40)), CurveDecision::Allow);
    /// assert_eq!(provider.decide("", &"1".repeat(40)), CurveDecision::Deny);
    /// ```
    fn decide(&self, domain: &str, client_key_z85: &str) -> CurveDecision {
        if self.callback(domain, client_key_z85) {
            CurveDecision::Allow
        } else {
            CurveDecision::Deny
        }
    }
}

impl<F: Fn(&str, &str) -> bool + Send + Sync> CredentialsProvider for F {
    fn callback(&self, domain: &str, client_key_z85: &str) -> bool {
        self(domain, client_key_z85)
    }
}

/// User code a CURVE decision waits on: the provider's answer and/or the user-id
/// function. Owns everything it needs, so it can run on any thread, later.
pub(crate) struct CurveJob {
    provider: Option<Arc<dyn CredentialsProvider>>,
    domain: String,
    key: [u8; 32],
    metadata: Option<Arc<[u8]>>,
    user_id: Option<UserIdFn>,
}

impl CurveJob {
    /// The user code it runs (the provider, else the user-id function), as an identity
    /// for the engine's per-source share of the pool.
    pub(crate) fn source_id(&self) -> usize {
        match (&self.provider, &self.user_id) {
            (Some(p), _) => Arc::as_ptr(p).cast::<()>() as usize,
            (None, Some(f)) => Arc::as_ptr(f).cast::<()>() as usize,
            (None, None) => 1,
        }
    }

    /// The (domain, key) it asks about: equal asks in flight share one answer.
    pub(crate) fn asks(&self) -> (&str, &[u8; 32]) {
        (&self.domain, &self.key)
    }

    /// Runs the user code; a panic in it becomes 500.
    pub(crate) fn run(&self) -> Verdict<'static> {
        if let Some(provider) = &self.provider {
            let z85 = z85_key_bytes(&self.key);
            let text = std::str::from_utf8(&z85).unwrap_or_default();
            match catch_unwind(AssertUnwindSafe(|| provider.decide(&self.domain, text))) {
                Ok(CurveDecision::Allow) => {}
                Ok(CurveDecision::Deny) => return deny("Unknown key"),
                Ok(CurveDecision::TryLater) => return try_later(),
                Err(_) => {
                    zlog!(Error, "CURVE credentials provider panicked; replying 500");
                    return internal();
                }
            }
        }
        admit(&self.key, self.user_id.as_ref(), self.metadata.clone())
    }
}

/// 200 for a CURVE key, with the user id of the user-id function (a panic: 500) or the
/// key's Z85 text.
fn admit(
    key: &[u8; 32],
    user_id: Option<&UserIdFn>,
    metadata: Option<Arc<[u8]>>,
) -> Verdict<'static> {
    let user_id = match user_id {
        None => UserId::Z85(z85_key_bytes(key)),
        Some(f) => match catch_unwind(AssertUnwindSafe(|| f(key))) {
            // Applications read the User-Id as a C string: one with NUL would read as
            // something else, an empty one names nobody. Both are the function's error.
            Ok(id) if id.is_empty() || id.contains('\0') => {
                zlog!(
                    Error,
                    "CURVE user-id function returned an empty user id or one with NUL; replying 500"
                );
                return internal();
            }
            Ok(id) => UserId::Text(Cow::Owned(id)),
            Err(_) => {
                zlog!(Error, "CURVE user-id function panicked; replying 500");
                return internal();
            }
        },
    };
    ok(user_id, metadata)
}

/// A CURVE key the store's cache could not answer: ask the database.
pub(crate) struct StoreKeyJob {
    store: StoreHandle,
    domain: String,
    key: [u8; 32],
    user_id: Option<UserIdFn>,
}

impl StoreKeyJob {
    /// The store it asks (see [`CurveJob::source_id`]).
    pub(crate) fn source_id(&self) -> usize {
        self.store.id()
    }

    /// The (domain, key) it looks up: equal look-ups in flight share one query.
    pub(crate) fn asks(&self) -> (&str, &[u8; 32]) {
        (&self.domain, &self.key)
    }

    pub(crate) fn run(&self) -> Verdict<'static> {
        match self.store.lookup_key(&self.domain, &self.key) {
            Ok(Some(metadata)) => admit(&self.key, self.user_id.as_ref(), metadata),
            Ok(None) => deny("Unknown key"),
            Err(e) => {
                zlog!(
                    Error,
                    "{}: key look-up failed, replying 300: {e}",
                    self.store.describe()
                );
                try_later()
            }
        }
    }
}

impl Policy {
    /// Whether [`Policy::prefetch_curve`] can do anything: some CURVE rule has a key
    /// table large enough to leave the processor's cache.
    #[inline]
    pub(crate) fn hints_ahead(&self) -> bool {
        match &self.curve_ahead {
            Ahead::Nothing => false,
            // A store's cache grows and shrinks while the snapshot is in use.
            Ahead::One(CurveRule::Store(store)) => store.hints_ahead(),
            Ahead::One(_) | Ahead::ByDomain => true,
        }
    }

    /// A hint that a CURVE request for `key` comes next: fetch where its key will be
    /// looked up. `domain` gives the request's domain, asked for only when several
    /// rules could be meant. No side effects (no fallback warning, no metric).
    pub(crate) fn prefetch_curve<'d>(&self, key: &[u8; 32], domain: impl FnOnce() -> &'d [u8]) {
        match &self.curve_ahead {
            Ahead::Nothing => {}
            Ahead::One(rule) => prefetch_rule(rule, key),
            Ahead::ByDomain => {
                let rule = super::domains::domain_text(domain())
                    .and_then(|d| self.curve.get(d))
                    .or_else(|| self.curve.get("*"));
                if let Some(rule) = rule {
                    prefetch_rule(rule, key);
                }
            }
        }
    }

    pub(super) fn decide_curve<'a>(&self, req: &ZapRequest<'a>) -> Decision<'a> {
        let key: [u8; 32] = match req.credentials {
            [k] => match <[u8; 32]>::try_from(*k) {
                Ok(k) => k,
                Err(_) => return Decision::Done(deny("Invalid credentials")),
            },
            _ => return Decision::Done(deny("Invalid credentials")),
        };
        let Some((domain, rule)) = self.find_domain_rule(&self.curve, req.domain, Mechanism::Curve)
        else {
            return Decision::Done(deny("Unknown domain"));
        };
        let (provider, metadata) = match rule {
            CurveRule::AllowAny => (None, None),
            CurveRule::Keys(set) => match set.get(&key) {
                Some(metadata) => (None, metadata.cloned()),
                None => return Decision::Done(deny("Unknown key")),
            },
            CurveRule::Store(store) => {
                // An exact match is the request's own domain, already checked as UTF-8:
                // only a fallback to "*" needs the request's domain worked out again.
                let lookup = if domain == "*" {
                    lookup_domain(req.domain)
                } else {
                    domain
                };
                match store.cached_key(lookup, &key) {
                    Cached::Known(metadata) => (None, metadata),
                    Cached::Unknown => return Decision::Done(deny("Unknown key")),
                    Cached::Miss => {
                        return Decision::Ask(SlowJob::StoreKey(StoreKeyJob {
                            store: store.clone(),
                            domain: lookup.to_string(),
                            key,
                            user_id: self.curve_user_id.clone(),
                        }))
                    }
                }
            }
            CurveRule::Provider(p) => (Some(Arc::clone(p)), None),
            CurveRule::Broken => return Decision::Done(internal()),
        };
        if provider.is_none() && self.curve_user_id.is_none() {
            let verdict = ok(UserId::Z85(z85_key_bytes(&key)), metadata);
            return Decision::Done(verdict);
        }
        Decision::Ask(SlowJob::Curve(CurveJob {
            provider,
            domain: String::from_utf8_lossy(req.domain).into_owned(),
            key,
            metadata,
            user_id: self.curve_user_id.clone(),
        }))
    }
}

/// Where the ZAP loop fetches ahead for a CURVE request it received early (see
/// `ZapLoop::serve_batch`), worked out once per snapshot so that a configuration
/// without large key tables pays nothing for it.
#[derive(Clone, Default)]
pub(crate) enum Ahead {
    /// No key table large enough to leave the cache: no hint.
    #[default]
    Nothing,
    /// One rule has one: hinted whatever the request's domain (a wrong guess costs a
    /// fetched line, nothing else).
    One(CurveRule),
    /// Several: the request's domain picks one.
    ByDomain,
}

impl Ahead {
    pub(crate) fn of(curve: &HashMap<String, CurveRule, NameHash>) -> Ahead {
        let mut large = curve.values().filter(|r| match r {
            CurveRule::Keys(set) => set.is_large(),
            // Its cache grows while the snapshot is in use.
            CurveRule::Store(_) => true,
            CurveRule::AllowAny | CurveRule::Broken | CurveRule::Provider(_) => false,
        });
        match (large.next(), large.next()) {
            (None, _) => Ahead::Nothing,
            (Some(rule), None) => Ahead::One(rule.clone()),
            (Some(_), Some(_)) => Ahead::ByDomain,
        }
    }
}

fn prefetch_rule(rule: &CurveRule, key: &[u8; 32]) {
    match rule {
        CurveRule::Keys(set) => set.prefetch(key),
        CurveRule::Store(store) => store.prefetch_key(key),
        CurveRule::AllowAny | CurveRule::Broken | CurveRule::Provider(_) => {}
    }
}
