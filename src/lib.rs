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
//! - [`Authenticator`] makes every decision and does no socket I/O: frames in, reply
//!   out. It is deterministic, unit-tested and fuzzed.
//! - [`ThreadAuthenticator`] runs an `Authenticator` on a background thread that serves
//!   the ZAP socket; configuration calls return once the thread has applied them.
//! - [`create_certificates`], [`load_certificate`] and [`load_certificates`] read and
//!   write CURVE certificate files compatible with pyzmq and CZMQ.
//!
//! **Security note:** with *no* ZAP handler bound, libzmq admits CURVE clients (any key)
//! and NULL clients of a domain. Stopping the authenticator therefore turns
//! authentication off for new connections: keep it alive as long as the server socket.
//!
//! ```
//! use zmq_auth::{zmq, ThreadAuthenticator};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = zmq::Context::new();
//! let auth = ThreadAuthenticator::start(&ctx)?;
//! auth.allow(["127.0.0.1"])?;
//! auth.configure_plain("*", [("admin", "secret")])?;
//!
//! let server = ctx.socket(zmq::PULL)?;
//! server.set_plain_server(true)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! let endpoint = server.get_last_endpoint()?.unwrap();
//!
//! let client = ctx.socket(zmq::PUSH)?;
//! client.set_plain_username(Some("admin"))?;
//! client.set_plain_password(Some("secret"))?;
//! client.connect(&endpoint)?;
//! client.send("hello", 0)?;
//!
//! let mut msg = server.recv_msg(0)?;
//! assert_eq!(msg.gets("User-Id"), Some("admin"));
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub)]
#![deny(missing_docs)]

mod address;
mod certs;
mod ct;
mod error;
mod keys;
mod plain;
mod policy;
mod thread;
mod zap;

/// Re-exported: [`ThreadAuthenticator::events`] returns a `crossbeam_channel::Receiver`.
pub use crossbeam_channel;
pub use zmq;

pub use certs::{create_certificates, load_certificate, load_certificates, Certificate};
pub use error::{Error, Result};
pub use keys::{curve_available, decode_z85_key, encode_z85_key};
pub use policy::{AuthEvent, Authenticator, CredentialsProvider, CurveDecision};
pub use thread::ThreadAuthenticator;
pub use zap::{
    decode_metadata, encode_metadata, is_valid_property_name, parse_request, split_envelope,
    Mechanism, StatusCode, ZapParseError, ZapReply, ZapRequest, ZAP_VERSION,
};

/// Pass as the location to `configure_curve` to admit any CURVE client that completes
/// the handshake (encryption without client authentication).
pub const CURVE_ALLOW_ANY: &str = "*";

/// The endpoint libzmq sends ZAP requests to, in each context.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
