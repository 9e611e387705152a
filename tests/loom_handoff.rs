//! Loom model of the engine's cross-thread hand-off (`src/engine/handoff.rs`, included
//! here as it is and built with loom's atomics and mutex): `make loom`, i.e. `cd loom &&
//! RUSTFLAGS="--cfg loom" cargo test --release --test loom_handoff` (the loom/ crate
//! builds this file; see its Cargo.toml). Without `--cfg loom` this file is empty.
//!
//! The ZAP loop's side is a copy of the steps of one wake-up of `ZapLoop` (`run`, or
//! `turn` where the loop body lives in its own function), `serve_one`,
//! `refresh_policy` and `finish` (src/engine/zap_loop.rs) that touch the hand-off, in
//! the same order; the control pipe is a one-byte slot (a byte sent to a full pipe is
//! dropped, as `DONTWAIT` on a full pipe does), the ZAP socket a queue, `zmq::poll` a
//! wait on both, the pool's answer channel a queue. Loom runs every interleaving (and
//! every value a relaxed load may see); a thread that waits for ever while the others
//! are done is reported as a deadlock: a lost wake-up or a lost stop.
//!
//! What each model checks is in FUZZING.md (and in each test's doc comment).
#![cfg(loom)]

#[allow(dead_code)]
#[path = "../src/engine/handoff.rs"]
mod handoff;

use std::collections::VecDeque;

use handoff::{Bell, Handoff};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// A policy snapshot: the number of the publish that made it (0: the initial one).
struct Snap {
    version: u64,
}

/// A ZAP request: `slow` ones go to the pool; `published` is the newest snapshot version
/// whose publish returned before the request was sent (a configuration call returns,
/// then a client connects).
#[derive(Clone, Copy)]
struct Request {
    slow: bool,
    published: u64,
}

/// What the loop's poll waits on: the control pipe's byte and the ZAP socket.
#[derive(Default)]
struct Poll {
    state: Mutex<(bool, VecDeque<Request>)>,
    cv: Condvar,
}

impl Poll {
    /// `zmq::poll` without a timeout: (ZAP readable, pipe readable).
    fn wait(&self) -> (bool, bool) {
        let mut st = self.state.lock().unwrap();
        while !st.0 && st.1.is_empty() {
            st = self.cv.wait(st).unwrap();
        }
        (!st.1.is_empty(), st.0)
    }

    fn drain_pipe(&self) {
        self.state.lock().unwrap().0 = false;
    }

    /// A client's handshake reaching the ZAP socket.
    fn send_request(&self, r: Request) {
        self.state.lock().unwrap().1.push_back(r);
        self.cv.notify_all();
    }

    fn recv_request(&self) -> Option<Request> {
        self.state.lock().unwrap().1.pop_front()
    }
}

/// The caller's end of the control pipe.
struct Pipe(Arc<Poll>);

impl Bell for Pipe {
    fn ring(&self) {
        // One byte fits; a full pipe already holds a wake-up.
        self.0.state.lock().unwrap().0 = true;
        self.0.cv.notify_all();
    }
}

/// A pool answer: the request, and the snapshot version its verdict came from.
struct Answer {
    id: usize,
}

struct World {
    handoff: Handoff<Snap, Pipe>,
    poll: Arc<Poll>,
    answers: Mutex<VecDeque<Answer>>,
    jobs: Mutex<VecDeque<usize>>,
    jobs_cv: Condvar,
}

impl World {
    fn new() -> Arc<World> {
        let poll = Arc::new(Poll::default());
        Arc::new(World {
            handoff: Handoff::new(Snap { version: 0 }, Pipe(Arc::clone(&poll))),
            poll,
            answers: Mutex::new(VecDeque::new()),
            jobs: Mutex::new(VecDeque::new()),
            jobs_cv: Condvar::new(),
        })
    }

    /// A pool thread's end of a job (pool.rs `work`): queue the answer, then wake.
    fn answer(&self, id: usize) {
        self.answers.lock().unwrap().push_back(Answer { id });
        self.handoff.wake();
    }

    /// A pool thread taking the next job (blocks).
    fn take_job(&self) -> usize {
        let mut jobs = self.jobs.lock().unwrap();
        loop {
            if let Some(id) = jobs.pop_front() {
                return id;
            }
            jobs = self.jobs_cv.wait(jobs).unwrap();
        }
    }
}

/// A reply the loop sent: the request and the snapshot version that decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reply {
    published: u64,
    decided_by: u64,
}

/// The ZAP loop's side (zap_loop.rs), reduced to what touches the hand-off.
struct Loop {
    world: Arc<World>,
    policy: std::sync::Arc<Snap>,
    generation: u64,
    /// Requests on the pool: (request, generation when dispatched).
    pending: Vec<Option<(Request, u64)>>,
    replies: Vec<Reply>,
    answers_seen: usize,
}

impl Loop {
    fn new(world: Arc<World>) -> Loop {
        let (policy, generation) = world.handoff.current();
        Loop {
            world,
            policy,
            generation,
            pending: Vec::new(),
            replies: Vec::new(),
            answers_seen: 0,
        }
    }

    /// `ZapLoop::refresh_policy`.
    fn refresh_policy(&mut self) {
        if self.world.handoff.generation() != self.generation {
            let (policy, generation) = self.world.handoff.current();
            assert!(
                policy.version >= generation,
                "snapshot {} handed out under generation {generation}",
                policy.version
            );
            self.policy = policy;
            self.generation = generation;
        }
    }

    fn reply(&mut self, r: Request, decided_by: u64) {
        assert!(
            decided_by >= r.published,
            "answered from snapshot {decided_by}, but {} was published before the request",
            r.published
        );
        self.replies.push(Reply {
            published: r.published,
            decided_by,
        });
    }

    /// `ZapLoop::finish_answered` + `finish`: reply, or decide again when the policy
    /// moved since the request was handed out.
    fn finish_answered(&mut self) -> bool {
        let mut any = false;
        loop {
            let next = self.world.answers.lock().unwrap().pop_front();
            let Some(answer) = next else {
                break;
            };
            any = true;
            self.answers_seen += 1;
            let Some((req, asked_at)) = self.pending.get_mut(answer.id).and_then(Option::take)
            else {
                continue;
            };
            self.refresh_policy();
            if asked_at == self.generation {
                // The pool's verdict came from the snapshot of generation `asked_at`,
                // which is at least that version.
                let by = asked_at;
                self.reply(req, by);
            } else {
                // Decided again by the new snapshot (a slow request would go back to
                // the pool; here the new snapshot answers it at once).
                let by = self.policy.version;
                self.reply(req, by);
            }
        }
        any
    }

    /// `ZapLoop::serve_one`: false when no request is waiting.
    fn serve_one(&mut self) -> bool {
        let Some(req) = self.world.poll.recv_request() else {
            return false;
        };
        self.refresh_policy();
        if req.slow {
            let id = self.pending.len();
            self.pending.push(Some((req, self.generation)));
            self.world.jobs.lock().unwrap().push_back(id);
            self.world.jobs_cv.notify_all();
        } else {
            let by = self.policy.version;
            self.reply(req, by);
        }
        true
    }

    /// `ZapLoop::run` until stopped or `done` says the work is over.
    fn run(&mut self, done: impl Fn(&Loop) -> bool) {
        let mut busy = false;
        loop {
            let (zap_ready, pipe_ready) = if busy {
                (true, false)
            } else {
                self.world.poll.wait()
            };
            if pipe_ready {
                self.world.poll.drain_pipe();
            }
            if self.world.handoff.stopping() {
                break;
            }
            self.finish_answered();
            busy = false;
            if zap_ready {
                while self.serve_one() {}
            }
            if done(self) {
                break;
            }
            if !busy {
                // About to sleep: re-arm the wake-up, then look once more.
                self.world.handoff.woken();
                busy = self.finish_answered();
            }
            if done(self) {
                break;
            }
        }
    }
}

/// No lost wake-up: two pool threads queue an answer each and wake the loop while it
/// runs, re-arms and sleeps in any order. The loop must see both answers (else it
/// sleeps for ever: loom reports the deadlock).
#[test]
fn answers_always_wake_the_loop() {
    loom::model(|| {
        let world = World::new();
        let pool: Vec<_> = (0..2)
            .map(|i| {
                let w = Arc::clone(&world);
                thread::spawn(move || w.answer(i))
            })
            .collect();
        let mut lp = Loop::new(Arc::clone(&world));
        lp.run(|l| l.answers_seen == 2);
        assert_eq!(lp.answers_seen, 2);
        for t in pool {
            t.join().unwrap();
        }
    });
}

/// Stop is never lost: a pool answer (whose coalesced wake-up may already be pending)
/// races with `stop`. The loop must leave its loop (it only leaves on stop here), and
/// the stop flag must be what it saw.
#[test]
fn stop_is_never_lost() {
    loom::model(|| {
        let world = World::new();
        let w = Arc::clone(&world);
        let pool = thread::spawn(move || w.answer(0));
        let w = Arc::clone(&world);
        let stopper = thread::spawn(move || w.handoff.stop());
        let mut lp = Loop::new(Arc::clone(&world));
        lp.run(|_| false);
        assert!(world.handoff.stopping());
        pool.join().unwrap();
        stopper.join().unwrap();
    });
}

/// Snapshots: a publisher publishes twice, each time then sending a request (as a
/// client connecting after the configuration call returned). Every request is answered
/// from a snapshot at least as new as the last one published before it was sent, and
/// `current` never hands out a snapshot older than its generation.
#[test]
fn requests_see_every_snapshot_published_before_them() {
    loom::model(|| {
        let world = World::new();
        let w = Arc::clone(&world);
        let publisher = thread::spawn(move || {
            for v in 1..=2 {
                w.handoff.publish(Snap { version: v });
                w.poll.send_request(Request {
                    slow: false,
                    published: v,
                });
            }
        });
        let mut lp = Loop::new(Arc::clone(&world));
        lp.run(|l| l.replies.len() == 2);
        assert_eq!(lp.replies.len(), 2);
        publisher.join().unwrap();
    });
}

/// Pooled answers: a slow request goes to the pool; the pool thread publishes a new
/// snapshot (as the watcher may while user code runs) and then answers. The answer
/// must be decided again by the new snapshot, never sent as the old one decided it.
#[test]
fn pooled_answers_are_decided_again_after_a_publish() {
    loom::model(|| {
        let world = World::new();
        let w = Arc::clone(&world);
        let pool = thread::spawn(move || {
            let id = w.take_job();
            w.handoff.publish(Snap { version: 1 });
            // What `answer` will be checked against: published before the answer.
            w.answer(id);
        });
        world.poll.send_request(Request {
            slow: true,
            published: 0,
        });
        let mut lp = Loop::new(Arc::clone(&world));
        lp.run(|l| l.replies.len() == 1);
        pool.join().unwrap();
        assert_eq!(lp.replies.len(), 1);
        assert!(
            lp.replies[0].decided_by >= 1,
            "a pooled answer was sent as decided by a snapshot replaced before it came back: {:?}",
            lp.replies[0]
        );
    });
}
