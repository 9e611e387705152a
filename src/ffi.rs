//! The few libzmq C functions the crate calls directly, declared here rather than taken
//! from `zmq-sys`: the crate depends on no particular zmq-sys version (0.11 under
//! rust-zmq 0.9, 0.12 under 0.10), and whichever is in the build links libzmq, which
//! defines these symbols with the same signatures in every 4.x release.

use std::ffi::{c_char, c_int, c_void};

extern "C" {
    pub(crate) fn zmq_errno() -> c_int;
    pub(crate) fn zmq_send(
        socket: *mut c_void,
        buf: *const c_void,
        len: usize,
        flags: c_int,
    ) -> c_int;
    pub(crate) fn zmq_unbind(socket: *mut c_void, endpoint: *const c_char) -> c_int;
    pub(crate) fn zmq_setsockopt(
        socket: *mut c_void,
        option: c_int,
        value: *const c_void,
        len: usize,
    ) -> c_int;
    // Only the unit tests read an option back.
    #[cfg(test)]
    pub(crate) fn zmq_getsockopt(
        socket: *mut c_void,
        option: c_int,
        value: *mut c_void,
        len: *mut usize,
    ) -> c_int;
    pub(crate) fn zmq_curve_keypair(public: *mut c_char, secret: *mut c_char) -> c_int;
    pub(crate) fn zmq_curve_public(public: *mut c_char, secret: *const c_char) -> c_int;
}

/// libzmq's `zmq_msg_t`: 64 opaque bytes, aligned for a pointer on every platform
/// libzmq supports (8 covers them all). Only ever handled through the functions below.
/// Neither `Send` nor `Sync` by itself (the marker): whoever owns one decides.
#[repr(C, align(8))]
pub(crate) struct ZmqMsg([u8; 64], std::marker::PhantomData<*mut ()>);

impl ZmqMsg {
    /// Zeroed bytes, to be initialised by `zmq_msg_init`.
    pub(crate) fn zeroed() -> ZmqMsg {
        ZmqMsg([0; 64], std::marker::PhantomData)
    }
}

extern "C" {
    pub(crate) fn zmq_msg_init(msg: *mut ZmqMsg) -> c_int;
    pub(crate) fn zmq_msg_recv(msg: *mut ZmqMsg, socket: *mut c_void, flags: c_int) -> c_int;
    pub(crate) fn zmq_msg_send(msg: *mut ZmqMsg, socket: *mut c_void, flags: c_int) -> c_int;
    pub(crate) fn zmq_msg_data(msg: *mut ZmqMsg) -> *mut c_void;
    pub(crate) fn zmq_msg_size(msg: *const ZmqMsg) -> usize;
    pub(crate) fn zmq_msg_more(msg: *const ZmqMsg) -> c_int;
    pub(crate) fn zmq_msg_close(msg: *mut ZmqMsg) -> c_int;
}
