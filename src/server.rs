//! Server-socket settings that make libzmq fail closed when no ZAP handler answers.

use std::ffi::c_int;
use std::mem::ManuallyDrop;

use crate::error::{Error, Result};

/// `ZMQ_ZAP_ENFORCE_DOMAIN` (zmq.h, libzmq ≥ 4.3); `zmq` 0.9 has no setter for it.
const ZMQ_ZAP_ENFORCE_DOMAIN: c_int = 93;

/// Makes a server socket **refuse** peers when no ZAP handler answers, instead of
/// admitting them.
///
/// It sets the socket's ZAP domain (`ZMQ_ZAP_DOMAIN`) to `domain` and turns on
/// `ZMQ_ZAP_ENFORCE_DOMAIN`. Without this, libzmq admits CURVE clients with any key (and
/// NULL clients of a domain) whenever nothing is bound to [`ZAP_ENDPOINT`] — so a
/// stopped, dropped or never-started [`ThreadAuthenticator`] silently turns
/// authentication off. With it, such a handshake fails and the peer never gets in.
///
/// Call it before `bind`/`connect`: libzmq copies socket options into each listener and
/// connection when it is made, so a later call would not cover them. A socket that
/// already has an endpoint is therefore refused with [`Error::ZapAfterBind`] and left
/// unchanged. An empty `domain` is an [`Error::InvalidConfig`] (libzmq asks the ZAP
/// handler about NULL peers only on a socket with a domain; any name does, and a domain
/// without a policy of its own uses `"*"` unless strict domains are on). Other failures
/// (a libzmq that does not know option 93) are returned as [`Error::Zmq`].
///
/// ```
/// use zmq_auth::{require_zap, zmq, ThreadAuthenticator};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = zmq::Context::new();
/// let auth = ThreadAuthenticator::start(&ctx)?;
/// auth.configure_plain("*", [("admin", "correct-horse")])?;
///
/// let server = ctx.socket(zmq::PULL)?;
/// server.set_plain_server(true)?;
/// require_zap(&server, "global")?; // before bind
/// server.bind("tcp://127.0.0.1:*")?;
///
/// let client = ctx.socket(zmq::PUSH)?;
/// client.set_plain_username(Some("admin"))?;
/// client.set_plain_password(Some("correct-horse"))?;
/// client.connect(&server.get_last_endpoint()?.unwrap())?;
/// client.send("hello", 0)?;
/// let mut msg = server.recv_msg(0)?;
/// assert_eq!(msg.gets("User-Id"), Some("admin"));
///
/// // Too late once the socket has an endpoint.
/// assert!(matches!(require_zap(&server, "global"), Err(zmq_auth::Error::ZapAfterBind)));
/// # Ok(()) }
/// ```
///
/// [`ZAP_ENDPOINT`]: crate::ZAP_ENDPOINT
/// [`ThreadAuthenticator`]: crate::ThreadAuthenticator
pub fn require_zap(socket: &zmq::Socket, domain: &str) -> Result<()> {
    if domain.is_empty() {
        // libzmq only asks ZAP about NULL peers of a non-empty domain.
        return Err(Error::invalid_config(
            "require_zap needs a non-empty domain, e.g. \"global\" (libzmq asks the ZAP \
             handler about NULL peers only on a socket with a domain)",
        ));
    }
    if socket
        .get_last_endpoint()?
        .map_or(true, |endpoint| !endpoint.is_empty())
    {
        return Err(Error::ZapAfterBind);
    }
    socket.set_zap_domain(domain)?;
    set_int(socket, ZMQ_ZAP_ENFORCE_DOMAIN, 1)
}

/// `zmq_setsockopt` with an `int` value, for options `zmq` 0.9 has no setter for.
fn set_int(socket: &zmq::Socket, option: c_int, value: c_int) -> Result<()> {
    // `zmq::Socket::as_mut_ptr` wants `&mut self`; a bitwise copy that is never dropped
    // hands out the same raw pointer without a `&mut` to the caller's socket.
    // SAFETY: `socket` is a valid, initialised `Socket`, so reading it yields a valid
    // value; `ManuallyDrop` keeps the copy from closing the socket or releasing its
    // context reference, and nothing but the raw pointer is taken from it.
    let mut copy = ManuallyDrop::new(unsafe { std::ptr::read(socket) });
    let raw = copy.as_mut_ptr();
    // SAFETY: `raw` is the live libzmq socket `socket` owns (borrowed for this call;
    // `Socket` is not `Sync`, so no other thread uses it meanwhile); `value` is a valid
    // `int` for the stated length, and libzmq copies it before returning.
    let rc = unsafe {
        crate::ffi::zmq_setsockopt(
            raw,
            option,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: reads libzmq's thread-local errno right after the failed call.
        Err(Error::Zmq(zmq::Error::from_raw(unsafe {
            crate::ffi::zmq_errno()
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_int(socket: &zmq::Socket, option: c_int) -> c_int {
        let mut copy = ManuallyDrop::new(unsafe { std::ptr::read(socket) });
        let mut value: c_int = -1;
        let mut len = std::mem::size_of::<c_int>();
        // SAFETY: as in `set_int`; `value` and `len` are valid for writes.
        let rc = unsafe {
            crate::ffi::zmq_getsockopt(
                copy.as_mut_ptr(),
                option,
                std::ptr::from_mut(&mut value).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        value
    }

    #[test]
    fn sets_domain_and_enforce() {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::PULL).unwrap();
        assert_eq!(get_int(&s, ZMQ_ZAP_ENFORCE_DOMAIN), 0);
        require_zap(&s, "global").unwrap();
        assert_eq!(get_int(&s, ZMQ_ZAP_ENFORCE_DOMAIN), 1);
        assert_eq!(s.get_zap_domain().unwrap().unwrap(), "global");
    }

    #[test]
    fn refuses_empty_domain_and_bound_socket() {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::PULL).unwrap();
        assert!(matches!(require_zap(&s, ""), Err(Error::InvalidConfig(_))));
        s.bind("tcp://127.0.0.1:*").unwrap();
        assert!(matches!(
            require_zap(&s, "global"),
            Err(Error::ZapAfterBind)
        ));
        assert_eq!(get_int(&s, ZMQ_ZAP_ENFORCE_DOMAIN), 0);
    }
}
