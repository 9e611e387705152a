//! CURVE: [`CurveDecision`], [`CredentialsProvider`], the per-domain CURVE policy and its
//! decision, and reporting of certificate-directory problems.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use super::{deny, domain_key, find_domain, internal, Authenticator, UserId, Verdict};
use crate::certs::CertDir;
use crate::error::Result;
use crate::keys::{require_curve, z85_key_bytes};
use crate::zap::{StatusCode, ZapRequest};
use crate::CURVE_ALLOW_ANY;

/// What a [`CredentialsProvider`] decides about a CURVE client key.
///
/// ```
/// use zmq_auth::{Authenticator, CredentialsProvider, CurveDecision, StatusCode};
/// struct Directory { online: bool }
/// impl CredentialsProvider for Directory {
///     fn callback(&mut self, _domain: &str, _key: &str) -> bool {
///         true
///     }
///     fn decide(&mut self, _domain: &str, _key: &str) -> CurveDecision {
///         if self.online { CurveDecision::Allow } else { CurveDecision::TryLater }
///     }
/// }
/// # if !zmq_auth::curve_available() { return; }
/// let mut auth = Authenticator::new();
/// auth.configure_curve_callback("*", Directory { online: false }).unwrap();
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

/// Decides CURVE client keys for [`Authenticator::configure_curve_callback`].
///
/// Implemented for every `FnMut(&str, &str) -> bool + Send` closure, which receives the
/// ZAP domain and the client's public key as 40 Z85 characters. A panic inside the
/// provider becomes a 500 reply; the authenticator keeps serving.
///
/// ```
/// use std::collections::HashSet;
/// use zmq_auth::{encode_z85_key, Authenticator, CredentialsProvider};
/// struct Trusted(HashSet<String>);
/// impl CredentialsProvider for Trusted {
///     fn callback(&mut self, _domain: &str, client_key_z85: &str) -> bool {
///         self.0.contains(client_key_z85)
///     }
/// }
/// # if !zmq_auth::curve_available() { return; }
/// let good = [1u8; 32];
/// let mut auth = Authenticator::new();
/// auth.configure_curve_callback("*", Trusted([encode_z85_key(&good)].into())).unwrap();
/// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &good];
/// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
/// let req: [&[u8]; 7] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"CURVE", &[2u8; 32]];
/// assert_eq!(auth.handle_zap_message(&req).status_text(), "Unknown key");
/// ```
pub trait CredentialsProvider: Send {
    /// Is the client with this public key (Z85) allowed in this domain?
    ///
    /// ```
    /// use zmq_auth::CredentialsProvider;
    /// // Closures are providers.
    /// let mut only_global = |domain: &str, _key: &str| domain == "global";
    /// assert!(only_global.callback("global", &"0".repeat(40)));
    /// assert!(!only_global.callback("other", &"0".repeat(40)));
    /// ```
    fn callback(&mut self, domain: &str, client_key_z85: &str) -> bool;

    /// Like [`callback`](Self::callback), but may also answer [`CurveDecision::TryLater`].
    /// The default calls `callback`.
    ///
    /// ```
    /// use zmq_auth::{CredentialsProvider, CurveDecision};
    /// let mut provider = |_domain: &str, key: &str| key.starts_with('0');
    /// assert_eq!(provider.decide("", &"0".repeat(40)), CurveDecision::Allow);
    /// assert_eq!(provider.decide("", &"1".repeat(40)), CurveDecision::Deny);
    /// ```
    fn decide(&mut self, domain: &str, client_key_z85: &str) -> CurveDecision {
        if self.callback(domain, client_key_z85) {
            CurveDecision::Allow
        } else {
            CurveDecision::Deny
        }
    }
}

impl<F: FnMut(&str, &str) -> bool + Send> CredentialsProvider for F {
    fn callback(&mut self, domain: &str, client_key_z85: &str) -> bool {
        self(domain, client_key_z85)
    }
}

pub(super) enum CurvePolicy {
    AllowAny,
    Certs {
        store: Box<CertDir>,
        last_check: Instant,
        broken: bool,
    },
    Callback(Box<dyn CredentialsProvider>),
}

impl Authenticator {
    /// Sets `domain`'s CURVE policy: [`CURVE_ALLOW_ANY`] (`"*"`) admits any client that
    /// completes the handshake; a directory admits the clients whose public
    /// certificates (`*.key`) are in it. The directory is checked at most once per
    /// reload interval (one second by default), on CURVE requests: files added, removed
    /// or renamed over take effect at the next check; a file edited in place, at the
    /// latest on the fifth check. Replaces the domain's previous CURVE policy; a missing or
    /// unreadable directory is an error and the previous policy stays. Files that do
    /// not load are skipped with a warning naming them.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// zmq_auth::create_certificates(dir.path(), "client", &[]).unwrap();
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_curve("*", dir.path()).unwrap();
    /// assert!(auth.configure_curve("*", dir.path().join("nope")).is_err());
    /// auth.configure_curve("public", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// ```
    pub fn configure_curve(&mut self, domain: &str, location: impl AsRef<Path>) -> Result<()> {
        require_curve()?;
        let location = location.as_ref();
        let policy = if location.as_os_str() == CURVE_ALLOW_ANY {
            zlog!(Debug, "CURVE domain {domain:?}: allow any");
            CurvePolicy::AllowAny
        } else {
            let (store, problems) = CertDir::load(location)?;
            report(&problems);
            zlog!(
                Debug,
                "CURVE domain {domain:?}: {} keys from {}",
                store.len(),
                location.display()
            );
            CurvePolicy::Certs {
                store: Box::new(store),
                last_check: Instant::now(),
                broken: false,
            }
        };
        self.curve.insert(domain_key(domain), policy);
        Ok(())
    }

    /// Sets `domain`'s CURVE policy to a provider (often a closure) that decides each
    /// client key, replacing the domain's previous CURVE policy.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_curve_callback("*", |_domain: &str, key: &str| key.starts_with('a')).unwrap();
    /// let key = zmq_auth::decode_z85_key(&"a".repeat(40)).unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &key];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// ```
    pub fn configure_curve_callback(
        &mut self,
        domain: &str,
        provider: impl CredentialsProvider + 'static,
    ) -> Result<()> {
        require_curve()?;
        zlog!(Debug, "CURVE domain {domain:?}: callback");
        self.curve.insert(
            domain_key(domain),
            CurvePolicy::Callback(Box::new(provider)),
        );
        Ok(())
    }

    pub(super) fn decide_curve<'a>(&mut self, req: &ZapRequest<'a>) -> Verdict<'a> {
        let key: [u8; 32] = match req.credentials {
            [k] => match <[u8; 32]>::try_from(*k) {
                Ok(k) => k,
                Err(_) => return deny("Invalid credentials"),
            },
            _ => return deny("Invalid credentials"),
        };
        let Some(domain) = find_domain(&self.curve, req.domain) else {
            return deny("Unknown domain");
        };
        let interval = self.reload_interval;
        let Some(policy) = self.curve.get_mut(domain) else {
            return internal();
        };
        // The key's Z85 text once a callback needed it: also the default user id.
        let mut z85_text: Option<[u8; 40]> = None;
        let metadata = match policy {
            CurvePolicy::AllowAny => None,
            CurvePolicy::Certs {
                store,
                last_check,
                broken,
            } => {
                if last_check.elapsed() >= interval {
                    *last_check = Instant::now();
                    match store.refresh() {
                        Ok(problems) => {
                            if *broken {
                                zlog!(
                                    Warn,
                                    "certificate directory {} readable again",
                                    store.dir().display()
                                );
                            }
                            *broken = false;
                            report(&problems);
                        }
                        Err(e) => {
                            if !*broken {
                                zlog!(Error, "certificate directory unreadable, refusing CURVE clients with 500: {e}");
                            }
                            *broken = true;
                        }
                    }
                }
                if *broken {
                    return internal();
                }
                if !store.contains(&key) {
                    return deny("Unknown key");
                }
                store.metadata(&key).cloned()
            }
            CurvePolicy::Callback(provider) => {
                let dom = String::from_utf8_lossy(req.domain);
                let z85 = z85_key_bytes(&key);
                let text = std::str::from_utf8(&z85).unwrap_or_default();
                match catch_unwind(AssertUnwindSafe(|| provider.decide(&dom, text))) {
                    Ok(CurveDecision::Allow) => {
                        z85_text = Some(z85);
                        None
                    }
                    Ok(CurveDecision::Deny) => return deny("Unknown key"),
                    Ok(CurveDecision::TryLater) => {
                        return (
                            StatusCode::TemporaryError,
                            Cow::Borrowed("Temporary failure"),
                            UserId::Text(Cow::Borrowed("")),
                            None,
                        )
                    }
                    Err(_) => {
                        zlog!(Error, "CURVE credentials callback panicked; replying 500");
                        return internal();
                    }
                }
            }
        };
        let user_id = match &self.curve_user_id {
            None => UserId::Z85(z85_text.unwrap_or_else(|| z85_key_bytes(&key))),
            Some(f) => match catch_unwind(AssertUnwindSafe(|| f(&key))) {
                Ok(id) => UserId::Text(Cow::Owned(id)),
                Err(_) => {
                    zlog!(Error, "CURVE user-id function panicked; replying 500");
                    return internal();
                }
            },
        };
        (StatusCode::Success, Cow::Borrowed("OK"), user_id, metadata)
    }
}

fn report(problems: &[crate::certs::Problem]) {
    for p in problems {
        match p {
            crate::certs::Problem::Skipped(e) => {
                zlog!(Warn, "skipping certificate: {e}")
            }
            crate::certs::Problem::MetadataDropped(e) => {
                zlog!(Warn, "certificate metadata dropped: {e}")
            }
            crate::certs::Problem::Duplicate { file, other } => zlog!(
                Warn,
                "{}: same public key as {}; keeping both",
                file.display(),
                other.display()
            ),
        }
    }
}
