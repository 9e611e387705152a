//! What reads the world: certificate directories and password files. Each is loaded
//! once at configuration (strictly: a bad entry is an error returned to the caller) and
//! re-checked later off the ZAP loop (leniently: a bad entry admits no one and the rest
//! applies; an unreadable source refuses everything it would decide). A re-check never
//! keeps old grants it can no longer confirm.

mod cert_dir;
pub(crate) mod events;
pub(crate) mod fs_kind;
mod password_file;

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use cert_dir::DirSource;
pub(crate) use password_file::PasswordFile;

/// A source and the version of what it yields: bumped by every re-check that changed
/// it, so the engine can compare what is on disk with what it *published* (a re-check
/// made elsewhere, in a `configure` closure that then failed, cannot swallow a change).
pub(crate) struct Versioned<T> {
    inner: Mutex<T>,
    version: AtomicU64,
}

impl<T> Versioned<T> {
    pub(crate) fn new(inner: T) -> Versioned<T> {
        Versioned {
            inner: Mutex::new(inner),
            version: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }
}

/// A configured source, shared by every copy of the configuration that names it.
#[derive(Clone)]
pub(crate) enum Source {
    Dir(Arc<Versioned<DirSource>>),
    File(Arc<Versioned<PasswordFile>>),
}

/// How much of a source to look at.
pub(crate) enum Check<'a> {
    /// Everything: list the directory and stat every file, or re-read the file.
    Full,
    /// Re-read these names of the directory (or the password file), whatever their
    /// stamps say: an event said they changed.
    Names(&'a [OsString]),
    /// The periodic look of the event-driven watcher: what events cannot tell (a
    /// directory's symbolic links, a password file's stamp).
    Light,
}

impl Source {
    /// Re-checks everything; true when what it yields changed.
    pub(crate) fn recheck(&self) -> bool {
        self.check(Check::Full)
    }

    /// Re-checks as `what` says; true when what it yields changed.
    ///
    /// A panic inside (a bug of ours, a logger's) makes the source broken: it refuses
    /// with 500 until a later re-check succeeds, instead of keeping what it granted.
    pub(crate) fn check(&self, what: Check<'_>) -> bool {
        let pass = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(feature = "test-hooks")]
            {
                crate::test_hooks::recheck_started();
                if matches!(what, Check::Full) {
                    crate::test_hooks::full_pass_done(&self.path());
                }
            }
            match (self, what) {
                (Source::Dir(d), Check::Full) => d.lock().recheck(),
                (Source::Dir(d), Check::Names(names)) => d.lock().refresh(names, false),
                (Source::Dir(d), Check::Light) => {
                    let mut d = d.lock();
                    let linked = d.linked_names();
                    // A refusing directory is looked at whole until it reads again.
                    if d.keys().is_none() {
                        d.recheck()
                    } else if linked.is_empty() {
                        false
                    } else {
                        d.refresh(&linked, true)
                    }
                }
                (Source::File(f), Check::Full | Check::Names(_)) => f.lock().recheck(),
                (Source::File(f), Check::Light) => f.lock().light_check(),
            }
        }));
        let changed = match pass {
            Ok(changed) => changed,
            Err(_) => {
                // Refuse first: the log line runs the application's logger, which may
                // panic too.
                let changed = self.mark_broken();
                zlog!(
                    Error,
                    "a source re-check panicked; refusing its clients with 500"
                );
                changed
            }
        };
        if changed {
            self.version_cell().fetch_add(1, Ordering::AcqRel);
        }
        let (ok, kind) = match self {
            Source::Dir(d) => (d.lock().keys().is_some(), "certificate_dir"),
            Source::File(f) => (f.lock().users().is_some(), "password_file"),
        };
        crate::metrics::recheck(kind, ok);
        changed
    }

    /// Refuses everything this source would decide (500) until a re-check succeeds;
    /// true when that is a change.
    fn mark_broken(&self) -> bool {
        match self {
            Source::Dir(d) => d.lock().mark_broken(),
            Source::File(f) => f.lock().mark_broken(),
        }
    }

    /// [`Source::mark_broken`], counted as a change (the watcher then publishes it):
    /// for when the watcher itself failed and cannot confirm what the source grants.
    pub(crate) fn refuse(&self) {
        if self.mark_broken() {
            self.version_cell().fetch_add(1, Ordering::AcqRel);
        }
    }

    fn version_cell(&self) -> &AtomicU64 {
        match self {
            Source::Dir(d) => &d.version,
            Source::File(f) => &f.version,
        }
    }

    /// The version of what it yields (see [`Versioned`]).
    pub(crate) fn version(&self) -> u64 {
        self.version_cell().load(Ordering::Acquire)
    }

    /// Is this the same source (not merely the same path)?
    pub(crate) fn same(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Dir(a), Source::Dir(b)) => Arc::ptr_eq(a, b),
            (Source::File(a), Source::File(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The directory or file, as configured.
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Source::Dir(d) => d.lock().path().to_path_buf(),
            Source::File(f) => f.lock().path().to_path_buf(),
        }
    }

    /// A certificate directory (else a password file)?
    pub(crate) fn is_dir(&self) -> bool {
        matches!(self, Source::Dir(_))
    }
}

/// `path` made absolute (as file events name it), without resolving links.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
