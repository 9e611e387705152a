//! Hardening (issue #6): 50 start/stop cycles leak no threads and no file descriptors.
//!
//! Counts are process-wide (`/proc/self/task`, `/proc/self/fd`), so this binary holds
//! exactly one test. The context is created (and its I/O and reaper threads started)
//! before the baseline is taken; libzmq closes sockets asynchronously on its reaper
//! thread, so the final counts are awaited for a bounded time.

mod hardening_common;

use std::time::{Duration, Instant};

use hardening_common::{fd_count, thread_count, zap_dealer, zap_roundtrip};
use zmq_auth::{zmq, ThreadAuthenticator};

const CYCLES: usize = 50;

fn cycle(ctx: &zmq::Context, i: usize) {
    let auth = ThreadAuthenticator::start(ctx).expect("start");
    auth.allow(["127.0.0.1"]).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let dealer = zap_dealer(ctx);
    let id = i.to_string();
    let r = zap_roundtrip(
        &dealer,
        &[
            b"1.0",
            id.as_bytes(),
            b"",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"correct-horse",
        ],
        i.is_multiple_of(2),
    );
    assert_eq!(r[2], b"200");
    drop(dealer);
    if i.is_multiple_of(2) {
        auth.stop().expect("stop");
        assert!(!auth.is_alive());
    }
    // Odd cycles stop through Drop.
}

/// Waits up to 3 s for `f() <= limit`; returns the last value.
fn settle(limit: usize, f: fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let n = f();
        if n <= limit || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fifty_start_stop_cycles_leak_no_threads_and_no_fds() {
    let ctx = zmq::Context::new();
    // Start libzmq's own threads and descriptors, and warm every lazy path once.
    cycle(&ctx, 0);
    std::thread::sleep(Duration::from_millis(100));
    let (threads0, fds0) = (thread_count(), fd_count());

    let started = Instant::now();
    for i in 1..=CYCLES {
        cycle(&ctx, i);
    }
    let took = started.elapsed();
    let threads = settle(threads0, thread_count);
    let fds = settle(fds0, fd_count);
    eprintln!("{CYCLES} cycles in {took:?}: threads {threads0} -> {threads}, fds {fds0} -> {fds}");
    assert!(
        threads <= threads0,
        "threads leaked: {threads0} -> {threads}"
    );
    assert!(fds <= fds0, "file descriptors leaked: {fds0} -> {fds}");

    // And the context still terminates.
    hardening_common::with_deadline(Duration::from_secs(5), move || drop(ctx))
        .expect("context termination hung");
}
