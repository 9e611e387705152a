//! [`Policy`]: an immutable snapshot of everything that decides a ZAP request, and its
//! pure decide step. No file, socket, thread or clock is touched here; when a rule needs
//! an answer that may be slow (user code: a credentials provider or a user-id function)
//! the decision says so ([`Decision::Ask`]) instead of calling it.

#![warn(clippy::arithmetic_side_effects)]

pub(crate) mod curve;
mod domains;
mod event;
pub(crate) mod lockout;
mod slow;
mod still;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::address::AddressList;
use crate::certs::KeySet;
use crate::hash::NameHash;
use crate::plain::{PlainCheck, UserMap};
use crate::store::{lookup_domain, StoreHandle};
use crate::zap::{parse_request, Mechanism, StatusCode, ZapParseError, ZapReply, ZapRequest};

pub use curve::{CredentialsProvider, CurveDecision};
pub(crate) use domains::DomainWarnings;
pub use event::AuthEvent;
pub(crate) use slow::SlowJob;
pub(crate) use still::version_metadata;

/// Maps a CURVE key to a user id; user code, so it only ever runs where user code may.
pub(crate) type UserIdFn = Arc<dyn Fn(&[u8; 32]) -> String + Send + Sync>;

/// A domain's PLAIN rule as of one snapshot.
#[derive(Clone)]
pub(crate) enum PlainRule {
    Users(Arc<UserMap>),
    Store(StoreHandle),
    /// The source cannot be read: refuse with 500 until it can.
    Broken,
}

/// A domain's CURVE rule as of one snapshot.
#[derive(Clone)]
pub(crate) enum CurveRule {
    AllowAny,
    Keys(Arc<KeySet>),
    /// The source cannot be read: refuse with 500 until it can.
    Broken,
    Provider(Arc<dyn CredentialsProvider>),
    Store(StoreHandle),
}

/// Everything a decision needs, frozen. Built by the configuration, shared by `Arc`.
#[derive(Default)]
pub(crate) struct Policy {
    pub(crate) allow: Arc<AddressList>,
    pub(crate) deny: Arc<AddressList>,
    pub(crate) plain: HashMap<String, PlainRule, NameHash>,
    pub(crate) curve: HashMap<String, CurveRule, NameHash>,
    /// Where a CURVE request received ahead is prefetched (from `curve`).
    pub(crate) curve_ahead: curve::Ahead,
    pub(crate) gssapi: HashSet<String, NameHash>,
    pub(crate) curve_user_id: Option<UserIdFn>,
    /// Lock-out of guessing peers (the engine keeps the table).
    pub(crate) lockout: Option<lockout::LockoutSettings>,
    /// Refuse a non-empty domain with no policy of its own instead of using `"*"`.
    pub(crate) strict_domains: bool,
    /// Domains already warned about (shared by the snapshots of one configuration).
    pub(crate) domain_warnings: Arc<DomainWarnings>,
    /// Counts where snapshots are freed (the tests check it is never the ZAP loop).
    #[cfg(feature = "test-hooks")]
    pub(crate) _drop_probe: crate::test_hooks::DropProbe,
}

/// The user id a verdict grants: text (often borrowed from the request), or the Z85
/// text of a CURVE key, kept on the stack.
pub(crate) enum UserId<'a> {
    Text(Cow<'a, str>),
    Z85([u8; 40]),
}

/// Status, status text, user id, metadata. Borrowed texts keep the common replies free
/// of allocations.
pub(crate) struct Verdict<'a> {
    pub(crate) status: StatusCode,
    pub(crate) text: Cow<'static, str>,
    pub(crate) user_id: UserId<'a>,
    pub(crate) metadata: Option<Arc<[u8]>>,
}

impl Verdict<'_> {
    pub(crate) fn refuse(status: StatusCode, text: &'static str) -> Verdict<'static> {
        Verdict {
            status,
            text: Cow::Borrowed(text),
            user_id: UserId::Text(Cow::Borrowed("")),
            metadata: None,
        }
    }
}

pub(crate) fn deny(text: &'static str) -> Verdict<'static> {
    Verdict::refuse(StatusCode::AuthenticationFailure, text)
}

pub(crate) fn internal() -> Verdict<'static> {
    Verdict::refuse(StatusCode::InternalError, "Internal error")
}

/// The reason given to a locked-out peer.
pub(crate) const TOO_MANY_FAILURES: &str = "Too many failures";

/// Does this reply count towards a peer's lock-out? Every refusal of credentials does;
/// address-list refusals, lock-out refusals, `Unknown domain` (the server socket, not
/// the peer, chooses the domain), 300 and 500 do not.
pub(crate) fn counts_as_failure(status: StatusCode, text: &str) -> bool {
    status == StatusCode::AuthenticationFailure
        && !matches!(
            text,
            "Address not allowed" | "Address denied" | "Unknown domain" | TOO_MANY_FAILURES
        )
}

/// A lock-out started: a warning (the address cut to 100 bytes) and a metric.
pub(crate) fn report_lockout(address: &[u8], s: lockout::LockoutSettings) {
    zlog!(
        Warn,
        "{:?} locked out for {:?} after {} failed authentications within {:?}",
        crate::logging::PeerText(address),
        s.ban,
        s.max_failures,
        s.window
    );
    crate::metrics::lockout();
}

/// 300: a slow answer came too late, or there was no room to ask.
pub(crate) fn try_later() -> Verdict<'static> {
    Verdict::refuse(StatusCode::TemporaryError, "Try later")
}

fn ok<'a>(user_id: UserId<'a>, metadata: Option<Arc<[u8]>>) -> Verdict<'a> {
    Verdict {
        status: StatusCode::Success,
        text: Cow::Borrowed("OK"),
        user_id,
        metadata,
    }
}

/// What the policy says about a request: an answer, or the slow work that gives it.
pub(crate) enum Decision<'a> {
    Done(Verdict<'a>),
    Ask(SlowJob),
}

/// A request that parsed, or the reply to one that did not.
// The reply is big, but only malformed requests take that path; boxing it would cost
// them an allocation for nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn parse<'a>(request: &'a [&'a [u8]]) -> Result<(ZapRequest<'a>, Mechanism), ZapReply> {
    match parse_request(request) {
        Ok(r) => {
            let m = Mechanism::from_bytes(r.mechanism);
            Ok((r, m))
        }
        Err(ZapParseError::NotEnoughFrames { request_id }) => {
            zlog!(Debug, "ZAP request with {} frames refused", request.len());
            Err(ZapReply::new(
                request_id,
                StatusCode::AuthenticationFailure,
                "Not enough frames",
                b"",
                None,
            ))
        }
        Err(ZapParseError::InvalidVersion { request_id }) => {
            zlog!(Debug, "ZAP request with a wrong version refused");
            Err(ZapReply::new(
                request_id,
                StatusCode::AuthenticationFailure,
                "Invalid version",
                b"",
                None,
            ))
        }
    }
}

/// The facts about a request that its reply and event need, once decided.
pub(crate) struct Asked<'r> {
    pub(crate) request_id: &'r [u8],
    pub(crate) domain: &'r [u8],
    pub(crate) address: &'r [u8],
    pub(crate) mechanism: Mechanism,
    /// Who the peer says it is: the PLAIN username, the CURVE key or the GSSAPI
    /// principal; empty when the request has the wrong number of credential frames
    /// (a lone PLAIN frame may be the password).
    pub(crate) claimed: &'r [u8],
}

impl<'r> Asked<'r> {
    /// A request handed over by the caller ([`crate::Authenticator`]): only a PLAIN
    /// username is shown; its CURVE key or GSSAPI principal is not, since nothing proves
    /// what the frame holds (a confused caller may pass a secret key or a password).
    pub(crate) fn of(req: &ZapRequest<'r>, mechanism: Mechanism) -> Asked<'r> {
        let claimed = match (mechanism, req.credentials) {
            (Mechanism::Plain, [username, _password]) => username,
            _ => &[][..],
        };
        Asked {
            request_id: req.request_id,
            domain: req.domain,
            address: req.address,
            mechanism,
            claimed,
        }
    }

    /// A request read from the ZAP socket: libzmq asks only after the handshake proved
    /// the CURVE peer holds the secret of the key it sent (so the key is a public one)
    /// or Kerberos authenticated the GSSAPI principal, so both are shown.
    pub(crate) fn from_libzmq(req: &ZapRequest<'r>, mechanism: Mechanism) -> Asked<'r> {
        let mut asked = Self::of(req, mechanism);
        if let (Mechanism::Curve | Mechanism::Gssapi, [claimed]) = (mechanism, req.credentials) {
            asked.claimed = claimed;
        }
        asked
    }

    /// The claimed identity as text: a 32-byte CURVE key as Z85, else lossy UTF-8.
    fn identity(&self) -> Identity<'_> {
        Identity {
            mechanism: self.mechanism,
            claimed: self.claimed,
        }
    }

    /// The reply (and, when wanted, the event) for this request's verdict.
    ///
    /// The event is boxed: the pair is moved through the ZAP loop's steps, and an
    /// `Option<AuthEvent>` inline made each move copy ~130 bytes nobody reads unless
    /// events are on.
    pub(crate) fn answer(
        &self,
        v: Verdict<'_>,
        want_event: bool,
    ) -> (ZapReply, Option<Box<AuthEvent>>) {
        let user_id: &[u8] = match &v.user_id {
            UserId::Text(t) => t.as_bytes(),
            UserId::Z85(text) => text,
        };
        zlog!(
            Debug,
            "ZAP {} from {:?} domain {:?} identity {:?}: {} {}",
            self.mechanism.as_str(),
            crate::logging::PeerText(self.address),
            crate::logging::PeerText(self.domain),
            self.identity(),
            v.status.as_u16(),
            v.text
        );
        crate::metrics::decision(self.mechanism, v.status, &v.text);
        let reply = ZapReply::new(self.request_id, v.status, v.text, user_id, v.metadata);
        let event = want_event.then(|| {
            Box::new(AuthEvent {
                domain: String::from_utf8_lossy(self.domain).into_owned(),
                address: String::from_utf8_lossy(self.address).into_owned(),
                mechanism: self.mechanism,
                status: reply.status(),
                user_id: reply.user_id().to_string(),
                reason: reply.status_text().to_string(),
                identity: self.identity().to_text(),
            })
        });
        #[cfg(zmq_auth_audit)]
        if let Some(event) = &event {
            crate::audit::event_text(event);
        }
        (reply, event)
    }
}

/// A peer's claimed identity, shown lazily (a debug line that is off costs nothing).
struct Identity<'a> {
    mechanism: Mechanism,
    claimed: &'a [u8],
}

impl Identity<'_> {
    fn to_text(&self) -> String {
        match <&[u8; 32]>::try_from(self.claimed) {
            Ok(key) if self.mechanism == Mechanism::Curve => crate::keys::encode_z85_key(key),
            _ => String::from_utf8_lossy(self.claimed).into_owned(),
        }
    }
}

impl std::fmt::Debug for Identity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match <&[u8; 32]>::try_from(self.claimed) {
            Ok(key) if self.mechanism == Mechanism::Curve => {
                write!(f, "{:?}", crate::keys::encode_z85_key(key))
            }
            // Peer-chosen text: cut like the domain and the address.
            _ => write!(f, "{:?}", crate::logging::PeerText(self.claimed)),
        }
    }
}

impl Policy {
    /// Decides a parsed request. Pure: reads only the snapshot and the request.
    pub(crate) fn decide<'a>(&self, req: &ZapRequest<'a>, mechanism: Mechanism) -> Decision<'a> {
        // A bug of ours must not kill the handler, which would turn authentication off.
        catch_unwind(AssertUnwindSafe(|| self.decide_inner(req, mechanism))).unwrap_or_else(|_| {
            zlog!(Error, "ZAP decision panicked; replying 500");
            Decision::Done(internal())
        })
    }

    fn decide_inner<'a>(&self, req: &ZapRequest<'a>, mechanism: Mechanism) -> Decision<'a> {
        if !self.allow.is_empty() && !self.allow.contains(req.address) {
            return Decision::Done(deny("Address not allowed"));
        }
        if !self.deny.is_empty() && self.deny.contains(req.address) {
            return Decision::Done(deny("Address denied"));
        }
        Decision::Done(match mechanism {
            Mechanism::Null => ok(UserId::Text(Cow::Borrowed("anonymous")), None),
            Mechanism::Plain => return self.decide_plain(req),
            Mechanism::Curve => return self.decide_curve(req),
            Mechanism::Gssapi => self.decide_gssapi(req),
            Mechanism::Other => deny("Unsupported mechanism"),
        })
    }

    fn decide_plain<'a>(&self, req: &ZapRequest<'a>) -> Decision<'a> {
        let [username, password] = req.credentials else {
            return Decision::Done(deny("Invalid credentials"));
        };
        if self.plain.is_empty() {
            return Decision::Done(deny("No passwords defined"));
        }
        let Some((_, rule)) = self.find_domain_rule(&self.plain, req.domain, Mechanism::Plain)
        else {
            return Decision::Done(deny("Unknown domain"));
        };
        Decision::Done(match rule {
            PlainRule::Users(users) => match users.check_admitting(username, password) {
                // The admission carries the credential's version, for still_admits_version.
                (PlainCheck::Ok(name), version) => {
                    ok(UserId::Text(Cow::Borrowed(name)), version.cloned())
                }
                // Where known users cost an argon2id check, every refusal costs one too:
                // an unknown user, and a plaintext user's wrong password.
                (PlainCheck::UnknownUser, _) if users.has_hashes() => {
                    return Decision::Ask(SlowJob::Refuse {
                        password: Zeroizing::new(password.to_vec()),
                        text: "Invalid username",
                    })
                }
                (PlainCheck::WrongPassword, _) if users.has_hashes() => {
                    return Decision::Ask(SlowJob::Refuse {
                        password: Zeroizing::new(password.to_vec()),
                        text: "Invalid password",
                    })
                }
                (PlainCheck::UnknownUser, _) => deny("Invalid username"),
                (PlainCheck::WrongPassword, _) => deny("Invalid password"),
                (PlainCheck::Verify(name, phc), _) => {
                    return Decision::Ask(SlowJob::Hash {
                        user: name.to_string(),
                        phc,
                        password: Zeroizing::new(password.to_vec()),
                    })
                }
            },
            PlainRule::Store(store) => match std::str::from_utf8(username) {
                // No store holds a NUL or a control character in a name (issue 21): such
                // a name is refused here, never sent to the database.
                Ok(user) if user.chars().any(char::is_control) => deny("Invalid username"),
                Ok(user) if !user.is_empty() && !password.is_empty() => {
                    return Decision::Ask(SlowJob::StoreUser {
                        store: store.clone(),
                        domain: lookup_domain(req.domain).to_string(),
                        user: user.to_string(),
                        password: Zeroizing::new(password.to_vec()),
                    })
                }
                // An empty password never admits; say so without asking the store.
                Ok(user) if !user.is_empty() => deny("Invalid password"),
                _ => deny("Invalid username"),
            },
            PlainRule::Broken => internal(),
        })
    }

    fn decide_gssapi<'a>(&self, req: &ZapRequest<'a>) -> Verdict<'a> {
        let [principal] = req.credentials else {
            return deny("Invalid credentials");
        };
        if !self.find_domain_set(&self.gssapi, req.domain, Mechanism::Gssapi) {
            return deny("Unknown domain");
        }
        // Never lossy: two byte strings must not share one user id. No NUL either: the
        // User-Id is read as a C string, so `admin\0@EVIL` would read as `admin`.
        match std::str::from_utf8(principal) {
            Ok(p) if !p.is_empty() && !p.contains('\0') => ok(UserId::Text(Cow::Borrowed(p)), None),
            _ => deny("Invalid principal"),
        }
    }
}
