//! What identifies one version of a file, for the cheap change checks of certificate
//! directories and password files.

use std::fs::Metadata;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timestamps come from a coarse kernel clock: a file changed within this window of our
/// read may still show the stamp we saw, so such a file is read again on the next pass.
pub(crate) const GRANULARITY: Duration = Duration::from_millis(100);

/// The window for a file whose stamps are whole seconds: a filesystem with 1-second
/// timestamps (ext4 with 128-byte inodes, ext3, some network filesystems) or FAT's 2
/// seconds, where a rewrite in the same second keeps every stamp.
pub(crate) const COARSE_GRANULARITY: Duration = Duration::from_secs(2);

/// Size, mtime, ctime and identity (device and inode). The inode catches a file renamed
/// over another (or a directory symlink switched) with the same size and an mtime kept by
/// `cp -p`, `rsync -a` or tar; the ctime, which only the kernel sets, catches in-place
/// rewrites that put the old mtime back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    mtime_ns: u64,
    ctime_ns: u64,
    id: u64,
}

fn ns(t: std::io::Result<SystemTime>) -> u64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Stamp {
        #[cfg(unix)]
        let (ctime_ns, id) = {
            use std::os::unix::fs::MetadataExt;
            let secs = u64::try_from(meta.ctime()).unwrap_or(0);
            let nanos = u64::try_from(meta.ctime_nsec()).unwrap_or(0);
            // Folded into one word to keep per-file memory small; a collision needs the
            // same size, mtime and ctime as well.
            (
                secs.saturating_mul(1_000_000_000).saturating_add(nanos),
                identity(meta.dev(), meta.ino()),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, id) = (ns(meta.modified()), 0);
        Stamp {
            len: meta.len(),
            mtime_ns: ns(meta.modified()),
            ctime_ns,
            id,
        }
    }

    /// The file's identity: [`identity`] of its device and inode (0 off Unix).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Could the file have changed, unseen, after a read that started at `read_ns`?
    /// Uses the ctime, which cannot be set back or into the future by tools.
    /// A ctime of whole seconds (all-zero nanoseconds: a chance of one in a billion
    /// elsewhere) means a coarse clock: the window is then [`COARSE_GRANULARITY`].
    pub(crate) fn suspect_after(&self, read_ns: u64) -> bool {
        let window = if self.ctime_ns.is_multiple_of(1_000_000_000) {
            COARSE_GRANULARITY
        } else {
            GRANULARITY
        };
        let window = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        self.ctime_ns.saturating_add(window) >= read_ns
    }
}

/// A file's identity from its device and inode number, as [`Stamp::id`] holds it.
pub(crate) fn identity(dev: u64, ino: u64) -> u64 {
    dev.rotate_left(32) ^ ino
}

/// Now, in nanoseconds since the epoch.
#[must_use]
pub(crate) fn now_ns() -> u64 {
    ns(Ok(SystemTime::now()))
}
