//! [`Authenticator`]: the configuration (what the caller set up, with its sources) and
//! a synchronous ZAP handler over it for custom poll loops and tests.

mod setters;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::address::AddressList;
use crate::hash::NameHash;
use crate::plain::UserMap;
use crate::policy::lockout::{Lockout, LockoutSettings};
use crate::policy::{
    self, deny, Asked, CredentialsProvider, CurveRule, Decision, DomainWarnings, PlainRule, Policy,
    UserIdFn,
};
use crate::sources::{DirSource, PasswordFile, Source, Versioned};
use crate::store::StoreHandle;
use crate::zap::Mechanism;
use crate::zap::ZapReply;

/// A domain's PLAIN configuration.
#[derive(Clone)]
enum PlainSource {
    Map(Arc<UserMap>),
    File(Arc<Versioned<PasswordFile>>),
    Store(StoreHandle),
}

/// A domain's CURVE configuration.
#[derive(Clone)]
enum CurveSource {
    AllowAny,
    Dir(Arc<Versioned<DirSource>>),
    Provider(Arc<dyn CredentialsProvider>),
    Store(StoreHandle),
}

/// A ZAP policy and its sources, with a synchronous handler.
///
/// Configure it with the same methods as [`crate::ThreadAuthenticator`] (they are the
/// same code), then feed [`handle_zap_message`](Self::handle_zap_message) the frames of
/// each ZAP request (after any ROUTER envelope) and send back the reply's frames.
///
/// **What it does on your thread:** `handle_zap_message` re-checks configured
/// certificate directories and password files when the reload interval has passed
/// (reading files), and calls credentials providers and the user-id function inline,
/// with no deadline. [`crate::ThreadAuthenticator`] does neither on its ZAP loop: it
/// re-checks on a watcher thread and runs user code on a pool under a deadline. Use this
/// type for your own poll loop, or to test a policy without sockets.
///
/// Every configuration call is all or nothing: when it returns an error, nothing changed.
///
/// ```
/// use zmq_auth::Authenticator;
/// let mut auth = Authenticator::new();
/// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
/// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
/// let reply = auth.handle_zap_message(&req);
/// assert_eq!(reply.status_code(), 200);
/// assert_eq!(reply.user_id(), "admin");
/// let req: [&[u8]; 8] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"guess"];
/// assert_eq!(auth.handle_zap_message(&req).status_text(), "Invalid password");
/// ```
pub struct Authenticator {
    allow: Arc<AddressList>,
    deny: Arc<AddressList>,
    plain: HashMap<String, PlainSource, NameHash>,
    curve: HashMap<String, CurveSource, NameHash>,
    gssapi: HashSet<String, NameHash>,
    curve_user_id: Option<UserIdFn>,
    reload_interval: Duration,
    lockout: Option<LockoutSettings>,
    strict_domains: bool,
    /// Which unconfigured domains were warned about (shared with every snapshot).
    domain_warnings: Arc<DomainWarnings>,
    /// The synchronous handler's lock-out table (the engine keeps its own).
    lockout_table: Option<Lockout>,
    /// The synchronous handler's snapshot; `None` after any change.
    cached: Option<Arc<Policy>>,
    last_recheck: Instant,
    /// False for the engine's copies: its watcher alone re-checks the shared sources, and
    /// what it saw is compared with what was published (a failed `configure` closure
    /// must leave no trace in them).
    rechecks: bool,
}

/// A summary (domains and counts); never passwords.
impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields = |f: &mut std::fmt::Formatter<'_>| {
            let mut plain: Vec<(&str, String)> = self
                .plain
                .iter()
                .map(|(d, p)| {
                    let what = match p {
                        PlainSource::Map(m) => format!("{} users", m.len()),
                        PlainSource::Store(s) => format!("store {}", s.describe()),
                        PlainSource::File(file) => {
                            let file = file.lock();
                            match file.users() {
                                Some(u) => {
                                    format!("{} users from {}", u.len(), file.path().display())
                                }
                                None => format!("unreadable {}", file.path().display()),
                            }
                        }
                    };
                    (d.as_str(), what)
                })
                .collect();
            plain.sort();
            let mut curve: Vec<(&str, String)> = self
                .curve
                .iter()
                .map(|(d, p)| {
                    let what = match p {
                        CurveSource::AllowAny => "allow any".to_string(),
                        CurveSource::Dir(dir) => {
                            let dir = dir.lock();
                            format!("{} keys from {}", dir.len(), dir.path().display())
                        }
                        CurveSource::Provider(_) => "callback".to_string(),
                        CurveSource::Store(s) => format!("store {}", s.describe()),
                    };
                    (d.as_str(), what)
                })
                .collect();
            curve.sort();
            let mut gssapi: Vec<&str> = self.gssapi.iter().map(String::as_str).collect();
            gssapi.sort();
            f.debug_struct("Authenticator")
                .field("allow_list", &!self.allow.is_empty())
                .field("deny_list", &!self.deny.is_empty())
                .field("plain", &plain)
                .field("curve", &curve)
                .field("gssapi", &gssapi)
                .field("custom_curve_user_id", &self.curve_user_id.is_some())
                .field("reload_interval", &self.reload_interval)
                .field("strict_domains", &self.strict_domains)
                .finish()
        };
        // An audit build records what Debug shows (see src/audit.rs).
        #[cfg(zmq_auth_audit)]
        crate::audit::debug_text(&fields);
        fields(f)
    }
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

/// `""` means "every domain", spelled `"*"`.
fn domain_key(domain: &str) -> String {
    if domain.is_empty() {
        "*".to_string()
    } else {
        domain.to_string()
    }
}

impl Authenticator {
    /// An authenticator with no policy: NULL is allowed, every other mechanism refused
    /// until configured.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// let null: [&[u8]; 6] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&null).user_id(), "anonymous");
    /// let plain: [&[u8]; 8] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"PLAIN", b"u", b"p"];
    /// assert_eq!(auth.handle_zap_message(&plain).status_code(), 400);
    /// ```
    pub fn new() -> Self {
        #[cfg(zmq_auth_audit)]
        crate::audit::touch();
        Authenticator {
            allow: Arc::default(),
            deny: Arc::default(),
            plain: HashMap::default(),
            curve: HashMap::default(),
            gssapi: HashSet::default(),
            curve_user_id: None,
            reload_interval: Duration::from_secs(1),
            lockout: None,
            strict_domains: false,
            domain_warnings: Arc::default(),
            lockout_table: None,
            cached: None,
            last_recheck: Instant::now(),
            rechecks: true,
        }
    }

    /// A copy of the configuration sharing its sources (for an all-or-nothing change:
    /// change the copy, keep it only if every step succeeded).
    pub(crate) fn fork(&self) -> Authenticator {
        Authenticator {
            allow: Arc::clone(&self.allow),
            deny: Arc::clone(&self.deny),
            plain: self.plain.clone(),
            curve: self.curve.clone(),
            gssapi: self.gssapi.clone(),
            curve_user_id: self.curve_user_id.clone(),
            reload_interval: self.reload_interval,
            lockout: self.lockout,
            strict_domains: self.strict_domains,
            domain_warnings: Arc::clone(&self.domain_warnings),
            lockout_table: None,
            cached: None,
            last_recheck: Instant::now(),
            rechecks: false,
        }
    }

    /// Something changed: the next request builds a new snapshot.
    fn changed(&mut self) {
        self.cached = None;
    }

    /// The policy as of now, frozen.
    pub(crate) fn snapshot(&self) -> Policy {
        let plain = self
            .plain
            .iter()
            .map(|(d, p)| {
                let rule = match p {
                    PlainSource::Map(m) => PlainRule::Users(Arc::clone(m)),
                    PlainSource::Store(s) => PlainRule::Store(s.clone()),
                    PlainSource::File(f) => {
                        f.lock().users().map_or(PlainRule::Broken, PlainRule::Users)
                    }
                };
                (d.clone(), rule)
            })
            .collect();
        let curve = self
            .curve
            .iter()
            .map(|(d, c)| {
                let rule = match c {
                    CurveSource::AllowAny => CurveRule::AllowAny,
                    CurveSource::Dir(dir) => {
                        dir.lock().keys().map_or(CurveRule::Broken, CurveRule::Keys)
                    }
                    CurveSource::Provider(p) => CurveRule::Provider(Arc::clone(p)),
                    CurveSource::Store(s) => CurveRule::Store(s.clone()),
                };
                (d.clone(), rule)
            })
            .collect();
        Policy {
            allow: Arc::clone(&self.allow),
            deny: Arc::clone(&self.deny),
            plain,
            curve_ahead: crate::policy::curve::Ahead::of(&curve),
            curve,
            gssapi: self.gssapi.clone(),
            curve_user_id: self.curve_user_id.clone(),
            lockout: self.lockout,
            strict_domains: self.strict_domains,
            domain_warnings: Arc::clone(&self.domain_warnings),
            #[cfg(feature = "test-hooks")]
            _drop_probe: Default::default(),
        }
    }

    /// The file-backed sources, to re-check.
    pub(crate) fn sources(&self) -> Vec<Source> {
        let files = self.plain.values().filter_map(|p| match p {
            PlainSource::File(f) => Some(Source::File(Arc::clone(f))),
            PlainSource::Map(_) | PlainSource::Store(_) => None,
        });
        let dirs = self.curve.values().filter_map(|c| match c {
            CurveSource::Dir(d) => Some(Source::Dir(Arc::clone(d))),
            _ => None,
        });
        files.chain(dirs).collect()
    }

    pub(crate) fn reload_interval(&self) -> Duration {
        self.reload_interval
    }

    /// The snapshot to decide by: file sources re-checked first when the reload
    /// interval has passed.
    fn policy_now(&mut self) -> Arc<Policy> {
        if self.rechecks && self.last_recheck.elapsed() >= self.reload_interval {
            self.last_recheck = Instant::now();
            let mut any = false;
            for s in self.sources() {
                any |= s.recheck();
            }
            if any {
                self.changed();
            }
        }
        match &self.cached {
            Some(p) => Arc::clone(p),
            None => {
                let p = Arc::new(self.snapshot());
                self.cached = Some(Arc::clone(&p));
                p
            }
        }
    }

    /// Decides one ZAP request: `request` is the list of frames after any ROUTER
    /// envelope. Every input, however malformed, gets a well-formed reply.
    ///
    /// On this thread: re-checks file sources when the reload interval has passed, and
    /// runs credentials providers and the user-id function (see the type's docs).
    ///
    /// ```
    /// use zmq_auth::{split_envelope, Authenticator};
    /// let mut auth = Authenticator::new();
    /// // A message as a ROUTER socket bound to ZAP_ENDPOINT receives it.
    /// let msg: [&[u8]; 8] = [b"peer", b"", b"1.0", b"1", b"", b"127.0.0.1", b"", b"NULL"];
    /// let (envelope, body) = split_envelope(&msg);
    /// let reply = auth.handle_zap_message(body);
    /// assert_eq!(reply.status_code(), 200);
    /// let out: Vec<&[u8]> = envelope.iter().copied().chain(reply.frames()).collect();
    /// assert_eq!(out.len(), 8);
    /// // Malformed input: still a reply.
    /// assert_eq!(auth.handle_zap_message(&[]).status_text(), "Not enough frames");
    /// ```
    pub fn handle_zap_message(&mut self, request: &[&[u8]]) -> ZapReply {
        self.handle_zap_message_at(request, Instant::now())
    }

    /// [`handle_zap_message`](Self::handle_zap_message) with the lock-out clock at `now`
    /// (the fuzz targets drive it with a simulated clock, through `test_hooks`).
    pub(crate) fn handle_zap_message_at(&mut self, request: &[&[u8]], now: Instant) -> ZapReply {
        let policy = self.policy_now();
        let (req, mechanism) = match policy::parse(request) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let asked = Asked::of(&req, mechanism);
        match (policy.lockout, &mut self.lockout_table) {
            (None, table) => *table = None,
            (Some(s), Some(t)) => t.set(s),
            (Some(s), table) => *table = Some(Lockout::new(s)),
        }
        if let Some(table) = &self.lockout_table {
            if table.is_locked(req.address, now) {
                return asked.answer(deny(policy::TOO_MANY_FAILURES), false).0;
            }
        }
        let reply = match policy.decide(&req, mechanism) {
            Decision::Done(v) => asked.answer(v, false).0,
            Decision::Ask(job) => asked.answer(job.run(), false).0,
        };
        if let Some(table) = &mut self.lockout_table {
            if policy::counts_as_failure(reply.status(), reply.status_text())
                && table.failed(req.address, now)
            {
                policy::report_lockout(req.address, table.settings());
            }
        }
        reply
    }

    /// Would the current policy still admit a peer admitted earlier? See
    /// [`crate::ThreadAuthenticator::still_admits`]. Re-checks file sources first when
    /// the reload interval has passed (this is the synchronous handler).
    ///
    /// ```
    /// use zmq_auth::{Authenticator, Mechanism};
    /// let mut auth = Authenticator::new();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    /// assert!(auth.still_admits("", Mechanism::Plain, "admin"));
    /// auth.configure_plain("*", [("other", "battery-staple")]).unwrap();
    /// assert!(!auth.still_admits("", Mechanism::Plain, "admin"));
    /// ```
    pub fn still_admits(&mut self, domain: &str, mechanism: Mechanism, user_id: &str) -> bool {
        self.policy_now().still_admits(domain, mechanism, user_id)
    }

    /// [`crate::ThreadAuthenticator::still_admits_version`]: also checks a PLAIN peer's
    /// `Credential-Version` (from its admission's metadata).
    ///
    /// ```
    /// use zmq_auth::{Authenticator, Mechanism};
    /// let mut auth = Authenticator::new();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// let meta = zmq_auth::decode_metadata(auth.handle_zap_message(&req).metadata()).unwrap();
    /// let version = String::from_utf8(meta[0].1.clone()).unwrap();
    /// assert!(auth.still_admits_version("", Mechanism::Plain, "admin", &version));
    /// auth.configure_plain("*", [("admin", "battery-staple")]).unwrap();
    /// assert!(!auth.still_admits_version("", Mechanism::Plain, "admin", &version));
    /// ```
    pub fn still_admits_version(
        &mut self,
        domain: &str,
        mechanism: Mechanism,
        user_id: &str,
        version: &str,
    ) -> bool {
        self.policy_now()
            .still_admits_version(domain, mechanism, user_id, version)
    }

    /// [`still_admits`](Self::still_admits) for a CURVE peer by its public key.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// # if !zmq_auth::curve_available() { return; }
    /// auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// assert!(auth.still_admits_key("", &[1u8; 32]));
    /// ```
    pub fn still_admits_key(&mut self, domain: &str, public_key: &[u8; 32]) -> bool {
        self.policy_now().still_admits_key(domain, public_key)
    }

    /// Sets the lock-out of guessing peers; see
    /// [`crate::ThreadAuthenticator::limit_failures`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    /// auth.limit_failures(2, Duration::from_secs(60), Duration::from_secs(600)).unwrap();
    /// let guess: [&[u8]; 8] = [b"1.0", b"1", b"", b"192.0.2.9", b"", b"PLAIN", b"admin", b"guess"];
    /// assert_eq!(auth.handle_zap_message(&guess).status_text(), "Invalid password");
    /// assert_eq!(auth.handle_zap_message(&guess).status_text(), "Invalid password");
    /// // Locked out: even the right password is not checked.
    /// let right: [&[u8]; 8] = [b"1.0", b"2", b"", b"192.0.2.9", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&right).status_text(), "Too many failures");
    /// ```
    pub fn limit_failures(
        &mut self,
        max_failures: u32,
        window: Duration,
        ban: Duration,
    ) -> crate::Result<()> {
        if max_failures == 0 || window.is_zero() || ban.is_zero() {
            return Err(crate::Error::invalid_config(
                "limit_failures needs max_failures >= 1 and a non-zero window and ban",
            ));
        }
        let mut settings = LockoutSettings::new(max_failures, window, ban);
        if let Some(old) = self.lockout {
            // The IPv6 grouping is set on its own and stays.
            settings.v6_net_prefix = old.v6_net_prefix;
            settings.v6_net_factor = old.v6_net_factor;
        }
        self.lockout = Some(settings);
        self.changed();
        Ok(())
    }

    /// How the lock-out groups IPv6 peers: each address counts on its own, and its
    /// network of `prefix` bits is counted beside it with a limit of `factor` times
    /// `max_failures` (default: /64 and 16, so one guessing host does not lock out its
    /// neighbours, and one rotating through its /64 is still stopped). `prefix` 128
    /// counts addresses only; `64` with `factor` 1 counts each /64 as one peer. Needs
    /// [`limit_failures`](Self::limit_failures) first; kept when that is called again.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut auth = zmq_auth::Authenticator::new();
    /// assert!(auth.limit_failures_ipv6_network(56, 4).is_err()); // no lock-out yet
    /// auth.limit_failures(5, Duration::from_secs(60), Duration::from_secs(600)).unwrap();
    /// auth.limit_failures_ipv6_network(56, 4).unwrap();
    /// assert!(auth.limit_failures_ipv6_network(129, 4).is_err());
    /// assert!(auth.limit_failures_ipv6_network(64, 0).is_err());
    /// ```
    pub fn limit_failures_ipv6_network(&mut self, prefix: u8, factor: u32) -> crate::Result<()> {
        let Some(settings) = self.lockout.as_mut() else {
            return Err(crate::Error::invalid_config(
                "limit_failures_ipv6_network needs limit_failures first",
            ));
        };
        if prefix == 0 || prefix > 128 || factor == 0 {
            return Err(crate::Error::invalid_config(
                "limit_failures_ipv6_network needs a prefix of 1 to 128 bits and a factor >= 1",
            ));
        }
        settings.v6_net_prefix = prefix;
        settings.v6_net_factor = factor;
        self.changed();
        Ok(())
    }

    /// Turns the lock-out off (bans in force are lifted).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.limit_failures(3, std::time::Duration::from_secs(1), std::time::Duration::from_secs(1)).unwrap();
    /// auth.clear_failure_limit();
    /// ```
    pub fn clear_failure_limit(&mut self) {
        self.lockout = None;
        self.changed();
    }
}
