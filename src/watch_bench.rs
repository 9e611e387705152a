//! The watcher's work after one file event in a certificate directory, for
//! `benches/auth` (issue 19). Hidden: the sources are internal, and only the bench
//! calls this.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sources::DirSource;

/// What [`event_refresh`] measured: medians over the repetitions.
#[derive(Debug, Clone)]
pub struct EventRefresh {
    /// Re-reading one added certificate that an event named, the copy of the key table
    /// the published policy holds included (`DirSource::refresh` of that one name: what
    /// the watcher runs for the event).
    pub added: Duration,
    /// The same for the certificate removed again.
    pub removed: Duration,
    /// A full pass over the unchanged directory (list, stat every file): what the
    /// safety net and the polling fallback run.
    pub full_pass: Duration,
}

/// Loads `dir`, then `reps` times: writes `text` (a public certificate whose key is
/// `key`) as `dir/name` and times the refresh an event naming it makes; removes it and
/// times that refresh; times a full pass. Checks that the key is admitted after the
/// first and not after the second. The directory is left as it was found.
pub fn event_refresh(
    dir: &Path,
    name: &str,
    text: &[u8],
    key: &[u8; 32],
    reps: usize,
) -> Result<EventRefresh, String> {
    let mut source = DirSource::load(dir).map_err(|e| e.to_string())?;
    let path = dir.join(name);
    let names = [OsString::from(name)];
    let admitted = |s: &DirSource| s.keys().is_some_and(|k| k.get(key).is_some());
    let (mut added, mut removed, mut full) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        // The engine's published policy holds the key table while the watcher updates
        // it: the update copies it (copy-on-write), and that copy is part of the cost.
        let published = source.keys();
        let t = Instant::now();
        let changed = source.refresh(&names, false);
        added.push(t.elapsed());
        drop(published);
        if !changed || !admitted(&source) {
            let _ = std::fs::remove_file(&path);
            return Err("the added certificate was not taken up".into());
        }
        std::fs::remove_file(&path).map_err(|e| e.to_string())?;
        let published = source.keys();
        let t = Instant::now();
        let changed = source.refresh(&names, false);
        removed.push(t.elapsed());
        drop(published);
        if !changed || admitted(&source) {
            return Err("the removed certificate is still admitted".into());
        }
        let t = Instant::now();
        let changed = source.recheck();
        full.push(t.elapsed());
        if changed {
            return Err("a full pass of the unchanged directory changed its keys".into());
        }
    }
    Ok(EventRefresh {
        added: median(added),
        removed: median(removed),
        full_pass: median(full),
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
