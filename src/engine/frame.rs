//! [`Frame`]: one received ZAP message frame, owned as libzmq's own `zmq_msg_t`.
//!
//! `zmq::Message` asks libzmq for a frame's data and its size on every look, and moving
//! the envelope back out of it needs a fresh message in its place. The ZAP thread looks
//! at up to nine frames per request, so this keeps the size `zmq_msg_recv` returns and
//! sends the envelope straight from its slot (libzmq leaves a sent message empty):
//! about 200 instructions less per request (callgrind, `benches/callgrind_table.sh`).

use std::cell::UnsafeCell;
use std::ffi::c_int;

use crate::ffi::{self, ZmqMsg};

/// One message frame: empty until received into; closed when dropped.
pub(super) struct Frame {
    /// In a cell: libzmq's `zmq_msg_data` takes a mutable pointer even to read.
    msg: UnsafeCell<ZmqMsg>,
    /// The size of the content (what `zmq_msg_recv` returned; 0 once sent).
    len: usize,
}

// SAFETY: a `zmq_msg_t` is not tied to the thread that received it: libzmq itself hands
// messages between threads (its content is reference-counted atomically), and a
// message is only ever used through `&mut Frame` or `&Frame` reads of one thread at a
// time (`Frame` is not `Sync`). The ZAP loop moves pooled requests' frames this way.
unsafe impl Send for Frame {}

impl Default for Frame {
    fn default() -> Frame {
        Frame::new()
    }
}

impl Frame {
    /// An empty frame.
    pub(super) fn new() -> Frame {
        let frame = Frame {
            msg: UnsafeCell::new(ZmqMsg::zeroed()),
            len: 0,
        };
        // SAFETY: the pointer is to an owned, aligned `zmq_msg_t`; `zmq_msg_init` cannot
        // fail (it always returns 0).
        unsafe {
            ffi::zmq_msg_init(frame.msg.get());
        }
        frame
    }

    /// Receives the next frame from `socket` into this one. libzmq closes the old
    /// content first, also when nothing is waiting (`EAGAIN`); on a terminated context
    /// it may stay until the next receive or the drop (it is then not looked at).
    pub(super) fn recv(&mut self, socket: &mut zmq::Socket, flags: i32) -> zmq::Result<()> {
        // SAFETY: both pointers are valid while `self` and `socket` live.
        let rc = unsafe { ffi::zmq_msg_recv(self.msg.get(), socket.as_mut_ptr(), flags) };
        // A negative size is an error (the message is then empty); libzmq reports a
        // size of 2 GiB or more as `INT_MAX`, so that one is asked for.
        match usize::try_from(rc) {
            Ok(_) if rc == c_int::MAX => {
                // SAFETY: as above; the message was just received into.
                self.len = unsafe { ffi::zmq_msg_size(self.msg.get()) };
                Ok(())
            }
            Ok(len) => {
                self.len = len;
                Ok(())
            }
            Err(_) => {
                self.len = 0;
                Err(last_error())
            }
        }
    }

    /// Does another frame of the same message follow?
    pub(super) fn more(&self) -> bool {
        // SAFETY: the message is initialised (by `new`) for as long as `self` lives.
        unsafe { ffi::zmq_msg_more(self.msg.get()) != 0 }
    }

    /// The frame's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the message holds `len` bytes at `zmq_msg_data` until it is received
        // into, sent or closed, none of which can happen while this borrow lives.
        unsafe {
            let data = ffi::zmq_msg_data(self.msg.get());
            std::slice::from_raw_parts(data.cast::<u8>(), self.len)
        }
    }

    /// Sends this frame's content on `socket`, leaving it empty. On failure the content
    /// stays (and is closed with the frame).
    pub(super) fn send(&mut self, socket: &mut zmq::Socket, flags: i32) -> zmq::Result<()> {
        // SAFETY: both pointers are valid while `self` and `socket` live.
        let rc = unsafe { ffi::zmq_msg_send(self.msg.get(), socket.as_mut_ptr(), flags) };
        if rc < 0 {
            return Err(last_error());
        }
        self.len = 0;
        Ok(())
    }
}

impl std::ops::Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: the message is initialised and dropped once.
        unsafe {
            ffi::zmq_msg_close(self.msg.get());
        }
    }
}

fn last_error() -> zmq::Error {
    // SAFETY: reads libzmq's thread-local errno.
    zmq::Error::from_raw(unsafe { ffi::zmq_errno() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_bytes_both_ways_and_report_more() {
        let ctx = zmq::Context::new();
        let a = ctx.socket(zmq::PAIR).unwrap();
        let mut b = ctx.socket(zmq::PAIR).unwrap();
        a.bind("inproc://frame-test").unwrap();
        b.connect("inproc://frame-test").unwrap();
        // Short (inline in libzmq's message) and long (allocated) frames, and an empty one.
        let long = vec![7u8; 5000];
        let parts: [&[u8]; 3] = [b"short", b"", &long];
        a.send_multipart(parts, 0).unwrap();
        let mut frames: Vec<Frame> = (0..3).map(|_| Frame::new()).collect();
        for (i, f) in frames.iter_mut().enumerate() {
            f.recv(&mut b, 0).unwrap();
            assert_eq!(f.bytes(), parts[i]);
            assert_eq!(f.more(), i < 2);
        }
        // Moved frames keep their content (an inline one too): moved one by one into
        // a buffer of their own, then that buffer moved by growing it.
        let mut moved: Vec<Frame> = Vec::with_capacity(1);
        for f in frames {
            moved.push(f);
        }
        let boxed = Box::new(moved);
        let mut moved = *boxed;
        assert_eq!(moved[0].bytes(), b"short");
        assert_eq!(moved[2].bytes(), &long[..]);
        // Sent back from their slots, which are left empty.
        for (i, f) in moved.iter_mut().enumerate() {
            let flags = if i < 2 { zmq::SNDMORE } else { 0 };
            f.send(&mut b, flags).unwrap();
            assert!(f.bytes().is_empty());
        }
        let back = a.recv_multipart(0).unwrap();
        assert_eq!(back, parts.map(|p| p.to_vec()));
        // Nothing waiting: EAGAIN, and the frame is empty.
        let mut f = Frame::new();
        assert_eq!(f.recv(&mut b, zmq::DONTWAIT), Err(zmq::Error::EAGAIN));
        assert!(f.bytes().is_empty());
        // Receiving into a frame replaces its old content.
        a.send("first", 0).unwrap();
        a.send("second!", 0).unwrap();
        f.recv(&mut b, 0).unwrap();
        f.recv(&mut b, 0).unwrap();
        assert_eq!(f.bytes(), b"second!");
    }

    #[test]
    fn a_failed_send_keeps_the_content() {
        let ctx = zmq::Context::new();
        let mut r = ctx.socket(zmq::ROUTER).unwrap();
        r.set_router_mandatory(true).unwrap();
        r.bind("inproc://frame-fail").unwrap();
        let d = ctx.socket(zmq::DEALER).unwrap();
        d.connect("inproc://frame-fail").unwrap();
        d.send("hello", 0).unwrap();
        // A routing id nobody has: EHOSTUNREACH, and the frame still holds its bytes.
        let mut id = Frame::new();
        let mut body = Frame::new();
        id.recv(&mut r, 0).unwrap();
        body.recv(&mut r, 0).unwrap();
        assert_eq!(body.bytes(), b"hello");
        let mut unknown = Frame::new();
        d.send("nobody-has-this-id", 0).unwrap();
        unknown.recv(&mut r, 0).unwrap();
        unknown.recv(&mut r, 0).unwrap();
        assert_eq!(
            unknown.send(&mut r, zmq::SNDMORE),
            Err(zmq::Error::EHOSTUNREACH)
        );
        assert_eq!(unknown.bytes(), b"nobody-has-this-id");
        // The real routing id still routes: the reply arrives.
        id.send(&mut r, zmq::SNDMORE).unwrap();
        body.send(&mut r, 0).unwrap();
        assert_eq!(d.recv_bytes(0).unwrap(), b"hello");
    }
}
