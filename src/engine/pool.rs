//! The small pool that runs user code (credentials providers, the user-id function)
//! for the ZAP loop, so that the loop itself never waits on it.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::shared::Shared;
use crate::error::{Error, Result};
use crate::policy::{SlowJob, Verdict};

/// Jobs that may wait for a free thread, per thread; beyond that the pool is saturated
/// and the loop answers 300 at once.
const QUEUE_PER_THREAD: usize = 16;

/// Slow work for one request.
pub(super) struct Job {
    pub(super) id: u64,
    pub(super) deadline: Instant,
    pub(super) work: SlowJob,
}

/// Its answer.
pub(super) struct Answer {
    pub(super) id: u64,
    pub(super) verdict: Verdict<'static>,
}

pub(super) struct Pool {
    jobs: Sender<Job>,
}

impl Pool {
    /// Starts `size` threads; they end when the pool is dropped and their current job
    /// (if any) returns.
    pub(super) fn start(
        size: usize,
        shared: &Arc<Shared>,
        answers: Sender<Answer>,
    ) -> Result<Pool> {
        let size = size.max(1);
        let (jobs, rx) = bounded::<Job>(size.saturating_mul(QUEUE_PER_THREAD));
        for i in 0..size {
            let (rx, answers, shared) = (rx.clone(), answers.clone(), Arc::clone(shared));
            std::thread::Builder::new()
                .name(format!("zmq-auth-pool-{i}"))
                .spawn(move || work(&rx, &answers, &shared))
                .map_err(|e| Error::io("<thread>", e))?;
        }
        Ok(Pool { jobs })
    }

    /// Queues a job; false when the pool is saturated (or gone).
    pub(super) fn submit(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }
}

fn work(jobs: &Receiver<Job>, answers: &Sender<Answer>, shared: &Shared) {
    for job in jobs.iter() {
        if shared.stopping() {
            break;
        }
        // Already answered 300 by the loop: do not run user code for nobody.
        if Instant::now() >= job.deadline {
            continue;
        }
        let started = std::time::Instant::now();
        // User code is guarded inside; this keeps a bug of ours (or of a store driver)
        // from killing the thread.
        let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.work.run()))
            .unwrap_or_else(|_| {
                zlog!(Error, "a pool job panicked; replying 500");
                crate::policy::internal()
            });
        crate::metrics::slow_answer(job.work.kind(), started.elapsed().as_secs_f64());
        if answers
            .send(Answer {
                id: job.id,
                verdict,
            })
            .is_err()
        {
            break; // the loop is gone
        }
        shared.wake();
    }
}
