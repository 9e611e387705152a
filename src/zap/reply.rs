//! [`ZapReply`]: the answer to one ZAP request.

use super::{StatusCode, ZAP_VERSION};

// Only named in an intra-doc link.
#[cfg(doc)]
use super::decode_metadata;

/// Bytes kept inline when at most `N` long — request ids (libzmq sends `"1"`) and user
/// ids (a Z85 key is 40 characters) — so that a reply on the common paths allocates
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Small<const N: usize> {
    Inline(u8, [u8; N]),
    Heap(Box<[u8]>),
}

impl<const N: usize> Small<N> {
    fn new(bytes: &[u8]) -> Small<N> {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= N => {
                let mut buf = [0u8; N];
                buf[..bytes.len()].copy_from_slice(bytes);
                Small::Inline(len, buf)
            }
            _ => Small::Heap(bytes.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Small::Inline(len, buf) => buf.get(..usize::from(*len)).unwrap_or_default(),
            Small::Heap(b) => b,
        }
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
    /// Inline up to 15 bytes (16 in all: the reply is moved through the loop's steps).
    request_id: Small<15>,
    status: StatusCode,
    status_text: std::borrow::Cow<'static, str>,
    /// UTF-8 (the policy builds it from text or from Z85, which is ASCII).
    user_id: Small<47>,
    metadata: Option<std::sync::Arc<[u8]>>,
}

impl ZapReply {
    pub(crate) fn new(
        request_id: &[u8],
        status: StatusCode,
        status_text: impl Into<std::borrow::Cow<'static, str>>,
        user_id: &[u8],
        metadata: Option<std::sync::Arc<[u8]>>,
    ) -> ZapReply {
        // A refused peer never gets a user id or metadata.
        let ok = status == StatusCode::Success;
        let status_text = status_text.into();
        let user_id = if ok { user_id } else { b"" };
        let metadata = if ok { metadata } else { None };
        // Everything the peer is sent (the metadata comes from certificate files).
        #[cfg(zmq_auth_audit)]
        {
            crate::audit::reply_text(status_text.as_bytes());
            crate::audit::reply_text(user_id);
            crate::audit::reply_text(metadata.as_deref().unwrap_or_default());
        }
        ZapReply {
            request_id: Small::new(request_id),
            status,
            status_text,
            user_id: Small::new(user_id),
            metadata,
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
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "No passwords defined");
    /// ```
    pub fn status_text(&self) -> &str {
        &self.status_text
    }

    /// The user id libzmq attaches to the peer's messages (`User-Id`); empty unless 200.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    /// let ok: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&ok).user_id(), "admin");
    /// let bad: [&[u8]; 8] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"guess"];
    /// assert_eq!(auth.handle_zap_message(&bad).user_id(), "");
    /// ```
    pub fn user_id(&self) -> &str {
        // Always UTF-8 (see the field), so this never falls back.
        std::str::from_utf8(self.user_id.as_bytes()).unwrap_or_default()
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
        self.request_id.as_bytes()
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
            self.request_id.as_bytes(),
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
