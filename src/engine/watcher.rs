//! The watcher: keeps file sources in step with the disk, off the ZAP loop, and
//! publishes a new snapshot whenever what they yield differs from what was *published*
//! (not from what it saw last: a re-check made elsewhere cannot swallow a change).
//!
//! With file events ([`WatchMode::Events`]) a changed file is read again as soon as the
//! OS names it; every reload interval a light look covers what events cannot tell (a
//! symbolic link's target, a directory replaced or remounted, a password file's
//! stamp); a full pass runs as the safety net (see [`FullEvery`]), after any event
//! overflow, and after a watch is (re)established. A source that cannot be watched is
//! polled: a full pass every reload interval ([`WatchMode::Polling`]).

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, RecvTimeoutError};

use super::options::WatchMode;
use super::shared::Shared;
use crate::sources::events::{Events, Note};
use crate::sources::{absolute, fs_kind, Check, Source};

/// Re-checks never come closer together than this (a zero interval would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest the watcher sleeps before looking at the configuration (and stop) again.
const STEP: Duration = Duration::from_millis(250);
/// After an event, the watcher waits until the events pause this long (a writer's
/// create, writes and close usually come within it), so a file is seldom read half
/// written: that would refuse its key (and warn) until the next event...
const SETTLE: Duration = Duration::from_millis(10);
/// ...but never longer than this in all (changes show within 100 ms).
const SETTLE_MAX: Duration = Duration::from_millis(40);
/// The automatic safety-net interval: at least this...
const FULL_MIN: Duration = Duration::from_secs(30);
/// ...and at most this, however big the directory.
const FULL_MAX: Duration = Duration::from_secs(15 * 60);
/// The automatic interval keeps the safety net under 1/1000 of a core.
const FULL_COST_FACTOR: u32 = 1000;

/// When the safety-net pass of a watched source runs.
#[derive(Clone, Copy)]
pub(super) enum FullEvery {
    /// [`FULL_MIN`], stretched so the pass costs at most 0.1 % of a core.
    Auto,
    Fixed(Duration),
}

/// How one source is followed now.
#[derive(PartialEq)]
enum Follow {
    /// By events on these directories (absolute), with their identity (device, inode)
    /// when the watch was set: a directory replaced or remounted has another.
    Events(Vec<(PathBuf, Option<(u64, u64)>)>),
    /// A full pass every reload interval; `retry`: try events again each interval.
    Polling { retry: bool },
}

struct Watched {
    source: Source,
    /// The directory or file, absolute.
    path: PathBuf,
    follow: Follow,
    last_full: Instant,
    last_light: Instant,
    /// The last full pass's duration (the automatic interval scales with it).
    full_cost: Duration,
    pending_full: bool,
    /// Names of the directory (or the password file) events said changed.
    pending: Vec<OsString>,
}

/// Runs until `stop` is dropped or sent to. Nothing else ends it: a turn that panics (a
/// bug of ours, the application's logger) makes every source refuse until a later turn
/// re-reads it, and the watcher goes on. Were it to end, the sources would keep what
/// they last granted, unchecked.
pub(super) fn run(shared: &Arc<Shared>, stop: &Receiver<()>, mode: WatchMode, full: FullEvery) {
    let mut w = Watcher {
        shared,
        mode,
        full,
        events: None,
        events_failed: false,
        list: Vec::new(),
        generation: None,
    };
    loop {
        match catch_unwind(AssertUnwindSafe(|| w.turn(stop))) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                let _ = catch_unwind(AssertUnwindSafe(|| w.refuse_all()));
                crate::logging::contained(|| {
                    crate::metrics::request_panic("watcher");
                    zlog!(
                        Error,
                        "the file watcher panicked (a bug, or the logger); its sources refuse until re-read"
                    );
                });
                // Not at full speed: a turn that panics every time must not spin.
                if !matches!(stop.recv_timeout(STEP), Err(RecvTimeoutError::Timeout)) {
                    break;
                }
            }
        }
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        for i in 0..w.list.len() {
            w.unfollow(i);
        }
        if let Some(events) = w.events.take() {
            events.close();
        }
    }));
}

struct Watcher<'a> {
    shared: &'a Arc<Shared>,
    mode: WatchMode,
    full: FullEvery,
    events: Option<Events>,
    /// The event machinery could not start: every source is polled (tried again with
    /// each new source).
    events_failed: bool,
    list: Vec<Watched>,
    generation: Option<u64>,
}

impl Watcher<'_> {
    /// One wake-up: follow the configuration, wait for an event, a configuration call,
    /// something due or `stop`, then re-check and publish. False on `stop`.
    fn turn(&mut self, stop: &Receiver<()>) -> bool {
        self.sync();
        let timeout = self.next_due().min(STEP);
        let never = crossbeam_channel::never();
        let rx = self.events.as_ref().map_or(&never, |e| e.receiver());
        select! {
            recv(stop) -> _ => return false,
            // A configuration call published: follow its sources now (`sync`).
            recv(self.shared.watcher_bell()) -> _ => {}
            // Snapshots the ZAP loop let go of: freed here, not there.
            recv(self.shared.retired()) -> old => {
                drop(old);
                while self.shared.retired().try_recv().is_ok() {}
            }
            recv(rx) -> note => {
                if let Ok(note) = note {
                    self.take(note);
                    self.settle();
                }
            }
            default(timeout) => {}
        }
        self.drain();
        self.work();
        if self.shared.stale() {
            let config = self.shared.config.lock();
            self.shared.publish_config(&config);
        }
        true
    }

    /// After a panicking turn: what the sources grant is no longer confirmed, so each
    /// refuses (published at once) and is read whole on the next turn, which restores
    /// it; the configuration is followed afresh (the turn may have stopped mid-way).
    fn refuse_all(&mut self) {
        self.generation = None;
        for w in &mut self.list {
            w.source.refuse();
            w.pending_full = true;
        }
        let config = self.shared.config.lock();
        self.shared.publish_config(&config);
    }

    fn interval(&self) -> Duration {
        self.shared.reload_interval().max(MIN_INTERVAL)
    }

    fn full_every(&self, w: &Watched) -> Duration {
        let interval = self.interval();
        match (&w.follow, self.full) {
            (Follow::Polling { .. }, _) => interval,
            (Follow::Events(_), FullEvery::Fixed(d)) => d.max(interval),
            (Follow::Events(_), FullEvery::Auto) => w
                .full_cost
                .saturating_mul(FULL_COST_FACTOR)
                .clamp(FULL_MIN, FULL_MAX)
                .max(interval),
        }
    }

    /// How long until some source is due: at once when one has work waiting (a source
    /// just followed owes its catch-up pass).
    fn next_due(&self) -> Duration {
        if self
            .list
            .iter()
            .any(|w| w.pending_full || !w.pending.is_empty())
        {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let interval = self.interval();
        self.list
            .iter()
            .map(|w| {
                // A due time past Instant's range is never: wait the longest (a step).
                let until = |due: Option<Instant>| {
                    due.map_or(Duration::MAX, |d| d.saturating_duration_since(now))
                };
                until(w.last_light.checked_add(interval))
                    .min(until(w.last_full.checked_add(self.full_every(w))))
            })
            .min()
            .unwrap_or(STEP)
    }

    /// Follows the sources of the current configuration (after each publish).
    fn sync(&mut self) {
        let generation = self.shared.generation();
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        let sources = self.shared.config.lock().sources();
        let mut i = 0;
        while i < self.list.len() {
            if sources.iter().any(|s| s.same(&self.list[i].source)) {
                i = i.saturating_add(1);
            } else {
                self.unfollow(i);
                self.list.swap_remove(i);
            }
        }
        for s in sources {
            if self.list.iter().any(|w| w.source.same(&s)) {
                continue;
            }
            let now = Instant::now();
            let path = absolute(&s.path());
            let follow = self.follow(&s, &path, true);
            self.list.push(Watched {
                pending_full: matches!(follow, Follow::Events(_)),
                source: s,
                path,
                follow,
                last_full: now,
                last_light: now,
                full_cost: Duration::ZERO,
                pending: Vec::new(),
            });
        }
    }

    /// Sets up how a source is followed. With events, the caller makes a full pass at
    /// once: the source was loaded before its watch was set, and a change in between
    /// raised no event.
    fn follow(&mut self, source: &Source, path: &Path, announce: bool) -> Follow {
        let polling = Follow::Polling { retry: false };
        if self.mode == WatchMode::Polling {
            return polling;
        }
        if let Some(fs) = fs_kind::network_fs(path) {
            zlog!(
                Warn,
                "{} is on a network filesystem ({fs}): polling it every reload interval",
                path.display()
            );
            return polling;
        }
        if self.events.is_none() && !self.events_failed {
            match Events::start() {
                Ok(e) => self.events = Some(e),
                Err(e) => {
                    self.events_failed = true;
                    zlog!(
                        Warn,
                        "file events unavailable ({e}): polling sources every reload interval"
                    );
                }
            }
        }
        let Some(events) = self.events.as_mut() else {
            return polling;
        };
        let mut dirs = Vec::new();
        for dir in watch_dirs(source, path) {
            let id = identity(&dir);
            match events.watch(&dir) {
                Ok(()) => dirs.push((dir, id)),
                Err(e) => {
                    for (d, _) in &dirs {
                        events.unwatch(d);
                    }
                    if announce {
                        zlog!(
                            Warn,
                            "cannot watch {} for changes ({e}): polling it every reload interval",
                            dir.display()
                        );
                    }
                    return Follow::Polling { retry: true };
                }
            }
        }
        Follow::Events(dirs)
    }

    fn unfollow(&mut self, i: usize) {
        let follow = std::mem::replace(&mut self.list[i].follow, Follow::Polling { retry: false });
        if let (Follow::Events(dirs), Some(events)) = (follow, self.events.as_mut()) {
            for (d, _) in dirs {
                events.unwatch(&d);
            }
        }
    }

    /// Takes in the events that follow closely (see [`SETTLE`]).
    fn settle(&mut self) {
        let start = Instant::now();
        while let Some(events) = self.events.as_ref() {
            let left = SETTLE_MAX.saturating_sub(start.elapsed());
            if left.is_zero() {
                return;
            }
            match events.receiver().recv_timeout(SETTLE.min(left)) {
                Ok(note) => self.take(note),
                Err(_) => return,
            }
        }
    }

    /// Takes in everything queued now.
    fn drain(&mut self) {
        while let Some(note) = self
            .events
            .as_ref()
            .and_then(|e| e.receiver().try_recv().ok())
        {
            self.take(note);
        }
        if self.events.as_ref().is_some_and(|e| e.take_lost()) {
            // Events were lost: nothing they said can be trusted to be complete.
            for w in &mut self.list {
                if matches!(w.follow, Follow::Events(_)) {
                    w.pending_full = true;
                }
            }
        }
    }

    fn take(&mut self, note: Note) {
        let Note::Paths(paths) = note else {
            return; // the lost flag is read by `drain`
        };
        for p in paths {
            for w in &mut self.list {
                let Follow::Events(dirs) = &w.follow else {
                    continue;
                };
                if dirs.iter().any(|(d, _)| *d == p) || p == w.path {
                    // The directory itself (or the password file) moved, went, changed.
                    if w.source.is_dir() {
                        w.pending_full = true;
                    } else {
                        w.pending.push(OsString::new());
                    }
                } else if p
                    .parent()
                    .is_some_and(|parent| dirs.iter().any(|(d, _)| d == parent))
                {
                    let name = p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
                    if w.source.is_dir() || file_names(&w.path).contains(&name) {
                        w.pending.push(name);
                    }
                }
            }
        }
    }

    /// Re-checks what is due.
    fn work(&mut self) {
        let interval = self.interval();
        for i in 0..self.list.len() {
            let now = Instant::now();
            let full_every = self.full_every(&self.list[i]);
            let w = &mut self.list[i];
            let light_due = now.saturating_duration_since(w.last_light) >= interval;
            if light_due {
                w.last_light = now;
                let (refollow, announce) = match &w.follow {
                    // Replaced, remounted or gone: watch what is there now.
                    Follow::Events(dirs) => (dirs.iter().any(|(d, id)| identity(d) != *id), true),
                    Follow::Polling { retry } => (*retry, false),
                };
                if refollow {
                    self.unfollow(i);
                    let (source, path) = (self.list[i].source.clone(), self.list[i].path.clone());
                    let follow = self.follow(&source, &path, announce);
                    let w = &mut self.list[i];
                    w.pending_full |= matches!(follow, Follow::Events(_));
                    w.follow = follow;
                }
            }
            let w = &mut self.list[i];
            if w.pending_full || now.saturating_duration_since(w.last_full) >= full_every {
                w.pending_full = false;
                w.pending.clear();
                let start = Instant::now();
                w.source.check(Check::Full);
                w.full_cost = start.elapsed().saturating_mul(workers());
                w.last_full = Instant::now();
                continue;
            }
            if !w.pending.is_empty() {
                let names = std::mem::take(&mut w.pending);
                w.source.check(Check::Names(&names));
            }
            if light_due && matches!(w.follow, Follow::Events(_)) {
                w.source.check(Check::Light);
            }
        }
    }
}

/// The directories to watch for a source: a certificate directory itself; a password
/// file's directory, and its link target's directory when it is a symbolic link.
fn watch_dirs(source: &Source, path: &Path) -> Vec<PathBuf> {
    if source.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut dirs: Vec<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(target_dir) = std::fs::canonicalize(path)
        .ok()
        .and_then(|t| t.parent().map(Path::to_path_buf))
    {
        if !dirs.contains(&target_dir) {
            dirs.push(target_dir);
        }
    }
    dirs
}

/// The names under which a password file's changes show: its own, and its link
/// target's.
fn file_names(path: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = path
        .file_name()
        .map(|n| n.to_os_string())
        .into_iter()
        .collect();
    if let Some(n) = std::fs::canonicalize(path)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_os_string()))
    {
        names.push(n);
    }
    names
}

/// A directory's device and inode (following links), or `None` when it is gone.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some((0, 0))
    }
}

/// The threads a full pass may keep busy: its time × this bounds its CPU time.
fn workers() -> u32 {
    std::thread::available_parallelism()
        .map_or(1, |n| u32::try_from(n.get()).unwrap_or(8))
        .min(8)
}
