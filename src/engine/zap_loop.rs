//! The ZAP loop: answers each request from the current policy snapshot, hands slow
//! work to the pool and answers it when it comes back (or with 300 at its deadline),
//! and wakes on the control pipe. It never touches a file and never runs user code.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::hash::BuildHasherDefault;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::frame::Frame;
use super::pool::{self, Admission, Answer, Job, Pool, SHED_EVERY};
use super::shared::Shared;
use super::zap_parts::{
    deadline_after, internal_reply, into_owned, locked, note_failure, request_panicked, send_reply,
    should_end, EventSink, IdHasher, Pending, Steps,
};
use crate::policy::lockout::Lockout;
use crate::policy::{self, try_later, Asked, AuthEvent, Decision, Policy, SlowJob, Verdict};
use crate::zap::{split_envelope, ZapReply};
use crate::ZAP_ENDPOINT;

/// ZAP requests handled per wake-up before the control pipe is looked at again.
const BATCH: usize = 256;
/// Frames of a request whose slices are kept on the stack (a ZAP request has 6 to 8,
/// plus a 1- or 2-frame envelope); longer ones spill to the heap.
pub(super) const INLINE_FRAMES: usize = 16;
/// Receive buffers of pooled requests kept for reuse.
const SPARE_BUFFERS: usize = 128;

/// How one wake-up of the loop ended.
enum Turn {
    Again,
    Stop,
    /// The loop cannot go on (why).
    Failed(String),
}

/// Turns of the loop that may panic in a row before it gives up (and says so): a bug
/// that hits every turn would otherwise spin a core writing error logs.
const PANICS_IN_A_ROW: u32 = 1000;

/// What to do with one received request.
enum Action {
    Reply(ZapReply, Option<Box<AuthEvent>>),
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
    spare: Vec<Vec<Frame>>,
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

    /// Serves until `stop`. Nothing else ends it (DESIGN.md §5 rule 9): each request's
    /// steps are isolated (a panic answers that request 500), and a panic outside them
    /// costs that turn of the loop only. Should it end anyway (libzmq's poll fails, or
    /// turns keep panicking), that is an error log, an event, a metric and
    /// `is_alive() == false`.
    pub(super) fn run(mut self) {
        let mut frames: Vec<Frame> = Vec::new();
        let mut ahead: Vec<Frame> = Vec::new();
        let mut busy = false;
        let mut panics_in_a_row = 0u32;
        // Every cached look-up here leads to a decision on this thread, which counts
        // the hit with it (one look-up of the metric handles per request, not two).
        crate::metrics::defer_cache_hits();
        let failure = loop {
            match catch_unwind(AssertUnwindSafe(|| {
                self.turn(&mut frames, &mut ahead, &mut busy)
            })) {
                Ok(Turn::Again) => panics_in_a_row = 0,
                Ok(Turn::Stop) => break None,
                Ok(Turn::Failed(why)) => break Some(why),
                Err(_) => {
                    panics_in_a_row = panics_in_a_row.saturating_add(1);
                    crate::logging::contained(|| {
                        zlog!(Error, "the ZAP loop panicked (a bug); it goes on");
                        crate::metrics::request_panic("loop");
                    });
                    busy = false;
                    if panics_in_a_row >= PANICS_IN_A_ROW {
                        break Some(format!("it panicked {PANICS_IN_A_ROW} times in a row"));
                    }
                }
            }
        };
        // Whoever still waits is told to come back, not left hanging.
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                self.reply_verdict(p, try_later());
            }
        }
        crate::metrics::flush_cache_hits();
        if let Some(why) = failure {
            self.report_exit(&why);
        }
    }

    /// One wake-up of the loop.
    fn turn(&mut self, frames: &mut Vec<Frame>, ahead: &mut Vec<Frame>, busy: &mut bool) -> Turn {
        // More work may be waiting (a full batch was served, or answers came in after
        // the ZAP socket was drained): look again without polling. Answers from the pool
        // are on a channel; the pipe's wake-up byte is only needed to leave poll, so it
        // is re-armed (`woken`) only when the loop is about to sleep.
        let timeout = self.poll_timeout();
        let (zap_ready, pipe_ready) = if *busy {
            (true, false)
        } else {
            let mut items = [
                self.zap.as_poll_item(zmq::POLLIN),
                self.pipe.as_poll_item(zmq::POLLIN),
            ];
            match zmq::poll(&mut items, timeout) {
                Ok(_) => {}
                Err(zmq::Error::EINTR) => return Turn::Again,
                Err(e) => return Turn::Failed(format!("poll failed: {e}")),
            }
            (items[0].is_readable(), items[1].is_readable())
        };
        if pipe_ready {
            let mut msg = zmq::Message::new();
            while self.pipe.recv(&mut msg, zmq::DONTWAIT).is_ok() {}
        }
        if self.stopping() {
            return Turn::Stop;
        }
        if should_end() {
            return Turn::Failed("ended by a test hook".to_string());
        }
        self.finish_answered();
        self.expire();
        self.shed_late();
        *busy = false;
        if zap_ready {
            *busy = self.serve_batch(frames, ahead) == BATCH;
            // The request meant to wake the loop after the hook was set may have been
            // served in this batch: then no wake-up follows, so look here too.
            if should_end() {
                return Turn::Failed("ended by a test hook".to_string());
            }
        }
        if !*busy {
            // About to sleep: re-arm the wake-up, then look once more, since an
            // answer queued before re-arming sent no byte.
            self.shared.woken();
            *busy = self.finish_answered();
        }
        Turn::Again
    }

    /// The loop ended other than by `stop`: say so every way there is.
    fn report_exit(&self, why: &str) {
        // Pushed first, and even when nobody asked for events yet: a later reader sees
        // it whatever the logger and the recorder do (this runs while unwinding too).
        crate::logging::contained(|| self.events.push(AuthEvent::handler_exited(), Steps::now()));
        crate::logging::contained(|| {
            zlog!(
                Error,
                "the ZAP thread ends unexpectedly ({why}); until a new authenticator starts, libzmq authenticates nobody"
            );
            crate::metrics::zap_thread_exit();
        });
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
        self.shared.stopping()
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
            let old = std::mem::replace(&mut self.policy, policy);
            self.shared.retire(old);
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
        let steps = Steps::now();
        let decision = catch_unwind(AssertUnwindSafe(|| {
            p.with_body(|body| {
                steps.step("parse");
                match policy::parse(body) {
                    Ok((req, mechanism)) => {
                        steps.step("decide");
                        match policy.decide(&req, mechanism) {
                            Decision::Done(v) => Ok(into_owned(v)),
                            Decision::Ask(job) => Err(job),
                        }
                    }
                    Err(_) => Ok(crate::policy::internal()),
                }
            })
        }))
        .unwrap_or_else(|_| {
            request_panicked("pooled");
            Ok(crate::policy::internal())
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
        frames: Vec<Frame>,
        envelope_len: usize,
        work: SlowJob,
        deadline: Instant,
    ) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
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

    /// Answers a pooled request. Its steps are isolated: a panic answers it 500.
    fn reply_verdict(&mut self, mut p: Pending, verdict: Verdict<'_>) {
        let want = self.events.wanted();
        let (lockout, events) = (&mut self.lockout, &self.events);
        let steps = Steps::now();
        let decided = catch_unwind(AssertUnwindSafe(|| {
            p.with_body(|body| {
                steps.step("pooled-parse");
                match policy::parse(body) {
                    Ok((req, mechanism)) => {
                        steps.step("pooled-lockout");
                        // A ban that started while this request was on the pool applies
                        // to it: guesses sent in parallel must not outrun the lock-out.
                        let verdict = if locked(lockout, req.address, steps) {
                            policy::deny(policy::TOO_MANY_FAILURES)
                        } else {
                            verdict
                        };
                        steps.step("answer");
                        let (reply, event) =
                            Asked::from_libzmq(&req, mechanism).answer(verdict, want);
                        note_failure(lockout, req.address, &reply, steps);
                        if let Some(ev) = event {
                            events.push(*ev, steps);
                        }
                        reply
                    }
                    Err(reply) => reply,
                }
            })
        }));
        let envelope_len = p.envelope_len;
        match decided {
            Ok(reply) => {
                let sent = catch_unwind(AssertUnwindSafe(|| {
                    steps.step("reply");
                    send_reply(&mut self.zap, &mut p.frames[..envelope_len], &reply);
                }));
                if sent.is_err() {
                    self.answer_after_panic("pooled", &mut p.frames, envelope_len);
                }
            }
            Err(_) => self.answer_after_panic("pooled", &mut p.frames, envelope_len),
        }
        // Keep the buffer for a later pooled request; its body messages are closed
        // when received into again. A few suffice to stay warm.
        if self.spare.len() < SPARE_BUFFERS && p.frames.len() <= INLINE_FRAMES {
            for m in p.frames.iter_mut().skip(envelope_len) {
                *m = Frame::new();
            }
            self.spare.push(p.frames);
        }
    }

    /// A step of this request panicked (a bug of ours): answer it 500 and go on. The
    /// frames are the request as received (`envelope_len` of them the envelope; an
    /// envelope already sent is empty and routes nowhere, which drops the reply).
    fn answer_after_panic(
        &mut self,
        step: &'static str,
        frames: &mut [Frame],
        envelope_len: usize,
    ) {
        request_panicked(step);
        let answered = catch_unwind(AssertUnwindSafe(|| {
            let envelope_len = envelope_len.min(frames.len());
            let reply = {
                let body: Vec<&[u8]> = frames[envelope_len..].iter().map(|m| &m[..]).collect();
                internal_reply(&body)
            };
            send_reply(&mut self.zap, &mut frames[..envelope_len], &reply);
        }));
        if answered.is_err() {
            crate::logging::contained(|| {
                zlog!(
                    Error,
                    "answering 500 after a panic panicked too; that request goes unanswered"
                );
            });
        }
    }

    /// Receives one request into `frames`; its number of frames, 0 when none is waiting.
    ///
    /// `frames` keeps its messages from one request to the next: receiving into a
    /// message closes its old content, so the hot path creates and drops no message
    /// except the envelope, which goes back to libzmq as it came (moved, not copied).
    fn receive(&mut self, frames: &mut Vec<Frame>) -> usize {
        let mut n = 0;
        loop {
            if n == frames.len() {
                frames.push(Frame::new());
            }
            if let Err(e) = frames[n].recv(&mut self.zap, zmq::DONTWAIT) {
                if e != zmq::Error::EAGAIN {
                    zlog!(Warn, "ZAP receive failed: {e}");
                }
                // EAGAIN mid-message cannot happen (messages arrive whole).
                return 0;
            }
            let more = frames[n].more();
            n = n.saturating_add(1);
            if !more {
                return n;
            }
        }
    }

    /// Answers (or hands out) the request of `n` frames received into `frames`.
    fn serve(&mut self, frames: &mut Vec<Frame>, n: usize) {
        // Every step of this request is isolated: a panic answers it 500 and the loop
        // goes on (DESIGN.md §5 rule 9).
        let handled = catch_unwind(AssertUnwindSafe(|| self.handle(frames, n)));
        if handled.is_err() {
            let n = n.min(frames.len());
            let envelope_len = {
                let all: Vec<&[u8]> = frames[..n].iter().map(|m| &m[..]).collect();
                split_envelope(&all).0.len()
            };
            self.answer_after_panic("request", &mut frames[..n], envelope_len);
        }
        // A request of absurdly many frames must not keep its messages alive.
        frames.truncate(INLINE_FRAMES);
    }

    /// Serves up to [`BATCH`] waiting requests; how many.
    ///
    /// Each request is received one ahead of the one being answered, and the table line
    /// its CURVE key will be looked up in is fetched meanwhile: in a table of many keys,
    /// that look-up would otherwise wait for memory on every request. The request
    /// received ahead is always served, also when the batch ends.
    fn serve_batch(&mut self, frames: &mut Vec<Frame>, ahead: &mut Vec<Frame>) -> usize {
        let mut served: usize = 0;
        let mut n = self.receive(frames);
        while n > 0 {
            served = served.saturating_add(1);
            let next = if served < BATCH && !self.stopping() {
                self.receive(ahead)
            } else {
                0
            };
            if next > 0 {
                // Two requests are held here: nothing may unwind past them unanswered.
                let policy = &self.policy;
                let hinted = catch_unwind(AssertUnwindSafe(|| prefetch(policy, &ahead[..next])));
                if hinted.is_err() {
                    crate::logging::contained(|| {
                        zlog!(
                            Error,
                            "a hint ahead of a ZAP request panicked (a bug); it is served as usual"
                        );
                        crate::metrics::request_panic("prefetch");
                    });
                }
            }
            self.serve(frames, n);
            std::mem::swap(frames, ahead);
            n = next;
        }
        served
    }

    /// Answers (or hands out) the request of `n` frames just received into `frames`.
    fn handle(&mut self, frames: &mut Vec<Frame>, n: usize) {
        let steps = Steps::now();
        self.refresh_policy();
        let (envelope_len, action) = {
            // Each frame's bytes are looked up once, into a stack array for any request
            // of sane size: nothing is allocated here. The routing id is only ever sent
            // back as it came, so its bytes are not looked up.
            let mut inline: [&[u8]; INLINE_FRAMES] = [b"routing id"; INLINE_FRAMES];
            let spilled: Vec<&[u8]>;
            let all: &[&[u8]] = if n <= INLINE_FRAMES {
                // Each side skips the routing id itself: skipping on the zipped pair
                // went through `Zip::nth`, out of line (~30 instructions per request).
                let received = frames[..n].iter().skip(1);
                for (slot, m) in inline.iter_mut().skip(1).zip(received) {
                    *slot = &m[..];
                }
                &inline[..n]
            } else {
                spilled = frames[..n].iter().map(|m| &m[..]).collect();
                &spilled
            };
            let (envelope, body) = split_envelope(all);
            steps.step("parse");
            let action = match policy::parse(body) {
                Err(reply) => Action::Reply(reply, None),
                Ok((req, mechanism)) if locked(&self.lockout, req.address, steps) => {
                    // Refused without looking at the credentials.
                    let v = policy::deny(policy::TOO_MANY_FAILURES);
                    steps.step("answer");
                    let (reply, ev) =
                        Asked::from_libzmq(&req, mechanism).answer(v, self.events.wanted());
                    Action::Reply(reply, ev)
                }
                Ok((req, mechanism)) => {
                    steps.step("decide");
                    match self.policy.decide(&req, mechanism) {
                        Decision::Done(v) => {
                            steps.step("answer");
                            let (reply, ev) =
                                Asked::from_libzmq(&req, mechanism).answer(v, self.events.wanted());
                            note_failure(&mut self.lockout, req.address, &reply, steps);
                            Action::Reply(reply, ev)
                        }
                        Decision::Ask(job) => Action::Ask(job),
                    }
                }
            };
            (envelope.len(), action)
        };
        match action {
            Action::Reply(reply, event) => {
                if let Some(ev) = event {
                    self.events.push(*ev, steps);
                }
                steps.step("reply");
                send_reply(&mut self.zap, &mut frames[..envelope_len], &reply);
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
    }
}

/// A hint for a request received ahead (see [`ZapLoop::serve_batch`]), when the policy
/// has a large key table: a CURVE request as libzmq sends it is a routing id, an empty
/// delimiter and seven body frames, the last two the mechanism and the 32-byte key.
/// Anything else (or a malformed request) is simply not hinted.
#[inline]
fn prefetch(policy: &Policy, frames: &[Frame]) {
    #[cfg(feature = "test-hooks")]
    if crate::test_hooks::zap_armed() {
        crate::test_hooks::zap_step("prefetch");
    }
    if !policy.hints_ahead() {
        return;
    }
    // Exactly an envelope of two and seven body frames: a PLAIN request (eight) never
    // has its password taken for a key.
    if let [_, _, _, _, domain, _, _, mechanism, key] = frames {
        if &mechanism[..] == b"CURVE" {
            if let Ok(key) = <&[u8; 32]>::try_from(&key[..]) {
                policy.prefetch_curve(key, || &domain[..]);
            }
        }
    }
}

impl Drop for ZapLoop {
    fn drop(&mut self) {
        // `run` catches every panic of a turn; one that escapes anyway (while answering
        // the last waiting requests) is an unexpected exit too.
        if std::thread::panicking() {
            self.report_exit("it panicked");
        }
        // Unbind explicitly, also when the loop ended by a panic: a closed socket's
        // inproc endpoint is not always freed at once while handshakes are attached,
        // and a restart on this context would then fail.
        if let Ok(ep) = CString::new(ZAP_ENDPOINT) {
            // SAFETY: the socket pointer is valid while `self.zap` lives; `ep` is NUL-terminated.
            unsafe {
                crate::ffi::zmq_unbind(self.zap.as_mut_ptr(), ep.as_ptr());
            }
        }
    }
}
