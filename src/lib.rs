//! # zmq-auth: ZAP authentication for libzmq servers
//!
//! A ZeroMQ server socket with a security mechanism (or a ZAP domain) asks a *ZAP
//! handler* — an in-process socket bound to [`ZAP_ENDPOINT`] in the same
//! [`zmq::Context`] — whether each connecting peer may in (RFC 27). This crate is that
//! handler: allow/deny lists of IP addresses and CIDR ranges, PLAIN usernames and
//! passwords, CURVE public keys (certificate directories, allow-any, or a callback), and
//! GSSAPI principals. It is the Rust counterpart of pyzmq's `zmq.auth` and CZMQ's `zauth`.
//!
//! The contract, in layers:
//! - The decision is pure code over an immutable policy snapshot: no file, socket,
//!   thread or clock. It is deterministic, unit-tested and fuzzed.
//! - [`ThreadAuthenticator`] serves the ZAP socket on a background thread from the
//!   current snapshot and **fails closed**: configuration calls build and validate a new
//!   snapshot on the caller's thread and swap it in (all or nothing); a watcher thread
//!   re-checks certificate directories and password files (a source that cannot be read
//!   refuses, never keeps old grants); a small pool runs your callbacks under a deadline
//!   (a late answer is 300). Nothing slow ever runs on the ZAP thread.
//! - [`Authenticator`] is the same configuration with a synchronous handler (frames in,
//!   reply out) for custom poll loops and tests; it re-checks files and runs callbacks
//!   on the calling thread.
//! - [`create_certificates`], [`load_certificate`] and [`load_certificates`] read and
//!   write CURVE certificate files compatible with pyzmq and CZMQ.
//!
//! **Security note:** with *no* ZAP handler bound, libzmq admits CURVE clients (any key)
//! and NULL clients of a domain, so stopping the authenticator would turn authentication
//! off for new connections. Call [`require_zap`] on every server socket before `bind`:
//! it sets the ZAP domain and `ZMQ_ZAP_ENFORCE_DOMAIN`, and such a socket refuses peers
//! when no handler answers. Keep the authenticator alive as long as the server socket.
//!
//! **Secrets in memory:** a [`Certificate`]'s secret key, every certificate or password
//! file text the crate reads and the plaintext passwords in its PLAIN tables are wiped
//! (`zeroize`) when dropped; ZAP request frames and libzmq's own copies are not.
//! The README's security notes list exactly what is and is not wiped.
//!
//! # How a peer is decided
//!
//! For every connecting peer, in this order:
//!
//! 1. **Address lists.** With an allow list ([`ThreadAuthenticator::allow`]) only the
//!    listed addresses and ranges get further; with a deny list
//!    ([`ThreadAuthenticator::deny`]) the listed ones are refused. The two are mutually
//!    exclusive ([`Error::AllowDenyConflict`]).
//! 2. **Mechanism.** `NULL` peers that passed the lists are admitted as `anonymous`
//!    (libzmq asks about NULL peers only when the server socket has a ZAP domain).
//!    `PLAIN` peers need a matching username and password, `CURVE` peers a known public
//!    key (or an allow-any / callback policy), `GSSAPI` peers a domain configured with
//!    `configure_gssapi`. Anything else is refused.
//!
//! Credentials are configured per *ZAP domain* (the server socket's `ZMQ_ZAP_DOMAIN`):
//! `"*"` (or `""`) configures every domain that has no configuration of its own.
//!
//! # Quick start: PLAIN and an address allow list
//!
//! ```
//! use zmq_auth::{zmq, ThreadAuthenticator};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = zmq::Context::new();
//! let auth = ThreadAuthenticator::start(&ctx)?;
//! auth.allow(["127.0.0.1"])?;
//! auth.configure_plain("*", [("admin", "correct-horse")])?;
//!
//! let server = ctx.socket(zmq::PULL)?;
//! server.set_plain_server(true)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! let endpoint = server.get_last_endpoint()?.unwrap();
//!
//! let client = ctx.socket(zmq::PUSH)?;
//! client.set_plain_username(Some("admin"))?;
//! client.set_plain_password(Some("correct-horse"))?;
//! client.connect(&endpoint)?;
//! client.send("hello", 0)?;
//!
//! let mut msg = server.recv_msg(0)?;
//! assert_eq!(msg.gets("User-Id"), Some("admin"));
//! # Ok(()) }
//! ```
//!
//! # CURVE with certificate files
//!
//! [`create_certificates`] writes a key pair as `NAME.key` (public) and `NAME.key_secret`
//! (secret). Put the clients' public certificates in a directory and pass it to
//! [`ThreadAuthenticator::configure_curve`]: a client is admitted when its public key is
//! there, with the key (Z85) as its `User-Id` and the certificate's metadata attached to
//! its messages. The directory is re-checked for added and removed files while running.
//!
//! ```
//! use zmq_auth::{create_certificates, load_certificate, require_zap, zmq, ThreadAuthenticator};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if !zmq_auth::curve_available() { return Ok(()); }
//! let keys = tempfile::tempdir()?;
//! let trusted = tempfile::tempdir()?; // only clients' public certificates
//! let (_, server_secret) = create_certificates(keys.path(), "server", &[])?;
//! let (client_public, client_secret) =
//!     create_certificates(keys.path(), "client", &[("name", "Alice")])?;
//! std::fs::copy(&client_public, trusted.path().join("client.key"))?;
//! let server_cert = load_certificate(&server_secret)?;
//! let client_cert = load_certificate(&client_secret)?;
//!
//! let ctx = zmq::Context::new();
//! let auth = ThreadAuthenticator::start(&ctx)?;
//! auth.configure_curve("*", trusted.path())?;
//!
//! let server = ctx.socket(zmq::PULL)?;
//! server.set_curve_server(true)?;
//! server.set_curve_secretkey(server_cert.secret_key_bytes().unwrap())?;
//! require_zap(&server, "global")?; // no handler answering → refused, not admitted
//! server.set_rcvtimeo(5000)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! let endpoint = server.get_last_endpoint()?.unwrap();
//!
//! let client = ctx.socket(zmq::PUSH)?;
//! client.set_curve_serverkey(server_cert.public_key_bytes())?;
//! client.set_curve_publickey(client_cert.public_key_bytes())?;
//! client.set_curve_secretkey(client_cert.secret_key_bytes().unwrap())?;
//! client.connect(&endpoint)?;
//! client.send("hello", 0)?;
//!
//! let mut msg = server.recv_msg(0)?;
//! assert_eq!(msg.gets("User-Id"), Some(client_cert.public_key()));
//! assert_eq!(msg.gets("name"), Some("Alice"));
//! # Ok(()) }
//! ```
//!
//! # Watching decisions
//!
//! [`ThreadAuthenticator::events`] streams an [`AuthEvent`] per decision, for audit logs
//! and tests:
//!
//! ```
//! use std::time::Duration;
//! use zmq_auth::{zmq, Mechanism, StatusCode, ThreadAuthenticator};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = zmq::Context::new();
//! let auth = ThreadAuthenticator::start(&ctx)?;
//! auth.configure_plain("*", [("admin", "correct-horse")])?;
//! let events = auth.events();
//!
//! let server = ctx.socket(zmq::PULL)?;
//! server.set_plain_server(true)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! let client = ctx.socket(zmq::PUSH)?;
//! client.set_linger(0)?;
//! client.set_plain_username(Some("admin"))?;
//! client.set_plain_password(Some("wrong"))?;
//! client.connect(&server.get_last_endpoint()?.unwrap())?;
//!
//! let event = events.recv_timeout(Duration::from_secs(5))?;
//! assert_eq!(event.mechanism, Mechanism::Plain);
//! assert_eq!(event.status, StatusCode::AuthenticationFailure);
//! assert_eq!(event.reason, "Invalid password");
//! # Ok(()) }
//! ```
//!
//! # Without a thread
//!
//! [`Authenticator`] takes the frames of a ZAP request and returns the reply; drive it
//! from your own poll loop (bind a ROUTER socket to [`ZAP_ENDPOINT`], strip the envelope
//! with [`split_envelope`], send back envelope + [`ZapReply::frames`]) or use it to test a
//! policy without sockets:
//!
//! ```
//! let mut auth = zmq_auth::Authenticator::new();
//! auth.allow(["10.0.0.0/8"])?;
//! let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"192.0.2.1", b"", b"NULL"];
//! assert_eq!(auth.handle_zap_message(&req).status_text(), "Address not allowed");
//! # Ok::<(), zmq_auth::Error>(())
//! ```
#![warn(missing_docs, unreachable_pub)]
// docs.rs (nightly rustdoc, `--cfg docsrs`): label what each feature brings.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[macro_use]
mod logging;

mod address;
#[cfg(zmq_auth_audit)]
mod audit;
mod authenticator;
mod certs;
mod ct;
mod engine;
mod error;
mod ffi;
mod hash;
mod key_table;
mod keys;
mod metrics;
mod phc;
mod plain;
mod policy;
mod server;
mod sources;
mod stamp;
pub mod store;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod test_hooks;
#[doc(hidden)]
pub mod watch_bench;
mod zap;

/// Re-exported: [`ThreadAuthenticator::events`] returns a `crossbeam_channel::Receiver`.
pub use crossbeam_channel;
/// Re-exported: the `zmq` crate whose [`zmq::Context`] [`ThreadAuthenticator::start`]
/// takes, so the versions always match: rust-zmq 0.9 with feature `zmq-0-9` (the
/// default), 0.10 with `zmq-0-10`.
pub use zmq;

// One binding per build: both zmq-sys versions link the C symbols of libzmq.
#[cfg(all(feature = "zmq-0-9", feature = "zmq-0-10"))]
compile_error!(
    "zmq-auth: features `zmq-0-9` and `zmq-0-10` are both on; pick one. For rust-zmq 0.10 \
     write `zmq-auth = { version = \"0.1\", default-features = false, features = [\"zmq-0-10\"] }`"
);
#[cfg(not(any(feature = "zmq-0-9", feature = "zmq-0-10")))]
compile_error!(
    "zmq-auth: no libzmq binding selected; enable feature `zmq-0-9` (the default) or \
     `zmq-0-10` (with `default-features = false`)"
);
// With `zmq-0-10`, the `zmq` this crate resolved must be 0.10 (`Socket::unbind` is new in
// 0.10). An error here means another crate of the build pins rust-zmq 0.9: use
// feature `zmq-0-9`, or move that crate to 0.10.
#[cfg(all(feature = "zmq-0-10", not(feature = "zmq-0-9")))]
const _FEATURE_ZMQ_0_10_NEEDS_RUST_ZMQ_0_10: fn(&zmq::Socket, &str) -> zmq::Result<()> =
    zmq::Socket::unbind;

pub use authenticator::Authenticator;
pub use certs::{create_certificates, load_certificate, load_certificates, Certificate};
pub use engine::{EngineOptions, ThreadAuthenticator, WatchMode};
pub use error::{Error, Result};
pub use keys::{curve_available, decode_z85_key, encode_z85_key};
pub use phc::hash_password;
pub use policy::{AuthEvent, CredentialsProvider, CurveDecision};
pub use server::require_zap;
pub use zap::{
    decode_metadata, encode_metadata, is_valid_property_name, parse_request, split_envelope,
    Mechanism, StatusCode, ZapParseError, ZapReply, ZapRequest, ZAP_VERSION,
};

// The README's Rust blocks are doctests, so they cannot rot. They use both stores, so
// they run where those features are on (`make test`, CI).
#[cfg(all(doctest, feature = "sqlite", feature = "postgres"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Pass as the location to `configure_curve` to admit any CURVE client that completes
/// the handshake (encryption without client authentication).
///
/// ```
/// # if !zmq_auth::curve_available() { return; }
/// let mut auth = zmq_auth::Authenticator::new();
/// auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY).unwrap();
/// let any_key = [9u8; 32];
/// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &any_key];
/// let reply = auth.handle_zap_message(&req);
/// assert_eq!(reply.status_code(), 200);
/// assert_eq!(reply.user_id(), zmq_auth::encode_z85_key(&any_key));
/// ```
pub const CURVE_ALLOW_ANY: &str = "*";

/// The endpoint libzmq sends ZAP requests to, in each context.
///
/// Only one socket per context can bind it, so [`ThreadAuthenticator::start`] fails with
/// [`Error::AlreadyRunning`] when something else already serves ZAP there.
///
/// ```
/// use zmq_auth::{zmq, Error, ThreadAuthenticator, ZAP_ENDPOINT};
/// let ctx = zmq::Context::new();
/// let handler = ctx.socket(zmq::ROUTER).unwrap();
/// handler.bind(ZAP_ENDPOINT).unwrap();
/// assert!(matches!(ThreadAuthenticator::start(&ctx), Err(Error::AlreadyRunning)));
/// ```
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
