//! The ZAP loop's parts that are not its control flow: the event sink, pending
//! requests, reply sending, per-request step hooks and small helpers.

use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::frame::Frame;
use super::zap_loop::INLINE_FRAMES;
use crate::policy::lockout::{saturating_after, Lockout};
use crate::policy::{self, AuthEvent, Verdict};
use crate::zap::{StatusCode, ZapReply};

/// The decision event stream's sending side.
pub(super) struct EventSink {
    pub(super) tx: Sender<AuthEvent>,
    /// The loop's own end of the stream, to drop the oldest event when it is full.
    pub(super) oldest: Receiver<AuthEvent>,
    pub(super) dropped: Arc<AtomicU64>,
    /// Set by the first `ThreadAuthenticator::events` call: building an event costs
    /// four allocations per request, so nobody pays for a stream nobody reads.
    pub(super) on: Arc<AtomicBool>,
}

impl EventSink {
    pub(super) fn wanted(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub(super) fn push(&self, ev: AuthEvent, steps: Steps) {
        steps.step("event");
        if let Err(TrySendError::Full(ev)) = self.tx.try_send(ev) {
            // Keep the newest: drop the oldest unread event.
            let _ = self.oldest.try_recv();
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = self.tx.try_send(ev);
        }
    }
}

/// A request waiting for the pool.
pub(super) struct Pending {
    /// The request as it came: the ROUTER envelope (sent back as it came), then the
    /// body (to build the reply, or to re-decide it if the policy changed meanwhile).
    /// Moved out of the receive buffer, not copied.
    pub(super) frames: Vec<Frame>,
    pub(super) envelope_len: usize,
    pub(super) generation: u64,
    pub(super) deadline: Instant,
}

impl Pending {
    /// Calls `f` with the body's frames (on the stack for any request of sane size).
    pub(super) fn with_body<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let body = &self.frames[self.envelope_len..];
        let mut inline: [&[u8]; INLINE_FRAMES] = [b""; INLINE_FRAMES];
        if body.len() <= INLINE_FRAMES {
            for (slot, m) in inline.iter_mut().zip(body) {
                *slot = &m[..];
            }
            f(&inline[..body.len()])
        } else {
            let spilled: Vec<&[u8]> = body.iter().map(|m| &m[..]).collect();
            f(&spilled)
        }
    }
}

/// Hashes the loop's own sequential request ids: one multiplication (SipHash, the
/// default, cost more than the rest of the bookkeeping of a pooled request).
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Sends the envelope (moved out of its frames: each one sent is left empty) and the
/// reply's frames.
pub(super) fn send_reply(zap: &mut zmq::Socket, envelope: &mut [Frame], reply: &ZapReply) {
    let mut sent = Ok(());
    for m in envelope {
        if sent.is_ok() {
            sent = m.send(zap, zmq::SNDMORE | zmq::DONTWAIT);
        }
    }
    let reply_frames = reply.frames();
    let last = reply_frames.len().saturating_sub(1);
    for (i, f) in reply_frames.iter().enumerate() {
        if sent.is_err() {
            break;
        }
        let more = if i < last { zmq::SNDMORE } else { 0 };
        sent = send_bytes(zap, f, more | zmq::DONTWAIT);
    }
    if let Err(e) = sent {
        zlog!(Warn, "ZAP reply not sent: {e}");
    }
}

/// Now plus `deadline`, or far in the future when that overflows (`Duration::MAX` means
/// "no deadline").
pub(super) fn deadline_after(deadline: Duration) -> Instant {
    saturating_after(Instant::now(), deadline)
}

/// The per-request step hooks (test builds may make a step panic), looked up once per
/// request: when none is armed, each step is a test of a register, with no call and no
/// load. Without the `test-hooks` feature it is empty and every step compiles away.
#[derive(Clone, Copy)]
pub(super) struct Steps {
    #[cfg(feature = "test-hooks")]
    armed: bool,
}

impl Steps {
    /// The hooks in force as a request starts.
    #[inline(always)]
    pub(super) fn now() -> Steps {
        Steps {
            #[cfg(feature = "test-hooks")]
            armed: crate::test_hooks::zap_armed(),
        }
    }

    /// Marks the start of a per-request step.
    #[inline(always)]
    pub(super) fn step(self, name: &'static str) {
        #[cfg(feature = "test-hooks")]
        if self.armed {
            crate::test_hooks::zap_step(name);
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = name;
    }
}

/// Should the loop end now as if it had failed? (Only a test hook says so.)
#[inline(always)]
pub(super) fn should_end() -> bool {
    #[cfg(feature = "test-hooks")]
    return crate::test_hooks::zap_loop_should_end();
    #[cfg(not(feature = "test-hooks"))]
    false
}

/// A per-request step panicked: an error log and a metric (the caller answers 500).
pub(super) fn request_panicked(step: &'static str) {
    crate::logging::contained(|| {
        zlog!(Error, "a ZAP request step panicked (a bug); replying 500");
        crate::metrics::request_panic(step);
    });
}

/// 500 for a request whose handling panicked, to the request id if there is one.
pub(super) fn internal_reply(body: &[&[u8]]) -> ZapReply {
    let request_id = body.get(1).copied().unwrap_or_default();
    ZapReply::new(
        request_id,
        StatusCode::InternalError,
        "Internal error",
        b"",
        None,
    )
}

/// Is this peer locked out now? (No clock read without a lock-out, or before its
/// first ban: the usual case is a load and a branch.)
pub(super) fn locked(table: &Option<Lockout>, address: &[u8], steps: Steps) -> bool {
    steps.step("lockout");
    table
        .as_ref()
        .is_some_and(|t| t.may_ban() && t.is_locked(address, Instant::now()))
}

/// Counts a refusal of credentials towards the peer's lock-out.
pub(super) fn note_failure(
    table: &mut Option<Lockout>,
    address: &[u8],
    reply: &ZapReply,
    steps: Steps,
) {
    steps.step("lockout");
    if let Some(t) = table {
        if policy::counts_as_failure(reply.status(), reply.status_text())
            && t.failed(address, Instant::now())
        {
            policy::report_lockout(address, t.settings());
        }
    }
}

/// A verdict that no longer borrows the request it came from.
pub(super) fn into_owned(v: Verdict<'_>) -> Verdict<'static> {
    use crate::policy::UserId;
    use std::borrow::Cow;
    Verdict {
        status: v.status,
        text: v.text,
        user_id: match v.user_id {
            UserId::Text(t) => UserId::Text(Cow::Owned(t.into_owned())),
            UserId::Z85(z) => UserId::Z85(z),
        },
        metadata: v.metadata,
    }
}

/// Sends `data` as one frame with a single libzmq call (`zmq_send` copies it into a new
/// message), skipping the `zmq::Message` round trip of `Socket::send(&[u8])`: about 6%
/// of the thread's instructions per CURVE request (callgrind).
pub(super) fn send_bytes(socket: &mut zmq::Socket, data: &[u8], flags: i32) -> zmq::Result<()> {
    // SAFETY: the socket pointer is valid while `socket` lives, and `data` is valid for
    // `data.len()` bytes; libzmq copies them before returning.
    let rc = unsafe {
        crate::ffi::zmq_send(socket.as_mut_ptr(), data.as_ptr().cast(), data.len(), flags)
    };
    if rc < 0 {
        // SAFETY: reads libzmq's thread-local errno.
        Err(zmq::Error::from_raw(unsafe { crate::ffi::zmq_errno() }))
    } else {
        Ok(())
    }
}
