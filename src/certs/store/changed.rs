//! Re-reading single files of a certificate directory, as file events name them,
//! without listing the directory or stat'ing the other files.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::Path;

use super::{load_one, reader_panicked, CertDir, Name, Outcome, Problem};
use crate::certs::listing::read_many;
use crate::error::{Error, Result};
use crate::stamp::Stamp;

/// What to do with one named entry.
enum Step {
    /// Drop it from the table (gone, or not a file we read), with why when worth saying.
    Forget(Option<Error>),
    /// Read it; `true` when it is a symbolic link.
    Read(bool),
    /// Unchanged (light checks only).
    Keep,
}

impl CertDir {
    /// Re-reads the named entries (names directly inside the directory; others than
    /// `*.key` are ignored) whatever their stamps say: an event said they changed, and a
    /// rewrite may keep every stamp. With `only_if_changed` (the light check of symbolic
    /// links, whose targets raise no event here) an entry is read only when its stamp
    /// moved or may hide a change. An error means the directory itself is unreadable.
    pub(crate) fn refresh_names(
        &mut self,
        names: &[OsString],
        only_if_changed: bool,
    ) -> Result<Vec<Problem>> {
        let meta = std::fs::metadata(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if !meta.is_dir() {
            return Err(Error::io(
                &self.dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let mut seen: HashSet<&OsString> = HashSet::new();
        let mut problems = Vec::new();
        let mut touched = HashSet::new();
        let mut read: Vec<(Name, bool)> = Vec::new();
        for name in names {
            if !seen.insert(name) || Path::new(name).extension().is_none_or(|x| x != "key") {
                continue;
            }
            let key = Name::new(name);
            match self.step(&key, only_if_changed) {
                Step::Keep => {}
                Step::Forget(why) => {
                    self.forget(key.as_bytes(), &mut touched);
                    problems.extend(why.map(Problem::Skipped));
                }
                Step::Read(linked) => read.push((key, linked)),
            }
        }
        let dir = &self.dir;
        let outcomes = read_many(
            &read,
            |(name, _)| load_one(&dir.join(name.as_os_str()), false),
            |(name, _)| Outcome::Unreadable(reader_panicked(&dir.join(name.as_os_str()))),
        );
        for ((name, linked), outcome) in read.into_iter().zip(outcomes) {
            self.forget(name.as_bytes(), &mut touched);
            self.admit(name, outcome, linked, &mut problems, &mut touched);
        }
        self.settle(touched, &mut problems);
        Ok(problems)
    }

    fn step(&self, name: &Name, only_if_changed: bool) -> Step {
        let path = self.dir.join(name.as_os_str());
        let lmeta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Step::Forget(None),
            Err(e) => return Step::Forget(Some(Error::io(&path, e))),
        };
        let linked = lmeta.file_type().is_symlink();
        if !linked && !lmeta.is_file() {
            // A directory, FIFO, socket or device named *.key: never read.
            return Step::Forget(None);
        }
        if only_if_changed {
            let held = self.files.get(name.as_bytes()).map(|f| f.stamp);
            let now = if linked {
                std::fs::metadata(&path).ok().map(|m| Stamp::of(&m))
            } else {
                Some(Stamp::of(&lmeta))
            };
            if let (Some(held), Some(now)) = (held, now) {
                if held == now && !now.suspect_after(self.last_scan_ns) {
                    return Step::Keep;
                }
            }
        }
        Step::Read(linked)
    }

    /// The entries held that are symbolic links (see [`CertDir::refresh_names`]).
    pub(crate) fn linked_names(&self) -> Vec<OsString> {
        self.linked
            .iter()
            .map(|n| n.as_os_str().to_os_string())
            .collect()
    }
}
