//! What reads the world: certificate directories and password files. Each is loaded
//! once at configuration (strictly: a bad entry is an error returned to the caller) and
//! re-checked later off the ZAP loop (leniently: a bad entry admits no one and the rest
//! applies; an unreadable source refuses everything it would decide). A re-check never
//! keeps old grants it can no longer confirm.

mod cert_dir;
mod password_file;

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
    pub(crate) fn recheck(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::recheck_started();
        let (changed, ok, kind) = match self {
            Source::Dir(d) => {
                let mut d = d.lock();
                (d.recheck(), d.keys().is_some(), "certificate_dir")
            }
            Source::File(f) => {
                let mut f = f.lock();
                (f.recheck(), f.users().is_some(), "password_file")
            }
        };
        crate::metrics::recheck(kind, ok);
        changed
    }
}
