//! A trusted-certificate directory as a source of CURVE keys.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use crate::certs::{CertDir, KeySet, Problem};
use crate::error::Result;

/// A directory of trusted public certificates and what it yields now: its keys, or
/// nothing (refuse with 500) while it cannot be read.
pub(crate) struct DirSource {
    dir: CertDir,
    broken: bool,
    /// What the last pass warned about: a file re-read soon after it changed is not
    /// reported twice.
    reported: HashSet<String>,
}

impl DirSource {
    /// Loads `dir` strictly: a missing or unreadable directory, or a `*.key` file that
    /// does not load, is an error. Duplicate keys and dropped metadata are warnings.
    pub(crate) fn load(dir: &Path) -> Result<DirSource> {
        let (dir, problems) = CertDir::load(dir)?;
        let mut fatal = None;
        let mut reported = HashSet::new();
        for p in problems {
            match p {
                Problem::Skipped(e) if fatal.is_none() => fatal = Some(e),
                Problem::Skipped(_) => {}
                other => {
                    reported.insert(report(&other));
                }
            }
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        Ok(DirSource {
            dir,
            broken: false,
            reported,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.dir()
    }

    pub(crate) fn len(&self) -> usize {
        self.dir.len()
    }

    /// The keys now, or `None` while the directory cannot be read.
    pub(crate) fn keys(&self) -> Option<Arc<KeySet>> {
        (!self.broken).then(|| self.dir.keys())
    }

    /// Refuses everything until the next good pass; true when that is a change.
    pub(crate) fn mark_broken(&mut self) -> bool {
        !std::mem::replace(&mut self.broken, true)
    }

    /// One pass over the directory; true when the keys it yields changed.
    pub(crate) fn recheck(&mut self) -> bool {
        let before = self.keys();
        let result = self.dir.refresh();
        self.settle(before, result, true)
    }

    /// Re-reads the named files only (see `CertDir::refresh_names`); a directory that
    /// cannot be read, or one already refusing, gets a full pass instead. True when the
    /// keys it yields changed.
    pub(crate) fn refresh(&mut self, names: &[OsString], only_if_changed: bool) -> bool {
        if self.broken {
            return self.recheck();
        }
        let before = self.keys();
        let result = self.dir.refresh_names(names, only_if_changed);
        self.settle(before, result, false)
    }

    /// The files held that are symbolic links.
    pub(crate) fn linked_names(&self) -> Vec<OsString> {
        self.dir.linked_names()
    }

    fn settle(
        &mut self,
        before: Option<Arc<KeySet>>,
        result: Result<Vec<Problem>>,
        full: bool,
    ) -> bool {
        match result {
            Ok(problems) => {
                if self.broken {
                    zlog!(
                        Warn,
                        "certificate directory {} readable again",
                        self.dir.dir().display()
                    );
                }
                self.broken = false;
                let mut reported = HashSet::new();
                for p in &problems {
                    let text = describe(p);
                    if !self.reported.contains(&text) {
                        zlog!(Warn, "{text}");
                    }
                    reported.insert(text);
                }
                // A full pass says all that is wrong now; a partial one adds to it.
                if full {
                    self.reported = reported;
                } else {
                    self.reported.extend(reported);
                }
            }
            Err(e) => {
                if !self.broken {
                    zlog!(
                        Error,
                        "certificate directory unreadable, refusing its CURVE clients with 500: {e}"
                    );
                }
                self.broken = true;
            }
        }
        match (before, self.keys()) {
            (Some(a), Some(b)) => !Arc::ptr_eq(&a, &b),
            (None, None) => false,
            _ => true,
        }
    }
}

/// Logs a problem; returns its text.
fn report(problem: &Problem) -> String {
    let text = describe(problem);
    zlog!(Warn, "{text}");
    text
}

fn describe(problem: &Problem) -> String {
    match problem {
        Problem::Skipped(e) => format!("skipping certificate (it admits no one): {e}"),
        Problem::MetadataDropped(e) => format!("certificate metadata dropped: {e}"),
        Problem::Duplicate { file, other } => format!(
            "{}: same public key as {}; keeping both",
            file.display(),
            other.display()
        ),
    }
}
