//! The RFC 27 (ZAP) codec: requests in, replies out, and ZMTP metadata. No sockets.

use crate::error::{Error, Result};

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
/// let frames: [&[u8]; 8] = [b"1.0", b"42", b"global", b"10.0.0.5", b"", b"PLAIN", b"admin", b"secret"];
/// let req = parse_request(&frames).unwrap();
/// assert_eq!(req.request_id, b"42");
/// assert_eq!(req.domain, b"global");
/// assert_eq!(req.address, b"10.0.0.5");
/// assert!(req.identity.is_empty());
/// assert_eq!(Mechanism::from_bytes(req.mechanism), Mechanism::Plain);
/// assert_eq!(req.credentials, &[b"admin" as &[u8], b"secret"]);
/// ```
#[derive(Clone, Copy)]
pub struct ZapRequest<'a> {
    /// Echoed back in the reply.
    pub request_id: &'a [u8],
    /// The server socket's `ZMQ_ZAP_DOMAIN` (may be empty).
    pub domain: &'a [u8],
    /// The peer's IP address as text (empty or `:uid:gid:pid` for IPC).
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

/// Is `name` a valid ZMTP property name (1–255 bytes of `A-Za-z0-9-_.+`)?
///
/// ```
/// use zmq_auth::is_valid_property_name;
/// assert!(is_valid_property_name("X-Email.v2+tag_1"));
/// assert!(!is_valid_property_name(""));
/// assert!(!is_valid_property_name("has space"));
/// assert!(!is_valid_property_name(&"a".repeat(256)));
/// ```
pub fn is_valid_property_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

/// Property names a ZAP handler must never set from certificate data: libzmq or the
/// peer define them, and letting a certificate supply them would let it spoof them.
pub(crate) fn is_reserved_property(name: &str) -> bool {
    [
        "Socket-Type",
        "Identity",
        "Routing-Id",
        "User-Id",
        "Peer-Address",
        "Resource",
    ]
    .iter()
    .any(|r| r.eq_ignore_ascii_case(name))
}

/// Encodes properties as ZMTP metadata: per property a 1-byte name length, the name, a
/// 4-byte big-endian value length and the value.
///
/// Fails with [`Error::InvalidMetadata`] when a name is not a valid property name
/// (see [`is_valid_property_name`]).
///
/// ```
/// use zmq_auth::{encode_metadata, Error};
/// let data = encode_metadata(&[("name", "Bob")]).unwrap();
/// assert_eq!(data, b"\x04name\x00\x00\x00\x03Bob");
/// assert!(matches!(
///     encode_metadata(&[("bad name", "x")]),
///     Err(Error::InvalidMetadata { .. })
/// ));
/// ```
pub fn encode_metadata<N: AsRef<str>, V: AsRef<[u8]>>(props: &[(N, V)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (name, value) in props {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !is_valid_property_name(name) {
            return Err(Error::InvalidMetadata {
                name: name.to_string(),
                reason: "property names are 1-255 bytes of A-Za-z0-9-_.+".into(),
            });
        }
        let len = u32::try_from(value.len()).map_err(|_| Error::InvalidMetadata {
            name: name.to_string(),
            reason: "value longer than 4 GiB".into(),
        })?;
        // Both lengths were checked just above, so the casts cannot truncate.
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Decodes ZMTP metadata; truncated or invalid input is an error, never a panic.
///
/// ```
/// use zmq_auth::{decode_metadata, encode_metadata};
/// let data = encode_metadata(&[("name", "Bob"), ("email", "bob@example.org")]).unwrap();
/// let props = decode_metadata(&data).unwrap();
/// assert_eq!(props[0], ("name".to_string(), b"Bob".to_vec()));
/// assert_eq!(props[1].1, b"bob@example.org");
/// assert!(decode_metadata(&data[..data.len() - 1]).is_err());
/// assert!(decode_metadata(b"").unwrap().is_empty());
/// ```
pub fn decode_metadata(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |reason: &str| Error::InvalidMetadata {
        name: String::new(),
        reason: reason.to_string(),
    };
    let mut props = Vec::new();
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        if rest.len() < name_len + 4 {
            return Err(bad("truncated property"));
        }
        let (name, rest) = rest.split_at(name_len);
        let name = std::str::from_utf8(name)
            .ok()
            .filter(|n| is_valid_property_name(n))
            .ok_or_else(|| bad("invalid property name"))?;
        let (len, rest) = rest.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(bad("truncated property value"));
        }
        let (value, rest) = rest.split_at(len);
        props.push((name.to_string(), value.to_vec()));
        data = rest;
    }
    Ok(props)
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

    #[test]
    fn metadata_round_trip() {
        let enc = encode_metadata(&[("name", "Bob"), ("email", "b@x")]).unwrap();
        assert_eq!(&enc[..5], b"\x04name");
        assert_eq!(&enc[5..9], &[0, 0, 0, 3]);
        let dec = decode_metadata(&enc).unwrap();
        assert_eq!(
            dec,
            vec![
                ("name".into(), b"Bob".to_vec()),
                ("email".into(), b"b@x".to_vec())
            ]
        );
        assert!(decode_metadata(&enc[..enc.len() - 1]).is_err());
        assert!(decode_metadata(b"\x05ab").is_err());
        assert!(encode_metadata(&[("bad name", "x")]).is_err());
        assert!(encode_metadata(&[("x".repeat(256), "x")]).is_err());
        assert!(encode_metadata(&[("x".repeat(255), "x")]).is_ok());
    }
}

/// The answer to one ZAP request: always six frames on the wire.
///
/// Returned by [`Authenticator::handle_zap_message`](crate::Authenticator::handle_zap_message).
/// A refused peer never gets a user id or metadata.
///
/// ```
/// use zmq_auth::{Authenticator, StatusCode};
/// let mut auth = Authenticator::new();
/// let req: [&[u8]; 6] = [b"1.0", b"17", b"", b"127.0.0.1", b"", b"NULL"];
/// let reply = auth.handle_zap_message(&req);
/// assert_eq!(reply.status(), StatusCode::Success);
/// assert_eq!(reply.status_code(), 200);
/// assert_eq!(reply.status_text(), "OK");
/// assert_eq!(reply.user_id(), "anonymous");
/// assert_eq!(reply.request_id(), b"17");
/// assert!(reply.metadata().is_empty());
/// assert_eq!(reply.frames(), [&b"1.0"[..], b"17", b"200", b"OK", b"anonymous", b""]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZapReply {
    request_id: Vec<u8>,
    status: StatusCode,
    status_text: std::borrow::Cow<'static, str>,
    user_id: String,
    metadata: Option<std::sync::Arc<[u8]>>,
}

impl ZapReply {
    pub(crate) fn new(
        request_id: &[u8],
        status: StatusCode,
        status_text: impl Into<std::borrow::Cow<'static, str>>,
        user_id: String,
        metadata: Option<std::sync::Arc<[u8]>>,
    ) -> ZapReply {
        // A refused peer never gets a user id or metadata.
        let ok = status == StatusCode::Success;
        ZapReply {
            request_id: request_id.to_vec(),
            status,
            status_text: status_text.into(),
            user_id: if ok { user_id } else { String::new() },
            metadata: if ok { metadata } else { None },
        }
    }

    /// The status as a typed value.
    ///
    /// ```
    /// use zmq_auth::{Authenticator, StatusCode};
    /// let mut auth = Authenticator::new();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"X-UNKNOWN"];
    /// assert_eq!(auth.handle_zap_message(&req).status(), StatusCode::AuthenticationFailure);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status code: 200, 300, 400 or 500.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// // Too few frames: refused, never a panic.
    /// assert_eq!(auth.handle_zap_message(&[&b"1.0"[..]]).status_code(), 400);
    /// ```
    pub fn status_code(&self) -> u16 {
        self.status.as_u16()
    }

    /// The reason text (`"OK"` on success).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"secret"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "No passwords defined");
    /// ```
    pub fn status_text(&self) -> &str {
        &self.status_text
    }

    /// The user id libzmq attaches to the peer's messages (`User-Id`); empty unless 200.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain("*", [("admin", "secret")]).unwrap();
    /// let ok: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"secret"];
    /// assert_eq!(auth.handle_zap_message(&ok).user_id(), "admin");
    /// let bad: [&[u8]; 8] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"guess"];
    /// assert_eq!(auth.handle_zap_message(&bad).user_id(), "");
    /// ```
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The ZMTP-encoded metadata (empty unless 200 and the client's certificate had some).
    /// Decode it with [`decode_metadata`].
    ///
    /// ```
    /// use zmq_auth::{decode_metadata, Authenticator};
    /// let mut auth = Authenticator::new();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"NULL"];
    /// let reply = auth.handle_zap_message(&req);
    /// assert!(decode_metadata(reply.metadata()).unwrap().is_empty());
    /// ```
    pub fn metadata(&self) -> &[u8] {
        self.metadata.as_deref().unwrap_or(&[])
    }

    /// The echoed request id.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// let req: [&[u8]; 6] = [b"1.0", b"req-9", b"", b"127.0.0.1", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).request_id(), b"req-9");
    /// // Echoed even when the version is wrong.
    /// let req: [&[u8]; 6] = [b"0.9", b"req-10", b"", b"127.0.0.1", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).request_id(), b"req-10");
    /// ```
    pub fn request_id(&self) -> &[u8] {
        &self.request_id
    }

    /// The six reply frames, borrowed (no copies): version, request id, status code,
    /// status text, user id, metadata.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.deny(["192.0.2.1"]).unwrap();
    /// let req: [&[u8]; 6] = [b"1.0", b"5", b"", b"192.0.2.1", b"", b"NULL"];
    /// let reply = auth.handle_zap_message(&req);
    /// let frames = reply.frames();
    /// assert_eq!(frames[0], zmq_auth::ZAP_VERSION);
    /// assert_eq!(frames[2], b"400");
    /// assert_eq!(frames[3], b"Address denied");
    /// assert!(frames[4].is_empty() && frames[5].is_empty());
    /// ```
    pub fn frames(&self) -> [&[u8]; 6] {
        [
            ZAP_VERSION,
            &self.request_id,
            self.status.as_bytes(),
            self.status_text.as_bytes(),
            self.user_id.as_bytes(),
            self.metadata(),
        ]
    }

    /// The six reply frames as owned buffers.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"NULL"];
    /// let reply = auth.handle_zap_message(&req);
    /// let owned: Vec<Vec<u8>> = reply.to_frames();
    /// assert_eq!(owned.len(), 6);
    /// assert_eq!(owned, reply.frames().map(|f| f.to_vec()));
    /// ```
    pub fn to_frames(&self) -> Vec<Vec<u8>> {
        self.frames().iter().map(|f| f.to_vec()).collect()
    }
}
