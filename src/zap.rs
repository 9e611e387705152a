//! The RFC 27 (ZAP) codec: requests in, replies out, and ZMTP metadata. No sockets.

use crate::error::{Error, Result};

/// The only ZAP version there is.
pub const ZAP_VERSION: &[u8] = b"1.0";

/// A ZAP reply status code (RFC 27).
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
    pub fn as_u16(self) -> u16 {
        match self {
            StatusCode::Success => 200,
            StatusCode::TemporaryError => 300,
            StatusCode::AuthenticationFailure => 400,
            StatusCode::InternalError => 500,
        }
    }

    /// The three ASCII digits sent on the wire.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            StatusCode::Success => b"200",
            StatusCode::TemporaryError => b"300",
            StatusCode::AuthenticationFailure => b"400",
            StatusCode::InternalError => b"500",
        }
    }

    /// Parses the three digits of a reply's status frame.
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
    /// Classifies the mechanism frame of a request.
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
#[derive(Clone, Copy, Debug)]
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

/// Why a request could not be parsed, with what can still be echoed.
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
pub fn split_envelope<'a, 'b>(frames: &'a [&'b [u8]]) -> (&'a [&'b [u8]], &'a [&'b [u8]]) {
    // The body starts with the version, never empty, so an empty second frame can only
    // be a delimiter.
    let delimited = frames.len() > 1 && frames[1].is_empty();
    frames.split_at(frames.len().min(if delimited { 2 } else { 1 }))
}

/// Parses the body of a ZAP request (the frames after any envelope).
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
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status code: 200, 300, 400 or 500.
    pub fn status_code(&self) -> u16 {
        self.status.as_u16()
    }

    /// The reason text (`"OK"` on success).
    pub fn status_text(&self) -> &str {
        &self.status_text
    }

    /// The user id libzmq attaches to the peer's messages (`User-Id`); empty unless 200.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The ZMTP-encoded metadata (empty unless 200 and the client's certificate had some).
    pub fn metadata(&self) -> &[u8] {
        self.metadata.as_deref().unwrap_or(&[])
    }

    /// The echoed request id.
    pub fn request_id(&self) -> &[u8] {
        &self.request_id
    }

    /// The six reply frames, borrowed (no copies): version, request id, status code,
    /// status text, user id, metadata.
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
    pub fn to_frames(&self) -> Vec<Vec<u8>> {
        self.frames().iter().map(|f| f.to_vec()).collect()
    }
}
