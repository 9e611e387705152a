//! The sans-IO [`Authenticator`]: every ZAP decision, with no sockets and no threads.

mod curve;
mod event;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::address::AddressList;
use crate::error::{Error, Result};
use crate::hash::NameHash;
use crate::plain::{Passwords, PlainCheck};
use crate::zap::{parse_request, Mechanism, StatusCode, ZapParseError, ZapReply, ZapRequest};

use curve::CurvePolicy;
pub use curve::{CredentialsProvider, CurveDecision};
pub use event::AuthEvent;

type UserIdFn = Box<dyn Fn(&[u8; 32]) -> String + Send>;

/// The ZAP decision engine (RFC 27), free of I/O on the request path except the
/// periodic change checks of configured certificate directories and password files.
///
/// Feed it the frames of a ZAP request (after any ROUTER envelope) and send back the
/// frames of the reply. [`crate::ThreadAuthenticator`] does exactly that on a thread;
/// you may also drive it from your own poll loop.
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
    allow: AddressList,
    deny: AddressList,
    passwords: HashMap<String, Passwords, NameHash>,
    curve: HashMap<String, CurvePolicy, NameHash>,
    gssapi: HashSet<String, NameHash>,
    curve_user_id: Option<UserIdFn>,
    reload_interval: Duration,
}

/// A summary (domains and counts); never passwords.
impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields = |f: &mut std::fmt::Formatter<'_>| {
            let mut plain: Vec<(&str, usize)> = self
                .passwords
                .iter()
                .map(|(d, p)| (d.as_str(), p.len()))
                .collect();
            plain.sort();
            let mut curve: Vec<(&str, String)> = self
                .curve
                .iter()
                .map(|(d, p)| {
                    let what = match p {
                        CurvePolicy::AllowAny => "allow any".to_string(),
                        CurvePolicy::Certs { store, .. } => {
                            format!("{} keys from {}", store.len(), store.dir().display())
                        }
                        CurvePolicy::Callback(_) => "callback".to_string(),
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
                .field("plain_users", &plain)
                .field("curve", &curve)
                .field("gssapi", &gssapi)
                .field("custom_curve_user_id", &self.curve_user_id.is_some())
                .field("reload_interval", &self.reload_interval)
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

/// The key under which a request's domain is configured: exact, else `"*"`.
fn find_domain<'a, T>(map: &HashMap<String, T, NameHash>, domain: &'a [u8]) -> Option<&'a str> {
    // Borrowed from the request: the lookup allocates nothing.
    std::str::from_utf8(domain)
        .ok()
        .filter(|d| !d.is_empty() && map.contains_key(*d))
        .or_else(|| map.contains_key("*").then_some("*"))
}

/// The user id a verdict grants: text (often borrowed from the request), or the Z85
/// text of a CURVE key, kept on the stack.
enum UserId<'a> {
    Text(Cow<'a, str>),
    Z85([u8; 40]),
}

/// Status, status text, user id, metadata. Borrowed texts keep the common replies free
/// of allocations.
type Verdict<'a> = (StatusCode, Cow<'static, str>, UserId<'a>, Option<Arc<[u8]>>);

fn deny(text: &'static str) -> Verdict<'static> {
    (
        StatusCode::AuthenticationFailure,
        Cow::Borrowed(text),
        UserId::Text(Cow::Borrowed("")),
        None,
    )
}

fn internal() -> Verdict<'static> {
    (
        StatusCode::InternalError,
        Cow::Borrowed("Internal error"),
        UserId::Text(Cow::Borrowed("")),
        None,
    )
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
            allow: AddressList::default(),
            deny: AddressList::default(),
            passwords: HashMap::default(),
            curve: HashMap::default(),
            gssapi: HashSet::default(),
            curve_user_id: None,
            reload_interval: Duration::from_secs(1),
        }
    }

    /// Adds addresses or CIDR ranges (`"10.0.0.0/8"`, `"::1"`) to the allow list: from
    /// then on only those addresses are admitted. Every entry is validated first; on
    /// error nothing is added. An error too if a deny list exists.
    ///
    /// Entries may be in `[...]`, carry an IPv6 zone (`%eth0`, ignored) and be padded
    /// with ASCII spaces. The peer's address is matched as libzmq reports it (brackets
    /// and an IPv6 zone allowed), never trimmed: a padded one matches nothing.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.allow(["127.0.0.1", "10.0.0.0/8"]).unwrap();
    /// assert!(auth.deny(["192.168.0.1"]).is_err());
    /// assert!(auth.allow(["not-an-ip"]).is_err());
    /// ```
    pub fn allow<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, addrs: I) -> Result<()> {
        if !self.deny.is_empty() {
            return Err(Error::AllowDenyConflict);
        }
        let n = self.allow.extend(addrs)?;
        zlog!(Debug, "allow list: +{n} entries");
        Ok(())
    }

    /// Adds addresses or CIDR ranges to the deny list: those are refused, all others
    /// admitted. Validated first; an error if an allow list exists. Entries are written
    /// as for [`allow`](Self::allow). A peer address that does not parse (IPC peers, or
    /// anything malformed) matches no entry and so is not denied: to fail closed, use an
    /// allow list.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.deny(["192.0.2.0/24"]).unwrap();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"192.0.2.7", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "Address denied");
    /// ```
    pub fn deny<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, addrs: I) -> Result<()> {
        if !self.allow.is_empty() {
            return Err(Error::AllowDenyConflict);
        }
        let n = self.deny.extend(addrs)?;
        zlog!(Debug, "deny list: +{n} entries");
        Ok(())
    }

    /// Empties both address lists (after which either kind may be set up again).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.allow(["127.0.0.1"]).unwrap();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"192.0.2.1", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 400);
    /// auth.clear_address_lists();
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// auth.deny(["192.0.2.1"]).unwrap(); // no conflict any more
    /// ```
    pub fn clear_address_lists(&mut self) {
        self.allow.clear();
        self.deny.clear();
    }

    /// Sets the PLAIN passwords (`username → password`) of `domain` (`"*"` or `""`:
    /// every domain without its own), replacing that domain's previous ones.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain("global", [("admin", "correct-horse")]).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"global", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "admin");
    /// // Another domain has no passwords of its own, and there is no `"*"` entry.
    /// let req: [&[u8]; 8] = [b"1.0", b"2", b"other", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "Invalid domain");
    /// ```
    pub fn configure_plain<I, K, V>(&mut self, domain: &str, passwords: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let users: HashMap<String, String> = passwords
            .into_iter()
            .map(|(k, v)| {
                let v: String = v.into();
                // Here, not after collecting: a user listed twice loses a password.
                #[cfg(zmq_auth_audit)]
                crate::audit::password(v.as_bytes());
                (k.into(), v)
            })
            .collect();
        zlog!(Debug, "PLAIN domain {domain:?}: {} users", users.len());
        self.passwords
            .insert(domain_key(domain), Passwords::from_map(users));
        Ok(())
    }

    /// Sets `domain`'s PLAIN passwords from a file of `name=password` lines (`#`
    /// comments, blank lines allowed; names and passwords trimmed), read again when it
    /// changes (checked at most once per reload interval, on PLAIN requests). A missing
    /// or malformed file is an error and the previous passwords stay — at configure time
    /// and on reload alike: deleting the file later does *not* revoke its passwords
    /// (editors replace files by delete-and-create); to revoke, write the new file or
    /// call `configure_plain` again.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("passwords");
    /// std::fs::write(&path, "# users\nadmin=correct-horse\n").unwrap();
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain_file("*", &path).unwrap();
    /// assert!(auth.configure_plain_file("*", dir.path().join("missing")).is_err());
    /// ```
    pub fn configure_plain_file(&mut self, domain: &str, path: impl AsRef<Path>) -> Result<()> {
        let p = Passwords::from_file(path.as_ref())?;
        zlog!(
            Debug,
            "PLAIN domain {domain:?}: {} users from {}",
            p.len(),
            path.as_ref().display()
        );
        self.passwords.insert(domain_key(domain), p);
        Ok(())
    }
    /// Admits GSSAPI clients (authenticated by Kerberos) in `domain`; their user id is
    /// their principal. Unlike pyzmq, GSSAPI peers are refused in domains where this was
    /// not called.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_gssapi("*").unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"GSSAPI", b"alice@EXAMPLE.ORG"];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "alice@EXAMPLE.ORG");
    /// ```
    pub fn configure_gssapi(&mut self, domain: &str) -> Result<()> {
        if !zmq::has("gssapi").unwrap_or(false) {
            return Err(Error::GssapiUnavailable);
        }
        self.gssapi.insert(domain_key(domain));
        Ok(())
    }

    /// Sets how a CURVE client's key becomes its user id (default: the key's 40 Z85
    /// characters). A panic inside `f` becomes a 500 reply.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.set_curve_user_id(|key: &[u8; 32]| format!("client-{:02x}", key[0]));
    /// auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &[0xab; 32]];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "client-ab");
    /// ```
    pub fn set_curve_user_id(&mut self, f: impl Fn(&[u8; 32]) -> String + Send + 'static) {
        self.curve_user_id = Some(Box::new(f));
    }

    /// How often configured certificate directories and password files are checked
    /// for changes (default one second; `Duration::ZERO` checks on every request).
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("passwords");
    /// std::fs::write(&path, "admin=correct-horse\n").unwrap();
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.set_reload_interval(Duration::ZERO);
    /// auth.configure_plain_file("*", &path).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"changed"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 400);
    /// std::fs::write(&path, "admin=changed\n").unwrap();
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// ```
    pub fn set_reload_interval(&mut self, interval: Duration) {
        self.reload_interval = interval;
    }

    /// Decides one ZAP request: `request` is the list of frames after any ROUTER
    /// envelope. Every input, however malformed, gets a well-formed reply.
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
        self.handle(request, false).0
    }

    /// [`handle_zap_message`](Self::handle_zap_message), plus an [`AuthEvent`] when
    /// `want_event` (kept optional so the fast path allocates nothing extra).
    pub(crate) fn handle(
        &mut self,
        request: &[&[u8]],
        want_event: bool,
    ) -> (ZapReply, Option<AuthEvent>) {
        let req = match parse_request(request) {
            Ok(r) => r,
            Err(ZapParseError::NotEnoughFrames { request_id }) => {
                zlog!(Debug, "ZAP request with {} frames refused", request.len());
                let reply = ZapReply::new(
                    request_id,
                    StatusCode::AuthenticationFailure,
                    "Not enough frames",
                    b"",
                    None,
                );
                return (reply, None);
            }
            Err(ZapParseError::InvalidVersion { request_id }) => {
                zlog!(Debug, "ZAP request with a wrong version refused");
                let reply = ZapReply::new(
                    request_id,
                    StatusCode::AuthenticationFailure,
                    "Invalid version",
                    b"",
                    None,
                );
                return (reply, None);
            }
        };
        let mechanism = Mechanism::from_bytes(req.mechanism);
        // User code is already guarded; this also keeps a bug of ours (or a failed thread
        // spawn while reloading certificates) from killing the handler, which would turn
        // authentication off.
        let (status, text, user_id, metadata) =
            catch_unwind(AssertUnwindSafe(|| self.decide(&req, mechanism))).unwrap_or_else(|_| {
                zlog!(Error, "ZAP decision panicked; replying 500");
                internal()
            });
        let user_id: &[u8] = match &user_id {
            UserId::Text(t) => t.as_bytes(),
            UserId::Z85(text) => text,
        };
        zlog!(
            Debug,
            "ZAP {} from {:?} domain {:?}: {} {}",
            mechanism.as_str(),
            crate::logging::PeerText(req.address),
            crate::logging::PeerText(req.domain),
            status.as_u16(),
            text
        );
        let reply = ZapReply::new(req.request_id, status, text, user_id, metadata);
        let event = want_event.then(|| AuthEvent {
            domain: String::from_utf8_lossy(req.domain).into_owned(),
            address: String::from_utf8_lossy(req.address).into_owned(),
            mechanism,
            status,
            user_id: reply.user_id().to_string(),
            reason: reply.status_text().to_string(),
        });
        #[cfg(zmq_auth_audit)]
        if let Some(event) = &event {
            crate::audit::event_text(event);
        }
        (reply, event)
    }

    fn decide<'a>(&mut self, req: &ZapRequest<'a>, mechanism: Mechanism) -> Verdict<'a> {
        if !self.allow.is_empty() && !self.allow.contains(req.address) {
            return deny("Address not allowed");
        }
        if !self.deny.is_empty() && self.deny.contains(req.address) {
            return deny("Address denied");
        }
        match mechanism {
            Mechanism::Null => (
                StatusCode::Success,
                Cow::Borrowed("OK"),
                UserId::Text(Cow::Borrowed("anonymous")),
                None,
            ),
            Mechanism::Plain => self.decide_plain(req),
            Mechanism::Curve => self.decide_curve(req),
            Mechanism::Gssapi => match req.credentials {
                [principal] => {
                    if find_domain_set(&self.gssapi, req.domain) {
                        let user = UserId::Text(String::from_utf8_lossy(principal));
                        (StatusCode::Success, Cow::Borrowed("OK"), user, None)
                    } else {
                        deny("Unknown domain")
                    }
                }
                _ => deny("Invalid credentials"),
            },
            Mechanism::Other => deny("Unsupported mechanism"),
        }
    }

    fn decide_plain<'a>(&mut self, req: &ZapRequest<'a>) -> Verdict<'a> {
        let [username, password] = req.credentials else {
            return deny("Invalid credentials");
        };
        if self.passwords.is_empty() {
            return deny("No passwords defined");
        }
        let Some(key) = find_domain(&self.passwords, req.domain) else {
            return deny("Invalid domain");
        };
        let Some(users) = self.passwords.get_mut(key) else {
            return internal();
        };
        users.refresh(self.reload_interval);
        match users.check(username, password) {
            PlainCheck::Ok(name) => {
                let user = UserId::Text(Cow::Borrowed(name));
                (StatusCode::Success, Cow::Borrowed("OK"), user, None)
            }
            PlainCheck::UnknownUser => deny("Invalid username"),
            PlainCheck::WrongPassword => deny("Invalid password"),
        }
    }
}

fn find_domain_set(set: &HashSet<String, NameHash>, domain: &[u8]) -> bool {
    std::str::from_utf8(domain)
        .ok()
        .is_some_and(|d| !d.is_empty() && set.contains(d))
        || set.contains("*")
}
