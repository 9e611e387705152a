//! The pool that runs slow answers (user code, store look-ups, argon2id checks) for the
//! ZAP loop, so that the loop itself never waits on them (DESIGN.md §5 rules 6 and 10).
//!
//! - **Bulkheads.** Each source — one credentials provider, one store, or the argon2id
//!   checks of files and maps — has its own queue and at most `size` threads of its
//!   own, started when work comes and ended after a while idle. A source that hangs
//!   holds only its own threads; every other source is served meanwhile.
//! - **Admission by time.** A job waits as long as it can still be answered before its
//!   deadline, estimated from the source's recent answer times and the jobs ahead of it;
//!   one that cannot is refused at once (300), and queued ones that can no longer make
//!   it are taken back and answered 300 early. Only [`max_waiting`] bounds the count.
//! - **Coalescing.** A CURVE ask (callback or store look-up) for a (source, domain, key)
//!   that is already in flight waits for that answer instead of asking again.
//!
//! The ZAP loop owns the [`Pool`] and is its only caller; the threads share only the
//! per-source queues.
//!
//! [`max_waiting`]: crate::EngineOptions::max_waiting

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use super::shared::Shared;
use crate::error::Result;
use crate::hash::KeyHash;
use crate::policy::{try_later, SlowJob, UserId, Verdict};

/// A source's thread that found no work for this long ends (started again on demand).
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// A job running this long counts as evidence of the source's answer time even before
/// it returns (a hung source has no finished jobs to learn from); shorter runs are
/// scheduling noise, not a trend.
const SLOW_FLOOR: Duration = Duration::from_millis(250);
/// While jobs wait, the loop looks this often for ones that can no longer make it.
pub(super) const SHED_EVERY: Duration = Duration::from_millis(50);
/// Sources kept without threads or work before the idle ones are forgotten.
const LANES_KEPT: usize = 64;

/// Slow work for one request.
pub(super) struct Job {
    pub(super) id: u64,
    pub(super) deadline: Instant,
    pub(super) work: SlowJob,
}

/// Its answer (300 when the job was not run: its deadline had passed).
pub(super) struct Answer {
    pub(super) id: u64,
    pub(super) verdict: Verdict<'static>,
}

/// What became of a submitted job.
pub(super) enum Admission {
    /// Queued; its answer will come.
    Queued,
    /// An equal ask is in flight; its answer will be shared.
    Joined,
    /// It cannot be answered before its deadline: answer 300 now.
    Late,
    /// The memory bound is reached: answer 300 now.
    Full,
}

#[derive(Default)]
struct Slot {
    alive: bool,
    /// When its current job started (`None`: idle).
    started: Option<Instant>,
}

struct LaneState {
    queue: VecDeque<Job>,
    /// One per thread the source may hold.
    slots: Vec<Slot>,
    /// The pool is gone: threads end.
    closed: bool,
}

impl LaneState {
    /// How long from `now` until a job with `ahead` jobs queued before it is answered
    /// (zero when a thread is free for it).
    fn estimate(&self, ahead: usize, mean: Duration, now: Instant) -> Duration {
        let size = self.slots.len().max(1);
        let mut busy = 0usize;
        let mut youngest: Option<Duration> = None;
        for started in self.slots.iter().filter_map(|s| s.started) {
            busy = busy.saturating_add(1);
            let age = now.saturating_duration_since(started);
            youngest = Some(youngest.map_or(age, |y| y.min(age)));
        }
        let free = size.saturating_sub(busy);
        let mut per_job = mean;
        // Every thread is taken and the quickest has run for long: the source is slow
        // now, whatever it was before.
        if let (0, Some(age)) = (free, youngest) {
            if age >= SLOW_FLOOR {
                per_job = per_job.max(age);
            }
        }
        // Rounds of `size` jobs that must end before this one starts, then its own.
        let rounds = match ahead.checked_sub(free) {
            // A thread is free: it starts now and is always tried (its deadline still
            // bounds it). Refusing it on a stale estimate would leave no job to learn
            // that the source is fast again.
            None => return Duration::ZERO,
            Some(behind) => behind.checked_div(size).unwrap_or(behind).saturating_add(1),
        };
        per_job.saturating_mul(u32::try_from(rounds.saturating_add(1)).unwrap_or(u32::MAX))
    }
}

/// One source's queue and threads.
struct Lane {
    state: Mutex<LaneState>,
    ready: Condvar,
    /// Recent answer time in ns (a moving mean; 0: none yet).
    mean_ns: AtomicU64,
}

impl Lane {
    fn mean(&self) -> Duration {
        Duration::from_nanos(self.mean_ns.load(Ordering::Relaxed))
    }

    fn learn(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.mean_ns.load(Ordering::Relaxed);
        // A lost update between two threads only makes the mean a little staler.
        let new = if old == 0 {
            sample
        } else {
            old.saturating_sub(old / 8).saturating_add(sample / 8)
        };
        self.mean_ns.store(new.max(1), Ordering::Relaxed);
    }
}

/// A CURVE ask: (source, domain, key); the domain is shared by both maps (one copy).
type Ask = (usize, Arc<str>, [u8; 32]);

/// Hashes our own words (request ids, source addresses): one multiplication. SipHash,
/// the default, cost about 2,000 instructions per pooled request here (callgrind).
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

type Words = BuildHasherDefault<WordHasher>;

pub(super) struct Pool {
    size: usize,
    max_waiting: usize,
    shared: Arc<Shared>,
    answers: Sender<Answer>,
    lanes: HashMap<usize, Arc<Lane>, Words>,
    /// Jobs queued in all lanes (not yet started).
    waiting: Arc<AtomicUsize>,
    /// Asks in flight: their leader's id and the policy generation it was decided by.
    /// (Keys come from libzmq after a CURVE handshake: a peer holds the secret of each
    /// key it sends, so it cannot aim keys at the seeded hash.)
    in_flight: HashMap<Ask, (u64, u64), KeyHash>,
    /// Per leader: its ask and the requests waiting for its answer.
    leaders: HashMap<u64, (Ask, Vec<u64>), Words>,
    /// No look for late jobs before this (the loop asks on every wake-up).
    next_shed: Option<Instant>,
    /// Requests waiting for a leader's answer (they count towards the memory bound).
    followers: usize,
}

impl Pool {
    /// A pool of up to `size` threads per source and `max_waiting` waiting jobs; threads
    /// start when work comes and end when the pool is dropped and their job returns.
    pub(super) fn start(
        size: usize,
        max_waiting: usize,
        shared: &Arc<Shared>,
        answers: Sender<Answer>,
    ) -> Result<Pool> {
        Ok(Pool {
            size: size.max(1),
            max_waiting: max_waiting.max(1),
            shared: Arc::clone(shared),
            answers,
            lanes: HashMap::default(),
            waiting: Arc::new(AtomicUsize::new(0)),
            in_flight: HashMap::default(),
            leaders: HashMap::default(),
            next_shed: None,
            followers: 0,
        })
    }

    /// Are jobs waiting for a thread (the loop then sheds late ones now and then)?
    pub(super) fn has_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Queues a job decided by policy `generation`, joins an equal ask in flight, or
    /// says why it must be answered 300 now.
    pub(super) fn submit(&mut self, job: Job, generation: u64) -> Admission {
        let source = job.work.source();
        let ask = job
            .work
            .asks()
            .map(|(d, k)| (source, Arc::<str>::from(d), *k));
        if let Some(ask) = &ask {
            if let Some(&(leader, g)) = self.in_flight.get(ask) {
                if let (true, Some((_, waiting))) = (g == generation, self.leaders.get_mut(&leader))
                {
                    waiting.push(job.id);
                    self.followers = self.followers.saturating_add(1);
                    return Admission::Joined;
                }
            }
        }
        let waiting = self.waiting.load(Ordering::Relaxed);
        if waiting.saturating_add(self.followers) >= self.max_waiting {
            return Admission::Full;
        }
        let lane = self.lane(source);
        let now = Instant::now();
        let id = job.id;
        {
            let mut st = lane.state.lock();
            let left = job.deadline.saturating_duration_since(now);
            if st.estimate(st.queue.len(), lane.mean(), now) > left {
                return Admission::Late;
            }
            st.queue.push_back(job);
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let idle = st
                .slots
                .iter()
                .filter(|s| s.alive && s.started.is_none())
                .count();
            if idle < st.queue.len() {
                if let Some(i) = st.slots.iter().position(|s| !s.alive) {
                    if self.spawn(&lane, i) {
                        st.slots[i].alive = true;
                    } else if !st.slots.iter().any(|s| s.alive) {
                        // No thread at all for it: refuse rather than wait for nobody.
                        st.queue.pop_back();
                        self.waiting.fetch_sub(1, Ordering::Relaxed);
                        return Admission::Full;
                    }
                }
            }
        }
        lane.ready.notify_one();
        if let Some(ask) = ask {
            self.in_flight.insert(ask.clone(), (id, generation));
            self.leaders.insert(id, (ask, Vec::new()));
        }
        Admission::Queued
    }

    /// The job `id` is answered (or given up): the requests that waited for its answer.
    pub(super) fn answered(&mut self, id: u64) -> Vec<u64> {
        let Some((ask, waiting)) = self.leaders.remove(&id) else {
            return Vec::new();
        };
        if self
            .in_flight
            .get(&ask)
            .is_some_and(|&(leader, _)| leader == id)
        {
            self.in_flight.remove(&ask);
        }
        self.followers = self.followers.saturating_sub(waiting.len());
        waiting
    }

    /// Takes back queued jobs that can no longer be answered before their deadline (the
    /// last queued first) and adds their ids to `late`.
    pub(super) fn shed(&mut self, late: &mut Vec<u64>) {
        if !self.has_waiting() {
            return;
        }
        let now = Instant::now();
        if self.next_shed.is_some_and(|at| now < at) {
            return;
        }
        self.next_shed = now.checked_add(SHED_EVERY);
        for lane in self.lanes.values() {
            let mut st = lane.state.lock();
            let mean = lane.mean();
            while let Some(last) = st.queue.back() {
                let ahead = st.queue.len().saturating_sub(1);
                let left = last.deadline.saturating_duration_since(now);
                if st.estimate(ahead, mean, now) <= left {
                    break;
                }
                if let Some(job) = st.queue.pop_back() {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    late.push(job.id);
                }
            }
        }
    }

    /// The source's lane, made when first needed.
    fn lane(&mut self, source: usize) -> Arc<Lane> {
        if let Some(lane) = self.lanes.get(&source) {
            return Arc::clone(lane);
        }
        if self.lanes.len() >= LANES_KEPT {
            // Sources of replaced configurations: forget those with nothing left.
            self.lanes.retain(|_, lane| {
                let st = lane.state.lock();
                !st.queue.is_empty() || st.slots.iter().any(|s| s.alive)
            });
        }
        let lane = Arc::new(Lane {
            state: Mutex::new(LaneState {
                queue: VecDeque::new(),
                slots: (0..self.size).map(|_| Slot::default()).collect(),
                closed: false,
            }),
            ready: Condvar::new(),
            mean_ns: AtomicU64::new(0),
        });
        self.lanes.insert(source, Arc::clone(&lane));
        lane
    }

    /// Starts the thread of `slot` (called with the lane locked); false if it could not.
    fn spawn(&self, lane: &Arc<Lane>, slot: usize) -> bool {
        let lane = Arc::clone(lane);
        let answers = self.answers.clone();
        let shared = Arc::clone(&self.shared);
        let waiting = Arc::clone(&self.waiting);
        let spawned = std::thread::Builder::new()
            .name(format!("zmq-auth-pool-{slot}"))
            .spawn(move || work(&lane, slot, &answers, &shared, &waiting));
        if let Err(e) = &spawned {
            zlog!(Error, "cannot start a pool thread: {e}");
        }
        spawned.is_ok()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for lane in self.lanes.values() {
            lane.state.lock().closed = true;
            lane.ready.notify_all();
        }
    }
}

/// A copy of an answer for a request that shared it.
pub(super) fn share(v: &Verdict<'static>) -> Verdict<'static> {
    Verdict {
        status: v.status,
        text: v.text.clone(),
        user_id: match &v.user_id {
            UserId::Text(t) => UserId::Text(t.clone()),
            UserId::Z85(z) => UserId::Z85(*z),
        },
        metadata: v.metadata.clone(),
    }
}

fn work(
    lane: &Lane,
    slot: usize,
    answers: &Sender<Answer>,
    shared: &Shared,
    waiting: &AtomicUsize,
) {
    loop {
        let job = {
            let mut st = lane.state.lock();
            loop {
                if st.closed || shared.stopping() {
                    st.slots[slot] = Slot::default();
                    return;
                }
                if let Some(job) = st.queue.pop_front() {
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    st.slots[slot].started = Some(Instant::now());
                    break job;
                }
                if lane.ready.wait_for(&mut st, IDLE_EXIT).timed_out() && st.queue.is_empty() {
                    st.slots[slot] = Slot::default();
                    return;
                }
            }
        };
        let verdict = if Instant::now() >= job.deadline {
            // Already answered 300 by the loop: no user code for nobody. The answer still
            // goes back, for the requests that shared this job.
            try_later()
        } else {
            let started = Instant::now();
            // User code is guarded inside; this keeps a bug of ours (or of a store
            // driver) from killing the thread.
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.work.run()))
                .unwrap_or_else(|_| {
                    // The logger may panic too: that must not end this thread either.
                    crate::logging::contained(|| {
                        zlog!(Error, "a pool job panicked; replying 500");
                    });
                    crate::policy::internal()
                });
            let took = started.elapsed();
            lane.learn(took);
            crate::metrics::slow_answer(job.work.kind(), took.as_secs_f64());
            verdict
        };
        lane.state.lock().slots[slot].started = None;
        if answers
            .send(Answer {
                id: job.id,
                verdict,
            })
            .is_err()
        {
            lane.state.lock().slots[slot] = Slot::default();
            return; // the loop is gone
        }
        shared.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(busy_since: &[Option<Instant>]) -> LaneState {
        LaneState {
            queue: VecDeque::new(),
            slots: busy_since
                .iter()
                .map(|s| Slot {
                    alive: true,
                    started: *s,
                })
                .collect(),
            closed: false,
        }
    }

    #[test]
    fn estimates_follow_answer_times_and_the_queue() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let ago = |d: Duration| now.checked_sub(d);
        // A free thread: tried at once, whatever the mean says.
        assert_eq!(lane(&[None, ago(ms(1))]).estimate(0, ms(5_000), now), ms(0));
        // Both busy (recently): 7 ahead on 2 threads = 4 rounds, then its own.
        let busy = lane(&[ago(ms(1)), ago(ms(2))]);
        assert_eq!(busy.estimate(7, ms(10), now), ms(50));
        // Both busy for longer than the floor: the running jobs are the evidence.
        let stuck = lane(&[ago(ms(400)), ago(ms(900))]);
        assert!(stuck.estimate(0, ms(10), now) >= ms(800));
        // Saturating, never overflowing.
        assert_eq!(busy.estimate(usize::MAX, Duration::MAX, now), Duration::MAX);
    }
}
