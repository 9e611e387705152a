//! Watching certificate directories and password files (issue 19 item 2): the CPU a
//! process spends doing nothing but watching, and how long a change takes to show in
//! ZAP answers. Default engine settings (default options, 1 s reload interval), so the
//! same code measures any version of the engine.

use std::path::Path;
use std::time::{Duration, Instant};

use zmq_auth::ThreadAuthenticator;

use crate::certs::{file_name, pyzmq_public_text};
use crate::zap::{until_status, BoxError, Workload};

/// The process's user + system CPU time so far.
pub fn cpu_time() -> Duration {
    // SAFETY: `usage` is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to it.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Idle CPU of a process that only watches `dir`: percent of one core over `window`,
/// after `settle` (the load and the first passes).
pub fn idle_cpu(dir: &Path, settle: Duration, window: Duration) -> Result<f64, BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_curve("*", dir)?;
    std::thread::sleep(settle);
    let (c0, t0) = (cpu_time(), Instant::now());
    std::thread::sleep(window);
    let (c1, t1) = (cpu_time(), Instant::now());
    drop(auth);
    Ok((c1 - c0).as_secs_f64() / (t1 - t0).as_secs_f64() * 100.0)
}

/// CPU time of one safety-net full pass over `dir` (ms): the process's CPU over
/// `window` with a full pass forced every second, per second.
pub fn full_pass_cpu_ms(dir: &Path, settle: Duration, window: Duration) -> Result<f64, BoxError> {
    let ctx = zmq::Context::new();
    let options = zmq_auth::EngineOptions::default().full_pass_interval(Duration::from_secs(1));
    let auth = ThreadAuthenticator::start_with(&ctx, options)?;
    auth.configure_curve("*", dir)?;
    std::thread::sleep(settle);
    let (c0, t0) = (cpu_time(), Instant::now());
    std::thread::sleep(window);
    let (c1, t1) = (cpu_time(), Instant::now());
    drop(auth);
    Ok((c1 - c0).as_secs_f64() / (t1 - t0).as_secs_f64() * 1e3)
}

/// Change-seen latencies (median and worst of `reps` each), from the write to the first
/// ZAP answer that shows it.
pub struct Latencies {
    pub remove: Vec<Duration>,
    pub rewrite: Vec<Duration>,
    pub add: Vec<Duration>,
    pub password: Vec<Duration>,
}

const LIMIT: Duration = Duration::from_secs(30);

/// `dir` holds `keys` (as `certs::make` wrote them); it is changed here.
pub fn latencies(dir: &Path, keys: &[[u8; 32]], reps: usize) -> Result<Latencies, BoxError> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_curve("*", dir)?;
    let pw_dir = tempfile::tempdir()?;
    let pw = pw_dir.path().join("passwords");
    std::fs::write(&pw, "user=password-0000\n")?;
    auth.configure_plain_file("*", &pw)?;
    // Let the engine settle (the first passes after configuring).
    std::thread::sleep(Duration::from_secs(2));
    let mut out = Latencies {
        remove: Vec::new(),
        rewrite: Vec::new(),
        add: Vec::new(),
        password: Vec::new(),
    };
    let curve = |k: &[u8; 32]| Workload::curve("global", std::slice::from_ref(k));
    for r in 0..reps {
        // Spread the changes over the re-check cycle of a polling engine.
        std::thread::sleep(Duration::from_millis(137 * (r as u64 % 7)));
        // Removed.
        let gone = keys[r];
        let t = Instant::now();
        std::fs::remove_file(dir.join(file_name(r)))?;
        out.remove
            .push(until_status(&ctx, &curve(&gone), 400, t, LIMIT)?);
        // Rewritten in place (same inode and size) with a new key.
        let (old, path) = (keys[reps + r], dir.join(file_name(reps + r)));
        let new = zmq::CurveKeyPair::new()?.public_key;
        let t = Instant::now();
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
            f.write_all(pyzmq_public_text(&new).as_bytes())?;
        }
        out.rewrite
            .push(until_status(&ctx, &curve(&old), 400, t, LIMIT)?);
        // Added.
        let added = zmq::CurveKeyPair::new()?.public_key;
        let t = Instant::now();
        std::fs::write(
            dir.join(format!("added{r:04}.key")),
            pyzmq_public_text(&added),
        )?;
        out.add
            .push(until_status(&ctx, &curve(&added), 200, t, LIMIT)?);
        // A password-file edit (same size).
        let next = format!("password-{:04}", r + 1);
        let t = Instant::now();
        std::fs::write(&pw, format!("user={next}\n"))?;
        let w = Workload::plain("global", &[("user".into(), next)]);
        out.password.push(until_status(&ctx, &w, 200, t, LIMIT)?);
    }
    drop(auth);
    Ok(out)
}

/// Median and worst, in ms.
pub fn summary(times: &[Duration]) -> (f64, f64) {
    let mut t = times.to_vec();
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        t.get(t.len() / 2).copied().map_or(0.0, ms),
        t.last().copied().map_or(0.0, ms),
    )
}
