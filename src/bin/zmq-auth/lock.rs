//! Exclusive edits: every change the tool makes to a password file or a trusted-key
//! directory happens under an exclusive `flock` on the directory that holds it, as a
//! read, modify, atomic-rename cycle; and a new file never replaces one that another
//! program created meanwhile.
//!
//! The lock is taken on the directory itself rather than on a lock file beside the
//! target: a lock file would be litter in a trusted directory and beside every password
//! file, and could not be removed safely (a run waiting on the unlinked inode would
//! proceed beside one that locked a new file). A directory can be opened read-only and
//! locked like a file (Linux, the BSDs, macOS). Only where a filesystem cannot lock a
//! directory (NFS) is a lock file used, inside the directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Fail;

/// How long to wait for another run's edit before giving up. An edit holds the lock for
/// milliseconds (the slow step, hashing a password, is done before it is taken).
const WAIT: Duration = Duration::from_secs(30);

/// An exclusive lock on a directory, released when dropped (when its descriptor closes).
pub(crate) struct DirLock {
    _held: fs::File,
}

/// The name of the lock file used where a directory cannot be locked itself.
const FALLBACK: &str = ".zmq-auth.lock";

impl DirLock {
    /// Locks `dir` exclusively, waiting up to [`WAIT`] for another holder. Where the
    /// filesystem cannot lock a directory (NFS emulates `flock` with byte-range locks,
    /// which need a file open for writing), a lock file in it, [`FALLBACK`], is locked
    /// instead (and left there: removing it would let two runs lock different files).
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, Fail> {
        let file = fs::File::open(dir)
            .map_err(|e| Fail(format!("{}: cannot open to lock it: {e}", dir.display())))?;
        match wait_for_lock(&file, dir) {
            Ok(()) => return Ok(DirLock { _held: file }),
            Err(Wait::Failed(e)) if cannot_lock_here(&e) => {}
            Err(e) => return Err(e.into_fail(dir)),
        }
        let path = dir.join(FALLBACK);
        let mut opts = fs::OpenOptions::new();
        opts.read(true).write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&path)
            .map_err(|e| Fail(format!("{}: cannot open to lock it: {e}", path.display())))?;
        wait_for_lock(&file, dir).map_err(|e| e.into_fail(dir))?;
        Ok(DirLock { _held: file })
    }
}

/// Why no lock was taken.
enum Wait {
    /// Another holder kept it past [`WAIT`].
    TimedOut,
    /// `flock` failed.
    Failed(std::io::Error),
}

impl Wait {
    fn into_fail(self, dir: &Path) -> Fail {
        match self {
            Wait::TimedOut => Fail(format!(
                "{}: another process has been editing it for {}s (it holds the directory's \
                 lock); nothing changed",
                dir.display(),
                WAIT.as_secs()
            )),
            Wait::Failed(e) => Fail(format!("{}: cannot lock: {e}", dir.display())),
        }
    }
}

/// Errors that mean "this filesystem cannot lock a directory descriptor".
#[cfg(unix)]
fn cannot_lock_here(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::ENOLCK | libc::EINVAL | libc::EOPNOTSUPP)
    )
}

#[cfg(not(unix))]
fn cannot_lock_here(_e: &std::io::Error) -> bool {
    false
}

#[cfg(unix)]
fn wait_for_lock(file: &fs::File, dir: &Path) -> Result<(), Wait> {
    use std::os::unix::io::AsRawFd as _;
    let start = Instant::now();
    let mut told = false;
    loop {
        // SAFETY: flock on a descriptor the caller owns and keeps open.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(Wait::Failed(e));
        }
        let waited = start.elapsed();
        if waited >= WAIT {
            return Err(Wait::TimedOut);
        }
        if !told && waited >= Duration::from_secs(1) {
            tell!("zmq-auth: waiting for another edit of {}", dir.display());
            told = true;
        }
        // A retry interval while another run edits (milliseconds), not a correctness
        // mechanism: the lock is what orders the edits.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(not(unix))]
fn wait_for_lock(_file: &fs::File, _dir: &Path) -> Result<(), Wait> {
    Ok(())
}

/// The directory a file lives in (`.` for a bare name).
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Moves the finished temporary file `tmp` to `target`, which must not exist: never
/// replaces a file another program created meanwhile (`AlreadyExists` then, and `tmp`
/// is left for the caller to remove). `renameat2(RENAME_NOREPLACE)` where the kernel
/// and filesystem have it, else a hard link and an unlink; either way a reader sees no
/// file or the whole file.
pub(crate) fn place_new(tmp: &Path, target: &Path) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match rename_noreplace(tmp, target) {
        Ok(()) => return Ok(()),
        // Not supported here (an old kernel, some filesystems): fall back.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
        Err(e) => return Err(e),
    }
    fs::hard_link(tmp, target)?;
    // The link is in place; a leftover temporary name would only be litter.
    let _ = fs::remove_file(tmp);
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: two NUL-terminated paths that live across the call; AT_FDCWD resolves
    // them as open(2) would.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
