//! The authenticator thread's side: its poll loop, the commands it takes from the
//! caller, and the ZAP requests it serves.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::error::{Error, Result};
use crate::policy::{AuthEvent, Authenticator};
use crate::zap::split_envelope;
use crate::ZAP_ENDPOINT;

/// ZAP requests handled per wake-up before the control pipe is looked at again.
const BATCH: usize = 256;

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
}

impl Worker {
    pub(super) fn new(
        zap: zmq::Socket,
        pipe: zmq::Socket,
        commands: Receiver<Command>,
        events: Sender<AuthEvent>,
        oldest_events: Receiver<AuthEvent>,
        events_dropped: Arc<AtomicU64>,
    ) -> Worker {
        Worker {
            zap,
            pipe,
            commands,
            auth: Authenticator::new(),
            events,
            oldest_events,
            events_dropped,
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
                        log::error!(target: "zmq_auth", "poll failed, authenticator stops: {e}");
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
    fn serve_one(&mut self, frames: &mut Vec<zmq::Message>) -> bool {
        frames.clear();
        loop {
            let mut msg = zmq::Message::new();
            if let Err(e) = self.zap.recv(&mut msg, zmq::DONTWAIT) {
                if e != zmq::Error::EAGAIN {
                    log::warn!(target: "zmq_auth", "ZAP receive failed: {e}");
                }
                // EAGAIN mid-message cannot happen (messages arrive whole).
                return false;
            }
            let more = msg.get_more();
            frames.push(msg);
            if !more {
                break;
            }
        }
        let all: Vec<&[u8]> = frames.iter().map(|m| &m[..]).collect();
        let (envelope, body) = split_envelope(&all);
        let (reply, event) = self.auth.handle(body, true);
        if let Some(ev) = event {
            if let Err(TrySendError::Full(ev)) = self.events.try_send(ev) {
                // Keep the newest: drop the oldest unread event.
                let _ = self.oldest_events.try_recv();
                self.events_dropped.fetch_add(1, Ordering::Relaxed);
                let _ = self.events.try_send(ev);
            }
        }
        let mut out: Vec<&[u8]> = Vec::with_capacity(8);
        out.extend_from_slice(envelope);
        out.extend_from_slice(&reply.frames());
        if let Err(e) = self.zap.send_multipart(out, zmq::DONTWAIT) {
            log::warn!(target: "zmq_auth", "ZAP reply not sent: {e}");
        }
        true
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
