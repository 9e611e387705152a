//! [`AuthEvent`]: one decision, as reported to event-stream readers.

use crate::zap::{Mechanism, StatusCode};

/// One decision, as reported by [`crate::ThreadAuthenticator::events`].
///
/// ```
/// use std::time::Duration;
/// use zmq_auth::{zmq, Mechanism, StatusCode, ThreadAuthenticator};
/// let ctx = zmq::Context::new();
/// let auth = ThreadAuthenticator::start(&ctx).unwrap();
/// auth.allow(["127.0.0.1"]).unwrap();
/// let events = auth.events();
///
/// let server = ctx.socket(zmq::PULL).unwrap();
/// server.set_zap_domain("global").unwrap(); // NULL peers are checked only with a domain
/// server.bind("tcp://127.0.0.1:*").unwrap();
/// let client = ctx.socket(zmq::PUSH).unwrap();
/// client.set_linger(0).unwrap();
/// client.connect(&server.get_last_endpoint().unwrap().unwrap()).unwrap();
///
/// let event = events.recv_timeout(Duration::from_secs(5)).unwrap();
/// assert_eq!(event.domain, "global");
/// assert_eq!(event.address, "127.0.0.1");
/// assert_eq!(event.mechanism, Mechanism::Null);
/// assert_eq!(event.status, StatusCode::Success);
/// assert_eq!(event.user_id, "anonymous");
/// assert_eq!(event.reason, "OK");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    /// The ZAP domain (lossy UTF-8).
    pub domain: String,
    /// The peer address as libzmq reported it (lossy UTF-8).
    pub address: String,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The reply's status.
    pub status: StatusCode,
    /// The user id granted (empty unless 200).
    pub user_id: String,
    /// The status text, e.g. `Address denied`.
    pub reason: String,
    /// Who the peer claimed to be, admitted or refused: the PLAIN username, the CURVE
    /// public key (Z85) or the GSSAPI principal (lossy UTF-8). Empty for NULL and for a
    /// request with the wrong number of credential frames (a lone PLAIN frame may be
    /// the password). Never a password. Not the ZMQ routing id
    /// ([`ZapRequest::identity`](crate::ZapRequest::identity)).
    pub identity: String,
}

impl AuthEvent {
    /// The `reason` of the event sent when the ZAP thread ends other than by
    /// [`stop`](crate::ThreadAuthenticator::stop): from then on libzmq authenticates
    /// nobody (see [`crate::require_zap`]) and `is_alive()` is false.
    pub const HANDLER_EXITED: &'static str = "ZAP handler exited unexpectedly";

    /// The event sent when the ZAP thread ends unexpectedly: status 500, mechanism
    /// `Other`, reason [`AuthEvent::HANDLER_EXITED`], no domain, address or user id.
    pub(crate) fn handler_exited() -> AuthEvent {
        AuthEvent {
            domain: String::new(),
            address: String::new(),
            mechanism: Mechanism::Other,
            status: StatusCode::InternalError,
            user_id: String::new(),
            reason: Self::HANDLER_EXITED.to_string(),
            identity: String::new(),
        }
    }

    /// Is this the event of a ZAP thread that ended unexpectedly (not a decision)?
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// let events = auth.events();
    /// auth.stop().unwrap(); // a stop is not an unexpected exit: no event
    /// assert!(events.try_iter().all(|e| !e.is_handler_exit()));
    /// ```
    pub fn is_handler_exit(&self) -> bool {
        self.status == StatusCode::InternalError
            && self.mechanism == Mechanism::Other
            && self.reason == Self::HANDLER_EXITED
    }
}
