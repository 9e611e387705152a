//! The authenticator thread's side: its poll loop, the commands it takes from the
//! caller, and the ZAP requests it serves.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::error::{Error, Result};
use crate::policy::{AuthEvent, Authenticator};
use crate::zap::split_envelope;
use crate::ZAP_ENDPOINT;

/// ZAP requests handled per wake-up before the control pipe is looked at again.
const BATCH: usize = 256;
/// Frames of a request whose slices are kept on the stack (a ZAP request has 6 to 8,
/// plus a 1- or 2-frame envelope); longer ones spill to the heap.
const INLINE_FRAMES: usize = 16;

type Job = Box<dyn FnOnce(&mut Authenticator) -> Result<()> + Send>;

/// A job's life: queued, then taken by the thread, or cancelled by a caller that gave up
/// waiting. Whoever moves it out of `QUEUED` first wins, so a timed-out call is either
/// known not to apply, or known to have started.
pub(super) const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

pub(super) enum Command {
    Apply(Job, Sender<Result<()>>, Arc<AtomicU8>),
    Stop,
}

/// Cancels a queued job; false when the thread already took it.
pub(super) fn cancel(state: &AtomicU8) -> bool {
    state
        .compare_exchange(QUEUED, CANCELLED, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// The thread's state.
pub(super) struct Worker {
    zap: zmq::Socket,
    pipe: zmq::Socket,
    commands: Receiver<Command>,
    auth: Authenticator,
    events: Sender<AuthEvent>,
    /// The thread's own end of the stream, to drop the oldest event when it is full.
    oldest_events: Receiver<AuthEvent>,
    events_dropped: Arc<AtomicU64>,
    /// Set by the first `ThreadAuthenticator::events` call: building an event costs
    /// four allocations per request, so nobody pays for a stream nobody reads.
    events_on: Arc<AtomicBool>,
}

impl Worker {
    pub(super) fn new(
        zap: zmq::Socket,
        pipe: zmq::Socket,
        commands: Receiver<Command>,
        events: Sender<AuthEvent>,
        oldest_events: Receiver<AuthEvent>,
        events_dropped: Arc<AtomicU64>,
        events_on: Arc<AtomicBool>,
    ) -> Worker {
        Worker {
            zap,
            pipe,
            commands,
            auth: Authenticator::new(),
            events,
            oldest_events,
            events_dropped,
            events_on,
        }
    }

    pub(super) fn run(mut self) {
        let mut frames: Vec<zmq::Message> = Vec::new();
        loop {
            let (zap_ready, pipe_ready) = {
                let mut items = [
                    self.zap.as_poll_item(zmq::POLLIN),
                    self.pipe.as_poll_item(zmq::POLLIN),
                ];
                match zmq::poll(&mut items, -1) {
                    Ok(_) => {}
                    Err(zmq::Error::EINTR) => continue,
                    Err(e) => {
                        zlog!(Error, "poll failed, authenticator stops: {e}");
                        break;
                    }
                }
                (items[0].is_readable(), items[1].is_readable())
            };
            if pipe_ready && !self.control() {
                break;
            }
            if zap_ready {
                for _ in 0..BATCH {
                    // A waiting command (stop, configure) goes first: its latency is one
                    // request, not a batch of slow credentials callbacks.
                    if !self.commands.is_empty() {
                        break;
                    }
                    if !self.serve_one(&mut frames) {
                        break;
                    }
                }
            }
        }
    }

    /// Drains wake-ups and commands; false when told to stop (or orphaned).
    fn control(&mut self) -> bool {
        let mut msg = zmq::Message::new();
        while self.pipe.recv(&mut msg, zmq::DONTWAIT).is_ok() {}
        loop {
            match self.commands.try_recv() {
                Ok(Command::Apply(job, reply, state)) => {
                    if state
                        .compare_exchange(QUEUED, TAKEN, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        continue; // the caller gave up and was told it did not apply
                    }
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut self.auth)
                    }))
                    .unwrap_or(Err(Error::Panicked("configuration closure")));
                    let _ = reply.send(result);
                }
                Ok(Command::Stop) => return false,
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Receives and answers one request; false when none is waiting.
    ///
    /// `frames` keeps its messages from one request to the next: receiving into a
    /// message closes its old content, so the hot path creates and drops no message
    /// except the envelope, which goes back to libzmq as it came (moved, not copied).
    fn serve_one(&mut self, frames: &mut Vec<zmq::Message>) -> bool {
        let mut n = 0;
        loop {
            if n == frames.len() {
                frames.push(zmq::Message::new());
            }
            if let Err(e) = self.zap.recv(&mut frames[n], zmq::DONTWAIT) {
                if e != zmq::Error::EAGAIN {
                    zlog!(Warn, "ZAP receive failed: {e}");
                }
                // EAGAIN mid-message cannot happen (messages arrive whole).
                return false;
            }
            let more = frames[n].get_more();
            n += 1;
            if !more {
                break;
            }
        }
        // Each frame's bytes are looked up once (two FFI calls per frame), into a stack
        // array for any request of sane size: nothing is allocated here. The routing id
        // is only ever sent back as it came, so its bytes are not looked up.
        let mut inline: [&[u8]; INLINE_FRAMES] = [b"routing id"; INLINE_FRAMES];
        let spilled: Vec<&[u8]>;
        let all: &[&[u8]] = if n <= INLINE_FRAMES {
            for (slot, m) in inline.iter_mut().zip(&frames[..n]).skip(1) {
                *slot = &m[..];
            }
            &inline[..n]
        } else {
            spilled = frames[..n].iter().map(|m| &m[..]).collect();
            &spilled
        };
        let (envelope, body) = split_envelope(all);
        let envelope_len = envelope.len();
        let want_event = self.events_on.load(Ordering::Relaxed);
        let (reply, event) = self.auth.handle(body, want_event);
        if let Some(ev) = event {
            if let Err(TrySendError::Full(ev)) = self.events.try_send(ev) {
                // Keep the newest: drop the oldest unread event.
                let _ = self.oldest_events.try_recv();
                self.events_dropped.fetch_add(1, Ordering::Relaxed);
                let _ = self.events.try_send(ev);
            }
        }
        let mut sent = Ok(());
        for slot in &mut frames[..envelope_len] {
            let m = std::mem::replace(slot, zmq::Message::new());
            if sent.is_ok() {
                sent = self.zap.send(m, zmq::SNDMORE | zmq::DONTWAIT);
            }
        }
        let reply_frames = reply.frames();
        let last = reply_frames.len() - 1;
        for (i, f) in reply_frames.iter().enumerate() {
            if sent.is_err() {
                break;
            }
            let more = if i < last { zmq::SNDMORE } else { 0 };
            sent = send_bytes(&mut self.zap, f, more | zmq::DONTWAIT);
        }
        if let Err(e) = sent {
            zlog!(Warn, "ZAP reply not sent: {e}");
        }
        // A request of absurdly many frames must not keep its messages alive.
        frames.truncate(INLINE_FRAMES);
        true
    }
}

/// Sends `data` as one frame with a single libzmq call (`zmq_send` copies it into a new
/// message), skipping the `zmq::Message` round trip of `Socket::send(&[u8])`: about 6%
/// of the thread's instructions per CURVE request (callgrind).
fn send_bytes(socket: &mut zmq::Socket, data: &[u8], flags: i32) -> zmq::Result<()> {
    // SAFETY: the socket pointer is valid while `socket` lives, and `data` is valid for
    // `data.len()` bytes; libzmq copies them before returning.
    let rc =
        unsafe { zmq_sys::zmq_send(socket.as_mut_ptr(), data.as_ptr().cast(), data.len(), flags) };
    if rc < 0 {
        // SAFETY: reads libzmq's thread-local errno.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    } else {
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Unbind explicitly, also when the loop ended by a panic: a closed socket's
        // inproc endpoint is not always freed at once while handshakes are attached,
        // and a restart on this context would then fail.
        if let Ok(ep) = CString::new(ZAP_ENDPOINT) {
            // SAFETY: the socket pointer is valid while `self.zap` lives; `ep` is NUL-terminated.
            unsafe {
                zmq_sys::zmq_unbind(self.zap.as_mut_ptr(), ep.as_ptr());
            }
        }
    }
}
