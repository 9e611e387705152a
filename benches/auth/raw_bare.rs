//! A bare responder through raw libzmq calls (info rows): the cheapest ZAP responder
//! this bench knows how to write. The floors the targets are measured against
//! ([`crate::zap::start_bare`]) go through the `zmq` crate's `Message`, which asks
//! libzmq for a frame's data and size on every look and needs a fresh message for each
//! one moved out; since the authenticator's ZAP thread holds `zmq_msg_t`s itself, this
//! floor shows how far it is from a responder that does the same with no decision.
//!
//! Like the other bare responder it answers every request 200 without looking at it,
//! moves the routing id and request id back, and stops on a three-frame `STOP`.

use std::ffi::{c_int, c_void};
use std::thread::JoinHandle;

use zmq_auth::zmq;
use zmq_auth::ZAP_ENDPOINT;

use crate::zap::{dealer, z85_into};

/// libzmq's `zmq_msg_t`: 64 bytes, pointer-aligned.
#[repr(C, align(8))]
struct RawMsg([u8; 64]);

extern "C" {
    fn zmq_msg_init(msg: *mut RawMsg) -> c_int;
    fn zmq_msg_recv(msg: *mut RawMsg, socket: *mut c_void, flags: c_int) -> c_int;
    fn zmq_msg_send(msg: *mut RawMsg, socket: *mut c_void, flags: c_int) -> c_int;
    fn zmq_msg_data(msg: *mut RawMsg) -> *mut c_void;
    fn zmq_msg_more(msg: *const RawMsg) -> c_int;
    fn zmq_msg_close(msg: *mut RawMsg) -> c_int;
    fn zmq_send(socket: *mut c_void, buf: *const c_void, len: usize, flags: c_int) -> c_int;
}

/// Frames kept from one request to the next (a request of more is cut to this many).
const FRAMES: usize = 12;

pub struct RawBare {
    handle: Option<JoinHandle<Result<(), String>>>,
    ctx: zmq::Context,
}

/// Starts the responder; with `KEY_USER_ID`, a 32-byte last frame (a CURVE key) is
/// answered with its Z85 text as User-Id, else every User-Id is `anonymous`.
pub fn start<const KEY_USER_ID: bool>(ctx: &zmq::Context) -> zmq::Result<RawBare> {
    let mut r = ctx.socket(zmq::ROUTER)?;
    r.set_linger(0)?;
    r.bind(ZAP_ENDPOINT)?;
    let handle = std::thread::Builder::new()
        .name("bare-raw-zap".into())
        .spawn(move || serve::<KEY_USER_ID>(&mut r))
        .expect("spawn the raw bare responder");
    Ok(RawBare {
        handle: Some(handle),
        ctx: ctx.clone(),
    })
}

fn serve<const KEY_USER_ID: bool>(r: &mut zmq::Socket) -> Result<(), String> {
    let s = r.as_mut_ptr();
    let mut msgs: Vec<RawMsg> = (0..FRAMES).map(|_| RawMsg([0; 64])).collect();
    let mut lens = [0usize; FRAMES];
    // SAFETY (every unsafe block below): the socket pointer is valid while `r` lives
    // (this function's whole run), the messages are initialised here and closed at the
    // end, and a frame's data is read only between its receive and its send or the
    // next receive into it.
    for m in msgs.iter_mut() {
        unsafe { zmq_msg_init(m) };
    }
    let send = |buf: &[u8], flags: c_int| -> Result<(), String> {
        let rc = unsafe { zmq_send(s, buf.as_ptr().cast(), buf.len(), flags) };
        if rc < 0 {
            Err("zmq_send failed".into())
        } else {
            Ok(())
        }
    };
    let result = loop {
        let mut n = 0;
        let received = loop {
            let i = n.min(FRAMES - 1);
            let rc = unsafe { zmq_msg_recv(&mut msgs[i], s, 0) };
            let Ok(len) = usize::try_from(rc) else {
                break Err("zmq_msg_recv failed".to_string());
            };
            lens[i] = len;
            n += 1;
            if unsafe { zmq_msg_more(&msgs[i]) } == 0 {
                break Ok(n.min(FRAMES));
            }
        };
        let n = match received {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if n == 3 && bytes(&mut msgs, &lens, 2) == b"STOP" {
            break Ok(());
        }
        if n < 4 {
            continue;
        }
        let mut uid = [0u8; 40];
        let uid: &[u8] = if KEY_USER_ID {
            match <[u8; 32]>::try_from(bytes(&mut msgs, &lens, n - 1)) {
                Ok(key) => {
                    z85_into(&key, &mut uid);
                    &uid
                }
                Err(_) => b"anonymous",
            }
        } else {
            b"anonymous"
        };
        let more = zmq::SNDMORE;
        // Routing id and request id go back as they came (moved, not copied).
        let sent = (|| {
            if unsafe { zmq_msg_send(&mut msgs[0], s, more) } < 0 {
                return Err("zmq_msg_send failed".to_string());
            }
            send(b"", more)?;
            send(b"1.0", more)?;
            if unsafe { zmq_msg_send(&mut msgs[3], s, more) } < 0 {
                return Err("zmq_msg_send failed".to_string());
            }
            send(b"200", more)?;
            send(b"OK", more)?;
            send(uid, more)?;
            send(b"", 0)
        })();
        lens[0] = 0;
        lens[3] = 0;
        if let Err(e) = sent {
            break Err(e);
        }
    };
    for m in msgs.iter_mut() {
        unsafe { zmq_msg_close(m) };
    }
    result
}

/// Frame `i`'s bytes (`lens[i]` of them, as its receive returned).
fn bytes<'m>(msgs: &'m mut [RawMsg], lens: &[usize], i: usize) -> &'m [u8] {
    if lens[i] == 0 {
        return &[];
    }
    // SAFETY: frame `i` was received into and holds `lens[i]` bytes while borrowed.
    unsafe { std::slice::from_raw_parts(zmq_msg_data(&mut msgs[i]).cast::<u8>(), lens[i]) }
}

impl Drop for RawBare {
    fn drop(&mut self) {
        let Some(h) = self.handle.take() else { return };
        if let Ok(d) = dealer(&self.ctx) {
            let _ = d.send_multipart([&b""[..], b"STOP"], 0);
            let _ = h.join();
        }
    }
}
