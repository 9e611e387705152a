//! The RFC 27 (ZAP) codec: requests in, replies out, and ZMTP metadata. No sockets.

mod metadata;
mod reply;

pub(crate) use metadata::is_reserved_property;
pub use metadata::{decode_metadata, encode_metadata, is_valid_property_name};
pub use reply::ZapReply;

/// The only ZAP version there is: the first frame of every request and reply.
///
/// ```
/// use zmq_auth::{parse_request, ZapParseError, ZAP_VERSION};
/// assert_eq!(ZAP_VERSION, b"1.0");
/// let req: [&[u8]; 6] = [b"2.0", b"7", b"", b"127.0.0.1", b"", b"NULL"];
/// assert_eq!(
///     parse_request(&req).unwrap_err(),
///     ZapParseError::InvalidVersion { request_id: b"7" }
/// );
/// ```
pub const ZAP_VERSION: &[u8] = b"1.0";

/// A ZAP reply status code (RFC 27).
///
/// Converts to and from the numeric code and the three ASCII digits of the wire format.
///
/// ```
/// use zmq_auth::StatusCode;
/// let code = StatusCode::AuthenticationFailure;
/// assert_eq!(code.as_u16(), 400);
/// assert_eq!(code.as_bytes(), b"400");
/// assert_eq!(StatusCode::from_bytes(code.as_bytes()), Some(code));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 200: the peer is authenticated.
    Success,
    /// 300: temporary failure; libzmq drops the peer silently and it retries.
    TemporaryError,
    /// 400: the peer is refused.
    AuthenticationFailure,
    /// 500: the handler failed internally.
    InternalError,
}

impl StatusCode {
    /// The numeric code.
    ///
    /// ```
    /// use zmq_auth::StatusCode;
    /// assert_eq!(StatusCode::Success.as_u16(), 200);
    /// assert_eq!(StatusCode::TemporaryError.as_u16(), 300);
    /// assert_eq!(StatusCode::InternalError.as_u16(), 500);
    /// ```
    pub fn as_u16(self) -> u16 {
        match self {
            StatusCode::Success => 200,
            StatusCode::TemporaryError => 300,
            StatusCode::AuthenticationFailure => 400,
            StatusCode::InternalError => 500,
        }
    }

    /// The three ASCII digits sent on the wire.
    ///
    /// ```
    /// use zmq_auth::StatusCode;
    /// assert_eq!(StatusCode::Success.as_bytes(), b"200");
    /// assert_eq!(StatusCode::InternalError.as_bytes(), b"500");
    /// ```
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            StatusCode::Success => b"200",
            StatusCode::TemporaryError => b"300",
            StatusCode::AuthenticationFailure => b"400",
            StatusCode::InternalError => b"500",
        }
    }

    /// Parses the three digits of a reply's status frame; `None` for anything else.
    ///
    /// ```
    /// use zmq_auth::StatusCode;
    /// assert_eq!(StatusCode::from_bytes(b"300"), Some(StatusCode::TemporaryError));
    /// assert_eq!(StatusCode::from_bytes(b"201"), None);
    /// assert_eq!(StatusCode::from_bytes(b""), None);
    /// ```
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        match b {
            b"200" => Some(StatusCode::Success),
            b"300" => Some(StatusCode::TemporaryError),
            b"400" => Some(StatusCode::AuthenticationFailure),
            b"500" => Some(StatusCode::InternalError),
            _ => None,
        }
    }
}

/// The security mechanism a peer used, as named in a ZAP request.
///
/// ```
/// use zmq_auth::Mechanism;
/// let m = Mechanism::from_bytes(b"CURVE");
/// assert_eq!(m, Mechanism::Curve);
/// assert_eq!(m.as_str(), "CURVE");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `NULL`: no credentials.
    Null,
    /// `PLAIN`: username and password.
    Plain,
    /// `CURVE`: the client's 32-byte long-term public key.
    Curve,
    /// `GSSAPI`: the client's principal.
    Gssapi,
    /// Anything else (always refused).
    Other,
}

impl Mechanism {
    /// Classifies the mechanism frame of a request. Matching is exact (case-sensitive);
    /// anything unknown is [`Mechanism::Other`].
    ///
    /// ```
    /// use zmq_auth::Mechanism;
    /// assert_eq!(Mechanism::from_bytes(b"PLAIN"), Mechanism::Plain);
    /// assert_eq!(Mechanism::from_bytes(b"GSSAPI"), Mechanism::Gssapi);
    /// assert_eq!(Mechanism::from_bytes(b"plain"), Mechanism::Other);
    /// ```
    pub fn from_bytes(b: &[u8]) -> Self {
        match b {
            b"NULL" => Mechanism::Null,
            b"PLAIN" => Mechanism::Plain,
            b"CURVE" => Mechanism::Curve,
            b"GSSAPI" => Mechanism::Gssapi,
            _ => Mechanism::Other,
        }
    }

    /// The mechanism's wire name (`"OTHER"` for unknown ones).
    ///
    /// ```
    /// use zmq_auth::Mechanism;
    /// assert_eq!(Mechanism::Null.as_str(), "NULL");
    /// assert_eq!(Mechanism::from_bytes(b"X-CUSTOM").as_str(), "OTHER");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::Plain => "PLAIN",
            Mechanism::Curve => "CURVE",
            Mechanism::Gssapi => "GSSAPI",
            Mechanism::Other => "OTHER",
        }
    }
}

/// A well-formed ZAP request, borrowing the received frames.
///
/// Produced by [`parse_request`].
///
/// ```
/// use zmq_auth::{parse_request, Mechanism};
/// let frames: [&[u8]; 8] = [b"1.0", b"42", b"global", b"10.0.0.5", b"", b"PLAIN", b"admin", b"correct-horse"];
/// let req = parse_request(&frames).unwrap();
/// assert_eq!(req.request_id, b"42");
/// assert_eq!(req.domain, b"global");
/// assert_eq!(req.address, b"10.0.0.5");
/// assert!(req.identity.is_empty());
/// assert_eq!(Mechanism::from_bytes(req.mechanism), Mechanism::Plain);
/// assert_eq!(req.credentials, &[b"admin" as &[u8], b"correct-horse"]);
/// ```
#[derive(Clone, Copy)]
pub struct ZapRequest<'a> {
    /// Echoed back in the reply.
    pub request_id: &'a [u8],
    /// The server socket's `ZMQ_ZAP_DOMAIN` (may be empty).
    pub domain: &'a [u8],
    /// The peer's IP address as text; for IPC, `localhost:<uid>:<gid>:<pid>` (libzmq 4.3
    /// on Linux, checked by `tests/lockout_hardening.rs`).
    pub address: &'a [u8],
    /// The connection's routing id.
    pub identity: &'a [u8],
    /// The mechanism frame exactly as sent.
    pub mechanism: &'a [u8],
    /// The mechanism-specific credential frames.
    pub credentials: &'a [&'a [u8]],
}

/// Credentials are never printed: a PLAIN request carries the password.
impl std::fmt::Debug for ZapRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields = |f: &mut std::fmt::Formatter<'_>| {
            let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            f.debug_struct("ZapRequest")
                .field("request_id", &lossy(self.request_id))
                .field("domain", &lossy(self.domain))
                .field("address", &lossy(self.address))
                .field("identity", &self.identity)
                .field("mechanism", &lossy(self.mechanism))
                .field(
                    "credentials",
                    &format_args!("<{} frames redacted>", self.credentials.len()),
                )
                .finish()
        };
        // An audit build records what Debug shows (see src/audit.rs).
        #[cfg(zmq_auth_audit)]
        crate::audit::debug_text(&fields);
        fields(f)
    }
}

/// Why a request could not be parsed, with what can still be echoed.
///
/// ```
/// use zmq_auth::{parse_request, ZapParseError};
/// let short: [&[u8]; 3] = [b"1.0", b"9", b"domain"];
/// assert_eq!(
///     parse_request(&short).unwrap_err(),
///     ZapParseError::NotEnoughFrames { request_id: b"9" }
/// );
/// assert_eq!(
///     parse_request(&[]).unwrap_err(),
///     ZapParseError::NotEnoughFrames { request_id: b"" }
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZapParseError<'a> {
    /// Fewer than the six mandatory frames; carries the request id when frame 2 exists.
    NotEnoughFrames {
        /// The request id, or empty.
        request_id: &'a [u8],
    },
    /// The first frame is not `1.0`.
    InvalidVersion {
        /// The request id.
        request_id: &'a [u8],
    },
}

/// Splits a message received on a ROUTER socket into `(envelope, body)`: the envelope
/// is the routing id plus, when the sender used one (libzmq's ZAP client does), the empty
/// delimiter frame after it. Send the reply as envelope + reply frames.
///
/// ```
/// use zmq_auth::split_envelope;
/// // As received from libzmq's ZAP client: routing id, empty delimiter, request.
/// let frames: [&[u8]; 8] = [b"peer", b"", b"1.0", b"1", b"", b"127.0.0.1", b"", b"NULL"];
/// let (envelope, body) = split_envelope(&frames);
/// assert_eq!(envelope, &[b"peer" as &[u8], b""]);
/// assert_eq!(body[0], b"1.0");
/// assert_eq!(body.len(), 6);
/// ```
pub fn split_envelope<'a, 'b>(frames: &'a [&'b [u8]]) -> (&'a [&'b [u8]], &'a [&'b [u8]]) {
    // The body starts with the version, never empty, so an empty second frame can only
    // be a delimiter.
    let delimited = frames.len() > 1 && frames[1].is_empty();
    frames.split_at(frames.len().min(if delimited { 2 } else { 1 }))
}

/// Parses the body of a ZAP request (the frames after any envelope).
///
/// Needs at least the six mandatory frames (version, request id, domain, address,
/// identity, mechanism) and version `1.0`; any further frames are the credentials.
///
/// ```
/// use zmq_auth::parse_request;
/// let frames: [&[u8]; 7] = [b"1.0", b"1", b"", b"::1", b"", b"CURVE", &[0u8; 32]];
/// let req = parse_request(&frames).unwrap();
/// assert_eq!(req.mechanism, b"CURVE");
/// assert_eq!(req.credentials.len(), 1);
/// assert!(parse_request(&frames[..5]).is_err());
/// ```
pub fn parse_request<'a>(
    frames: &'a [&'a [u8]],
) -> std::result::Result<ZapRequest<'a>, ZapParseError<'a>> {
    // Every frame after a PLAIN username is a password, even in a malformed request.
    #[cfg(zmq_auth_audit)]
    if frames.get(5).is_some_and(|m| *m == b"PLAIN") {
        frames
            .iter()
            .skip(7)
            .for_each(|f| crate::audit::password(f));
    }
    if frames.len() < 6 {
        return Err(ZapParseError::NotEnoughFrames {
            request_id: frames.get(1).copied().unwrap_or(&[]),
        });
    }
    if frames[0] != ZAP_VERSION {
        return Err(ZapParseError::InvalidVersion {
            request_id: frames[1],
        });
    }
    Ok(ZapRequest {
        request_id: frames[1],
        domain: frames[2],
        address: frames[3],
        identity: frames[4],
        mechanism: frames[5],
        credentials: &frames[6..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_split() {
        let frames: Vec<&[u8]> = vec![b"id", b"", b"1.0", b"1"];
        let (env, body) = split_envelope(&frames);
        assert_eq!(env.len(), 2);
        assert_eq!(body[0], b"1.0");
        // A DEALER without a delimiter, and an empty domain later on.
        let frames: Vec<&[u8]> = vec![b"id", b"1.0", b"1", b"", b"x"];
        let (env, body) = split_envelope(&frames);
        assert_eq!(env, &[b"id" as &[u8]]);
        assert_eq!(body.len(), 4);
        let frames: Vec<&[u8]> = vec![b"id"];
        let (env, body) = split_envelope(&frames);
        assert_eq!(env.len(), 1);
        assert!(body.is_empty());
        assert_eq!(split_envelope(&[]).0.len(), 0);
    }

    #[test]
    fn request_debug_hides_credentials() {
        let frames: Vec<&[u8]> = vec![
            b"1.0",
            b"1",
            b"d",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"hunter2-pw",
        ];
        let req = parse_request(&frames).unwrap();
        let text = format!("{req:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("104, 117"), "{text}");
        assert!(text.contains("2 frames redacted"), "{text}");
    }
}
