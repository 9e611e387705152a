//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in zmq-auth, as a typed value.
///
/// Errors about files always carry the path, and parse errors the 1-based line number,
/// so a message like `bad.key:9: ...` points at the culprit. No variant ever holds a
/// password or a secret key.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a `_` arm.
///
/// ```
/// use zmq_auth::{load_certificate, Error};
/// let dir = tempfile::tempdir().unwrap();
/// let missing = dir.path().join("missing.key");
/// match load_certificate(&missing) {
///     Err(Error::Io { path, source }) => {
///         assert_eq!(path, missing);
///         assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
///     }
///     other => panic!("expected Error::Io, got {other:?}"),
/// }
///
/// // Messages name the file and, for parse errors, the line.
/// std::fs::write(dir.path().join("bad.key"), "curve\n    public-key = \"short\"\n").unwrap();
/// let err = load_certificate(dir.path().join("bad.key")).unwrap_err();
/// assert!(matches!(err, Error::InvalidKey { line: 2, .. }));
/// assert!(err.to_string().contains("bad.key:2:"));
///
/// let err = zmq_auth::Authenticator::new().allow(["not-an-ip"]).unwrap_err();
/// assert!(matches!(err, Error::InvalidAddress(ref a) if a == "not-an-ip"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read, written or listed.
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating-system error.
        source: io::Error,
    },
    /// A certificate (ZPL) or password file is malformed.
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number (0 when the problem concerns the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A key is not 40 valid Z85 characters decoding to 32 bytes.
    InvalidKey {
        /// The file concerned (empty when the key did not come from a file).
        path: PathBuf,
        /// 1-based line number (0 when not from a file).
        line: usize,
        /// What is wrong; never contains the key itself when it may be secret.
        message: String,
    },
    /// A certificate file has no `curve` / `public-key`.
    MissingPublicKey {
        /// The file concerned.
        path: PathBuf,
    },
    /// A certificate's secret key does not derive the public key stored beside it.
    KeyMismatch {
        /// The file concerned.
        path: PathBuf,
    },
    /// A metadata name or value cannot be written (or encoded) safely.
    InvalidMetadata {
        /// The offending property name.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A certificate name is empty or would escape the target directory.
    InvalidName(String),
    /// An allow/deny entry is not an IPv4/IPv6 address or CIDR range.
    InvalidAddress(String),
    /// `allow` and `deny` were both used; they are mutually exclusive.
    AllowDenyConflict,
    /// The linked libzmq was built without CURVE support.
    CurveUnavailable,
    /// The linked libzmq was built without GSSAPI support.
    GssapiUnavailable,
    /// A libzmq call failed.
    Zmq(zmq::Error),
    /// A ZAP handler is already bound on this context (`inproc://zeromq.zap.01` in use).
    AlreadyRunning,
    /// The authenticator thread is not running (stopped, or it died).
    NotRunning,
    /// Code run on the authenticator thread (a configuration closure) panicked; the
    /// thread keeps running.
    Panicked(&'static str),
    /// A `ThreadAuthenticator` method was called from the authenticator's own thread
    /// (inside a callback); waiting for itself would deadlock.
    Reentrant,
    /// The authenticator thread did not answer in time.
    Timeout(&'static str),
    /// A configuration value that would be ambiguous or grant access by accident: an
    /// empty password, a user listed twice, an empty address list. Nothing was applied.
    InvalidConfig(String),
    /// A credential store failed (`store` names it, e.g. `sqlite:/path`; never a
    /// password).
    Store {
        /// The store's kind and location.
        store: String,
        /// What went wrong.
        message: String,
    },
    /// [`require_zap`](crate::require_zap) was called on a socket that is already bound
    /// or connected; libzmq would not apply it to that endpoint.
    ZapAfterBind,
}

/// `Result` with [`Error`].
///
/// ```
/// fn keys_in(dir: &std::path::Path) -> zmq_auth::Result<usize> {
///     Ok(zmq_auth::load_certificates(dir)?.len())
/// }
/// let dir = tempfile::tempdir().unwrap();
/// assert_eq!(keys_in(dir.path()).unwrap(), 0);
/// assert!(keys_in(&dir.path().join("nope")).is_err());
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// The variants that carry free text (not only a path) are made only here, so that an
/// audit build records each one as it is made, displayed or not.
impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
        .made()
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
        .made()
    }

    pub(crate) fn invalid_key(path: impl Into<PathBuf>, line: usize, message: String) -> Self {
        Error::InvalidKey {
            path: path.into(),
            line,
            message,
        }
        .made()
    }

    pub(crate) fn invalid_metadata(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidMetadata {
            name: name.into(),
            reason: reason.into(),
        }
        .made()
    }

    pub(crate) fn invalid_name(name: impl Into<String>) -> Self {
        Error::InvalidName(name.into()).made()
    }

    pub(crate) fn invalid_address(entry: impl Into<String>) -> Self {
        Error::InvalidAddress(entry.into()).made()
    }

    /// An audit build records the new error; otherwise this is nothing.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn store(store: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Store {
            store: store.into(),
            message: message.into(),
        }
        .made()
    }

    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Error::InvalidConfig(message.into()).made()
    }

    #[inline(always)]
    fn made(self) -> Self {
        #[cfg(zmq_auth_audit)]
        crate::audit::error_text(&Described(&self).to_string(), &format!("{self:?}"));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(zmq_auth_audit)]
        crate::audit::error_text(&Described(self).to_string(), &format!("{self:?}"));
        Described(self).fmt(f)
    }
}

/// The message itself; `Display` wraps it so an audit build can also record it.
struct Described<'a>(&'a Error);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Parse {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            Error::InvalidKey {
                path,
                line,
                message,
            } => {
                if path.as_os_str().is_empty() {
                    write!(f, "invalid key: {message}")
                } else {
                    write!(f, "{}:{line}: invalid key: {message}", path.display())
                }
            }
            Error::MissingPublicKey { path } => {
                write!(f, "{}: no curve public-key", path.display())
            }
            Error::KeyMismatch { path } => write!(
                f,
                "{}: secret-key does not match public-key",
                path.display()
            ),
            Error::InvalidMetadata { name, reason } => {
                write!(f, "invalid metadata {name:?}: {reason}")
            }
            Error::InvalidName(name) => write!(f, "invalid certificate name {name:?}"),
            Error::InvalidAddress(a) => {
                write!(f, "{a:?} is not an IPv4/IPv6 address or CIDR range")
            }
            Error::AllowDenyConflict => f.write_str("allow and deny lists are mutually exclusive"),
            Error::CurveUnavailable => f.write_str("the linked libzmq has no CURVE support"),
            Error::GssapiUnavailable => f.write_str("the linked libzmq has no GSSAPI support"),
            Error::Zmq(e) => write!(f, "libzmq: {e}"),
            Error::AlreadyRunning => write!(
                f,
                "a ZAP handler is already bound to {} on this context",
                crate::ZAP_ENDPOINT
            ),
            Error::NotRunning => f.write_str("the authenticator thread is not running"),
            Error::Panicked(what) => write!(f, "{what} panicked"),
            Error::Reentrant => f.write_str(
                "called from the authenticator thread itself (a callback); this would deadlock",
            ),
            Error::Timeout(what) => write!(f, "timed out waiting for the authenticator: {what}"),
            Error::InvalidConfig(message) => write!(f, "refused configuration: {message}"),
            Error::Store { store, message } => write!(f, "{store}: {message}"),
            Error::ZapAfterBind => {
                f.write_str("require_zap must be called before the socket is bound or connected")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Zmq(e) => Some(e),
            _ => None,
        }
    }
}

impl From<zmq::Error> for Error {
    fn from(e: zmq::Error) -> Self {
        Error::Zmq(e)
    }
}
