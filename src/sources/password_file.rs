//! A `name=password` file as a source of PLAIN users.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;
use crate::plain::UserMap;
use crate::stamp::{now_ns, Stamp};

/// A password file and what it yields now: its users, or nothing (refuse with 500)
/// while it cannot be read. Deleting the file revokes its users.
pub(crate) struct PasswordFile {
    path: PathBuf,
    users: Option<Arc<UserMap>>,
    /// The file's stamp just before the last read, and when that read started: what a
    /// light check compares (`None`: re-read at the next one).
    seen: Option<(Stamp, u64)>,
}

impl PasswordFile {
    /// Loads `path` strictly: unreadable, or any doubtful line, is an error.
    pub(crate) fn load(path: &Path) -> Result<PasswordFile> {
        let seen = stamp_now(path);
        let text = crate::certs::read_text(path)?;
        let (users, _) = UserMap::parse_file(path, &text, true)?;
        Ok(PasswordFile {
            path: path.to_path_buf(),
            users: Some(Arc::new(users)),
            seen,
        })
    }

    /// Re-reads the file only when its stamp moved since the last read, or may hide a
    /// change (see [`Stamp::suspect_after`]), or it could not be read then. For the
    /// event-driven watcher's periodic look (events normally say when to re-read).
    pub(crate) fn light_check(&mut self) -> bool {
        match (self.seen, stamp_now(&self.path)) {
            (Some((then, read_ns)), Some((now, _)))
                if self.users.is_some() && then == now && !now.suspect_after(read_ns) =>
            {
                false
            }
            _ => self.recheck(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The users now, or `None` while the file cannot be read.
    pub(crate) fn users(&self) -> Option<Arc<UserMap>> {
        self.users.clone()
    }

    /// Refuses everything until the next good read; true when that is a change.
    pub(crate) fn mark_broken(&mut self) -> bool {
        self.users.take().is_some()
    }

    /// Reads the file again (it is small: at most 1 MiB, the guarded reader's limit) and
    /// compares what it yields; true when that changed. No timestamps are trusted, so a
    /// rewrite that keeps size, mtime and inode is seen too.
    pub(crate) fn recheck(&mut self) -> bool {
        self.seen = stamp_now(&self.path);
        let next = match crate::certs::read_text(&self.path) {
            Ok(text) => match UserMap::parse_file(&self.path, &text, false) {
                Ok((users, problems)) => {
                    for p in &problems {
                        zlog!(Warn, "password file entry ignored (admits no one): {p}");
                    }
                    Some(users)
                }
                Err(e) => {
                    zlog!(Error, "password file unusable: {e}");
                    None
                }
            },
            Err(e) => {
                if self.users.is_some() {
                    zlog!(
                        Error,
                        "password file unreadable, refusing its PLAIN clients with 500: {e}"
                    );
                }
                None
            }
        };
        let changed = match (&self.users, &next) {
            (Some(a), Some(b)) => **a != *b,
            (None, None) => false,
            _ => true,
        };
        if changed {
            match (&self.users, &next) {
                (None, _) => zlog!(Warn, "password file {} readable again", self.path.display()),
                (Some(_), Some(users)) => zlog!(
                    Debug,
                    "reloaded password file {} ({} users)",
                    self.path.display(),
                    users.len()
                ),
                (Some(_), None) => {}
            }
            self.users = next.map(Arc::new);
        }
        changed
    }
}

/// The file's stamp now (following links) and the time, or `None` when it cannot be
/// stat'ed.
fn stamp_now(path: &Path) -> Option<(Stamp, u64)> {
    let read_ns = now_ns();
    std::fs::metadata(path)
        .ok()
        .map(|m| (Stamp::of(&m), read_ns))
}
