//! The ZAP loop: answers each request from the current policy snapshot, hands slow
//! work to the pool and answers it when it comes back (or with 300 at its deadline),
//! and wakes on the control pipe. It never touches a file and never runs user code.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::pool::{self, Admission, Answer, Job, Pool, SHED_EVERY};
use super::shared::Shared;
use crate::policy::lockout::Lockout;
use crate::policy::{self, try_later, Asked, AuthEvent, Decision, Policy, SlowJob, Verdict};
use crate::zap::{split_envelope, ZapReply};
use crate::ZAP_ENDPOINT;

/// ZAP requests handled per wake-up before the control pipe is looked at again.
const BATCH: usize = 256;
/// Frames of a request whose slices are kept on the stack (a ZAP request has 6 to 8,
/// plus a 1- or 2-frame envelope); longer ones spill to the heap.
const INLINE_FRAMES: usize = 16;
/// Receive buffers of pooled requests kept for reuse.
const SPARE_BUFFERS: usize = 128;

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
    fn wanted(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    fn push(&self, ev: AuthEvent) {
        if let Err(TrySendError::Full(ev)) = self.tx.try_send(ev) {
            // Keep the newest: drop the oldest unread event.
            let _ = self.oldest.try_recv();
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = self.tx.try_send(ev);
        }
    }
}

/// A request waiting for the pool.
struct Pending {
    /// The request as it came: the ROUTER envelope (sent back as it came), then the
    /// body (to build the reply, or to re-decide it if the policy changed meanwhile).
    /// Moved out of the receive buffer, not copied.
    frames: Vec<zmq::Message>,
    envelope_len: usize,
    generation: u64,
    deadline: Instant,
}

impl Pending {
    /// Calls `f` with the body's frames (on the stack for any request of sane size).
    fn with_body<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
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
struct IdHasher(u64);

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

/// What to do with one received request.
enum Action {
    Reply(ZapReply, Option<AuthEvent>),
    Ask(SlowJob),
}

pub(super) struct ZapLoop {
    zap: zmq::Socket,
    pipe: zmq::Socket,
    shared: Arc<Shared>,
    policy: Arc<Policy>,
    generation: u64,
    pool: Pool,
    answers: Receiver<Answer>,
    pending: HashMap<u64, Pending, BuildHasherDefault<IdHasher>>,
    /// Receive buffers of answered pooled requests, to be reused (no allocation per
    /// pooled request once warm).
    spare: Vec<Vec<zmq::Message>>,
    /// Pending ids by deadline (deadlines are handed out in order, so this is sorted).
    order: VecDeque<(Instant, u64)>,
    next_id: u64,
    deadline: Duration,
    events: EventSink,
    /// Failures per peer address, when `limit_failures` is on.
    lockout: Option<Lockout>,
}

impl ZapLoop {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        zap: zmq::Socket,
        pipe: zmq::Socket,
        shared: Arc<Shared>,
        pool: Pool,
        answers: Receiver<Answer>,
        deadline: Duration,
        events: EventSink,
    ) -> ZapLoop {
        let (policy, generation) = shared.current();
        ZapLoop {
            zap,
            pipe,
            shared,
            policy,
            generation,
            pool,
            answers,
            pending: HashMap::default(),
            spare: Vec::new(),
            order: VecDeque::new(),
            next_id: 0,
            deadline,
            events,
            lockout: None,
        }
    }

    pub(super) fn run(mut self) {
        let mut frames: Vec<zmq::Message> = Vec::new();
        // More work may be waiting (a full batch was served, or answers came in after
        // the ZAP socket was drained): look again without polling. Answers from the pool
        // are on a channel; the pipe's wake-up byte is only needed to leave poll, so it
        // is re-armed (`woken`) only when the loop is about to sleep.
        let mut busy = false;
        loop {
            let timeout = self.poll_timeout();
            let (zap_ready, pipe_ready) = if busy {
                (true, false)
            } else {
                let mut items = [
                    self.zap.as_poll_item(zmq::POLLIN),
                    self.pipe.as_poll_item(zmq::POLLIN),
                ];
                match zmq::poll(&mut items, timeout) {
                    Ok(_) => {}
                    Err(zmq::Error::EINTR) => continue,
                    Err(e) => {
                        zlog!(Error, "poll failed, authenticator stops: {e}");
                        break;
                    }
                }
                (items[0].is_readable(), items[1].is_readable())
            };
            if pipe_ready {
                let mut msg = zmq::Message::new();
                while self.pipe.recv(&mut msg, zmq::DONTWAIT).is_ok() {}
            }
            if self.stopping() {
                break;
            }
            self.finish_answered();
            self.expire();
            self.shed_late();
            busy = false;
            if zap_ready {
                let mut served = 0;
                while served < BATCH && !self.stopping() && self.serve_one(&mut frames) {
                    served += 1;
                }
                busy = served == BATCH;
            }
            if !busy {
                // About to sleep: re-arm the wake-up, then look once more, since an
                // answer queued before re-arming sent no byte.
                self.shared.woken();
                busy = self.finish_answered();
            }
        }
        // Whoever still waits is told to come back, not left hanging.
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                self.reply_verdict(p, try_later());
            }
        }
    }

    /// Replies to every answer the pool has queued; true when there was one.
    fn finish_answered(&mut self) -> bool {
        let mut any = false;
        while let Ok(answer) = self.answers.try_recv() {
            self.finish(answer);
            any = true;
        }
        any
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    /// Milliseconds until the earliest deadline (-1: none).
    fn poll_timeout(&mut self) -> i64 {
        while let Some(&(_, id)) = self.order.front() {
            if self.pending.contains_key(&id) {
                break;
            }
            self.order.pop_front();
        }
        // While jobs wait for the pool, look now and then for ones that can no longer
        // make their deadline (answered 300 early, not at the deadline).
        let shed = self.pool.has_waiting().then_some(SHED_EVERY);
        match (self.order.front(), shed) {
            (None, None) => -1,
            (None, Some(every)) => i64::try_from(every.as_millis()).unwrap_or(i64::MAX),
            (Some(&(deadline, _)), shed) => {
                let mut left = deadline.saturating_duration_since(Instant::now());
                if let Some(every) = shed {
                    left = left.min(every);
                }
                // Round up: waking a little late is fine, spinning early is not.
                i64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i64::MAX)
            }
        }
    }

    /// Answers 300 to every request whose slow work missed its deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, id)) = self.order.front() {
            if deadline > now {
                break;
            }
            self.order.pop_front();
            if let Some(p) = self.pending.remove(&id) {
                zlog!(
                    Warn,
                    "slow answer (callback, store or hash check) missed its deadline; replying 300"
                );
                crate::metrics::late("deadline");
                self.reply_verdict(p, try_later());
            }
        }
    }

    /// Answers 300 now to the requests whose jobs the pool took back because they can
    /// no longer be answered before their deadline, and to those that shared them.
    fn shed_late(&mut self) {
        if !self.pool.has_waiting() {
            return;
        }
        let mut late = Vec::new();
        self.pool.shed(&mut late);
        for id in late {
            let mut ids = self.pool.answered(id);
            ids.push(id);
            for id in ids {
                if let Some(p) = self.pending.remove(&id) {
                    zlog!(
                        Warn,
                        "slow answer (callback, store or hash check) cannot come before its deadline; replying 300"
                    );
                    crate::metrics::late("deadline");
                    self.reply_verdict(p, try_later());
                }
            }
        }
    }

    fn refresh_policy(&mut self) {
        if self.shared.generation() != self.generation {
            let (policy, generation) = self.shared.current();
            self.policy = policy;
            self.generation = generation;
            // The table outlives snapshots; only its settings follow them.
            match (self.policy.lockout, &mut self.lockout) {
                (None, table) => *table = None,
                (Some(s), Some(t)) => t.set(s),
                (Some(s), table) => *table = Some(Lockout::new(s)),
            }
        }
    }

    /// A slow answer came back: it answers its request and those that shared it.
    fn finish(&mut self, answer: Answer) {
        for id in self.pool.answered(answer.id) {
            let verdict = pool::share(&answer.verdict);
            self.finish_one(Answer { id, verdict });
        }
        self.finish_one(answer);
    }

    /// Replies with a slow answer, unless the policy changed since the request was
    /// decided, in which case it is decided again by the new one.
    fn finish_one(&mut self, answer: Answer) {
        let Some(p) = self.pending.remove(&answer.id) else {
            return; // already answered 300
        };
        self.refresh_policy();
        if p.generation == self.generation {
            self.reply_verdict(p, answer.verdict);
            return;
        }
        let policy = Arc::clone(&self.policy);
        let decision = p.with_body(|body| match policy::parse(body) {
            Ok((req, mechanism)) => match policy.decide(&req, mechanism) {
                Decision::Done(v) => Ok(into_owned(v)),
                Decision::Ask(job) => Err(job),
            },
            Err(_) => Ok(crate::policy::internal()),
        });
        match decision {
            Ok(v) => self.reply_verdict(p, v),
            Err(job) => {
                let deadline = p.deadline;
                self.dispatch(p.frames, p.envelope_len, job, deadline);
            }
        }
    }

    fn dispatch(
        &mut self,
        frames: Vec<zmq::Message>,
        envelope_len: usize,
        work: SlowJob,
        deadline: Instant,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let pending = Pending {
            frames,
            envelope_len,
            generation: self.generation,
            deadline,
        };
        match self
            .pool
            .submit(Job { id, deadline, work }, self.generation)
        {
            Admission::Queued | Admission::Joined => {
                self.pending.insert(id, pending);
                // Usually the latest deadline; a re-decided request keeps its older one.
                let at = self.order.partition_point(|&(d, _)| d <= deadline);
                self.order.insert(at, (deadline, id));
            }
            Admission::Late => {
                zlog!(
                    Warn,
                    "slow answer cannot come before its deadline (the source is busy); replying 300"
                );
                crate::metrics::late("deadline");
                self.reply_verdict(pending, try_later());
            }
            Admission::Full => {
                zlog!(Warn, "too many requests wait for the pool; replying 300");
                crate::metrics::late("saturated");
                self.reply_verdict(pending, try_later());
            }
        }
    }

    fn reply_verdict(&mut self, mut p: Pending, verdict: Verdict<'_>) {
        let want = self.events.wanted();
        let lockout = &mut self.lockout;
        let (reply, event) = p.with_body(|body| match policy::parse(body) {
            Ok((req, mechanism)) => {
                // A ban that started while this request was on the pool applies to it:
                // guesses sent in parallel must not outrun the lock-out.
                let verdict = if locked(lockout, req.address) {
                    policy::deny(policy::TOO_MANY_FAILURES)
                } else {
                    verdict
                };
                let out = Asked::of(&req, mechanism).answer(verdict, want);
                note_failure(lockout, req.address, &out.0);
                out
            }
            Err(reply) => (reply, None),
        });
        if let Some(ev) = event {
            self.events.push(ev);
        }
        let envelope_len = p.envelope_len;
        let envelope = p.frames[..envelope_len]
            .iter_mut()
            .map(|slot| std::mem::replace(slot, zmq::Message::new()));
        send_reply(&mut self.zap, envelope, &reply);
        // Keep the buffer for a later pooled request; its body messages are closed
        // when received into again. A few suffice to stay warm.
        if self.spare.len() < SPARE_BUFFERS && p.frames.len() <= INLINE_FRAMES {
            for m in &mut p.frames[envelope_len..] {
                *m = zmq::Message::new();
            }
            self.spare.push(p.frames);
        }
    }

    /// Receives and answers (or hands out) one request; false when none is waiting.
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
        self.refresh_policy();
        let (envelope_len, action) = {
            // Each frame's bytes are looked up once, into a stack array for any request
            // of sane size: nothing is allocated here. The routing id is only ever sent
            // back as it came, so its bytes are not looked up.
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
            let action = match policy::parse(body) {
                Err(reply) => Action::Reply(reply, None),
                Ok((req, mechanism)) if locked(&self.lockout, req.address) => {
                    // Refused without looking at the credentials.
                    let v = policy::deny(policy::TOO_MANY_FAILURES);
                    let (reply, ev) = Asked::of(&req, mechanism).answer(v, self.events.wanted());
                    Action::Reply(reply, ev)
                }
                Ok((req, mechanism)) => match self.policy.decide(&req, mechanism) {
                    Decision::Done(v) => {
                        let (reply, ev) =
                            Asked::of(&req, mechanism).answer(v, self.events.wanted());
                        note_failure(&mut self.lockout, req.address, &reply);
                        Action::Reply(reply, ev)
                    }
                    Decision::Ask(job) => Action::Ask(job),
                },
            };
            (envelope.len(), action)
        };
        match action {
            Action::Reply(reply, event) => {
                if let Some(ev) = event {
                    self.events.push(ev);
                }
                let envelope = frames[..envelope_len]
                    .iter_mut()
                    .map(|slot| std::mem::replace(slot, zmq::Message::new()));
                send_reply(&mut self.zap, envelope, &reply);
            }
            Action::Ask(job) => {
                // The request's messages move to the pending entry as they are; the
                // receive buffer is replaced by a spare one.
                let mut request = std::mem::replace(frames, self.spare.pop().unwrap_or_default());
                request.truncate(n);
                let deadline = deadline_after(self.deadline);
                self.dispatch(request, envelope_len, job, deadline);
            }
        }
        // A request of absurdly many frames must not keep its messages alive.
        frames.truncate(INLINE_FRAMES);
        true
    }
}

/// Sends the envelope (moved) and the reply's frames.
fn send_reply(
    zap: &mut zmq::Socket,
    envelope: impl Iterator<Item = zmq::Message>,
    reply: &ZapReply,
) {
    let mut sent = Ok(());
    for m in envelope {
        if sent.is_ok() {
            sent = zap.send(m, zmq::SNDMORE | zmq::DONTWAIT);
        }
    }
    let reply_frames = reply.frames();
    let last = reply_frames.len() - 1;
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
fn deadline_after(deadline: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(deadline)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Is this peer locked out now? (No clock read without a lock-out.)
fn locked(table: &Option<Lockout>, address: &[u8]) -> bool {
    table
        .as_ref()
        .is_some_and(|t| t.is_locked(address, Instant::now()))
}

/// Counts a refusal of credentials towards the peer's lock-out.
fn note_failure(table: &mut Option<Lockout>, address: &[u8], reply: &ZapReply) {
    if let Some(t) = table {
        if policy::counts_as_failure(reply.status(), reply.status_text())
            && t.failed(address, Instant::now())
        {
            policy::report_lockout(address, t.settings());
        }
    }
}

/// A verdict that no longer borrows the request it came from.
fn into_owned(v: Verdict<'_>) -> Verdict<'static> {
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

impl Drop for ZapLoop {
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
