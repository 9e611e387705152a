//! Certificate loading, incremental reloads, configuration round trips and memory.

use std::path::Path;
use std::time::{Duration, Instant};

use zmq_auth::zmq;
use zmq_auth::{Authenticator, ThreadAuthenticator};

use crate::certs::{pyzmq_public_text, raw_read};
use crate::zap::BoxError;

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub struct LoadTimes {
    pub floor: Duration,
    pub load_certificates: Duration,
    pub configure_curve: Duration,
}

/// Raw-read floor, `load_certificates` and `ThreadAuthenticator::configure_curve` on the
/// same directory, interleaved `reps` times (warm page cache), medians.
pub fn load_times(dir: &Path, expected: usize, reps: usize) -> Result<LoadTimes, BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    // Warm the page cache and the directory entries once.
    raw_read(dir)?;
    let (mut floor, mut lc, mut cc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(raw_read(dir)?);
        floor.push(t.elapsed());

        let t = Instant::now();
        let keys = zmq_auth::load_certificates(dir)?;
        lc.push(t.elapsed());
        if keys.len() != expected {
            return Err(format!(
                "load_certificates: {} keys, expected {expected}",
                keys.len()
            )
            .into());
        }
        drop(keys);

        let t = Instant::now();
        auth.configure_curve("global", dir)?;
        cc.push(t.elapsed());
    }
    Ok(LoadTimes {
        floor: median(floor),
        load_certificates: median(lc),
        configure_curve: median(cc),
    })
}

pub struct ReloadTimes {
    /// `Authenticator::configure_curve` from scratch: the full, strict load.
    pub full: Duration,
    /// The re-check right after one certificate was added (it must be admitted).
    pub added: Duration,
    /// The re-check right after that certificate was removed (it must be refused).
    pub removed: Duration,
    /// A re-check of the unchanged directory (median of 5).
    pub unchanged: Duration,
}

fn curve_request(key: &[u8; 32]) -> [Vec<u8>; 7] {
    [
        b"1.0".to_vec(),
        b"1".to_vec(),
        b"global".to_vec(),
        b"127.0.0.1".to_vec(),
        Vec::new(),
        b"CURVE".to_vec(),
        key.to_vec(),
    ]
}

fn ask(a: &mut Authenticator, key: &[u8; 32]) -> (u16, Duration) {
    let req = curve_request(key);
    let frames: Vec<&[u8]> = req.iter().map(|f| &f[..]).collect();
    let t = Instant::now();
    let reply = a.handle_zap_message(&frames);
    (reply.status_code(), t.elapsed())
}

/// Lets timestamps age past the store's "recently modified" window, then makes the
/// store catch up, so the next timed re-check sees exactly one change. Spins rather
/// than sleeps: after a sleep this VM's cores wake slowly, which is not what is timed.
fn settle(a: &mut Authenticator, key: &[u8; 32]) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(250) {
        std::hint::spin_loop();
    }
    ask(a, key);
}

/// What one re-check of a certificate directory costs — the pass the engine's watcher
/// thread makes every reload interval (list, stat every file, read the changed ones,
/// build the new key set). Timed through the synchronous `Authenticator` with a zero
/// reload interval: its `handle_zap_message` runs exactly that re-check (the same source
/// code as the watcher) and then decides one request, so the time of a request is the
/// time of one re-check plus a few microseconds. `known` is a key in `dir`. The
/// directory is left as it was found.
pub fn reload_times(dir: &Path, known: &[u8; 32], reps: usize) -> Result<ReloadTimes, BoxError> {
    let (mut full, mut added, mut removed, mut unchanged) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let extra = zmq::CurveKeyPair::new()?.public_key;
    let extra_path = dir.join("zz-bench-added.key");
    for _ in 0..reps {
        let t = Instant::now();
        let mut a = Authenticator::new();
        a.configure_curve("global", dir)?;
        full.push(t.elapsed());
        a.set_reload_interval(Duration::ZERO);

        settle(&mut a, known);
        std::fs::write(&extra_path, pyzmq_public_text(&extra))?;
        let (status, d) = ask(&mut a, &extra);
        if status != 200 {
            let _ = std::fs::remove_file(&extra_path);
            return Err(format!("added certificate not admitted ({status})").into());
        }
        added.push(d);

        settle(&mut a, known);
        std::fs::remove_file(&extra_path)?;
        let (status, d) = ask(&mut a, &extra);
        if status != 400 {
            return Err(format!("removed certificate still admitted ({status})").into());
        }
        removed.push(d);

        settle(&mut a, known);
        let mut times = Vec::new();
        for _ in 0..5 {
            let (status, d) = ask(&mut a, known);
            if status != 200 {
                return Err(format!("known key refused ({status})").into());
            }
            times.push(d);
        }
        unchanged.push(median(times));
    }
    Ok(ReloadTimes {
        full: median(full),
        added: median(added),
        removed: median(removed),
        unchanged: median(unchanged),
    })
}

/// The watcher's work for a file event naming one certificate added to `dir`, then
/// removed again (see `zmq_auth::watch_bench::event_refresh`), `reps` times.
pub fn event_refresh(
    dir: &Path,
    reps: usize,
) -> Result<zmq_auth::watch_bench::EventRefresh, BoxError> {
    let extra = zmq::CurveKeyPair::new()?.public_key;
    let text = pyzmq_public_text(&extra);
    Ok(zmq_auth::watch_bench::event_refresh(
        dir,
        "zz-bench-event.key",
        text.as_bytes(),
        &extra,
        reps,
    )?)
}

pub struct RoundTrips {
    pub configure_noop: Duration,
    pub configure_plain: Duration,
}

/// A configuration call on an idle authenticator: built and validated on the caller's
/// thread, published, returned.
pub fn configure_round_trips(n: usize) -> Result<RoundTrips, BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    let (mut noop, mut plain) = (Vec::new(), Vec::new());
    for i in 0..n + n / 10 {
        let t = Instant::now();
        auth.configure(|_| Ok(()))?;
        let d1 = t.elapsed();
        let t = Instant::now();
        auth.configure_plain("rtt", [("user", "password")])?;
        let d2 = t.elapsed();
        if i >= n / 10 {
            noop.push(d1);
            plain.push(d2);
        }
    }
    Ok(RoundTrips {
        configure_noop: median(noop),
        configure_plain: median(plain),
    })
}

// ---- memory (runs in a child process, see main.rs) --------------------------------

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(target_env = "gnu")]
extern "C" {
    // glibc: return free heap memory to the system.
    fn malloc_trim(pad: usize) -> i32;
}

/// Returns freed heap memory to the system where the C library can (glibc).
fn trim_heap() {
    // SAFETY: plain glibc call with no preconditions.
    #[cfg(target_env = "gnu")]
    unsafe {
        malloc_trim(0);
    }
}

/// In a fresh process: RSS and live heap before and after `configure_curve(dir)`.
/// Prints one line `MEM keys rss_delta rss_delta_trimmed heap_delta heap_peak_delta`.
pub fn memory_child(dir: &Path) -> Result<(), BoxError> {
    let keys = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
        .count();
    // Touch the code paths once on an empty store so one-time costs are not counted.
    let warm = tempfile::tempdir()?;
    let mut a = Authenticator::new();
    a.configure_curve("global", warm.path())?;
    drop(a);
    trim_heap();
    crate::alloc::enable();
    let (rss0, heap0) = (rss_bytes(), crate::alloc::live());
    crate::alloc::reset_peak();
    let mut a = Authenticator::new();
    a.configure_curve("global", dir)?;
    let (rss1, heap1, peak) = (rss_bytes(), crate::alloc::live(), crate::alloc::peak());
    trim_heap();
    let rss2 = rss_bytes();
    println!(
        "MEM {keys} {} {} {} {}",
        rss1 as i64 - rss0 as i64,
        rss2 as i64 - rss0 as i64,
        heap1 - heap0,
        peak - heap0
    );
    drop(a);
    Ok(())
}

pub struct Memory {
    pub keys: usize,
    pub rss: i64,
    pub rss_trimmed: i64,
    pub heap: i64,
    pub heap_peak: i64,
}

pub fn memory(dir: &Path) -> Result<Memory, BoxError> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--memory-child")
        .arg(dir)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("MEM "))
        .ok_or_else(|| {
            format!(
                "memory child failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: Vec<i64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() != 5 {
        return Err(format!("memory child printed {line:?}").into());
    }
    Ok(Memory {
        keys: v[0] as usize,
        rss: v[1],
        rss_trimmed: v[2],
        heap: v[3],
        heap_peak: v[4],
    })
}
