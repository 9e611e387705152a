//! What reads the world: certificate directories and password files. Each is loaded
//! once at configuration (strictly: a bad entry is an error returned to the caller) and
//! re-checked later off the ZAP loop (leniently: a bad entry admits no one and the rest
//! applies; an unreadable source refuses everything it would decide). A re-check never
//! keeps old grants it can no longer confirm.

mod cert_dir;
mod password_file;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use cert_dir::DirSource;
pub(crate) use password_file::PasswordFile;

/// A configured source, shared by every copy of the configuration that names it.
#[derive(Clone)]
pub(crate) enum Source {
    Dir(Arc<Mutex<DirSource>>),
    File(Arc<Mutex<PasswordFile>>),
}

impl Source {
    /// Re-checks the source; true when what it yields changed.
    ///
    /// A panic inside (a bug of ours, a logger's) makes the source broken: it refuses
    /// with 500 until a later re-check succeeds, instead of keeping what it granted.
    pub(crate) fn recheck(&self) -> bool {
        let pass = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(feature = "test-hooks")]
            crate::test_hooks::recheck_started();
            match self {
                Source::Dir(d) => d.lock().recheck(),
                Source::File(f) => f.lock().recheck(),
            }
        }));
        let changed = match pass {
            Ok(changed) => changed,
            Err(_) => {
                zlog!(
                    Error,
                    "a source re-check panicked; refusing its clients with 500"
                );
                match self {
                    Source::Dir(d) => d.lock().mark_broken(),
                    Source::File(f) => f.lock().mark_broken(),
                }
            }
        };
        let (ok, kind) = match self {
            Source::Dir(d) => (d.lock().keys().is_some(), "certificate_dir"),
            Source::File(f) => (f.lock().users().is_some(), "password_file"),
        };
        crate::metrics::recheck(kind, ok);
        changed
    }
}
