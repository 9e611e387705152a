//! Which filesystem a source is on: on a network filesystem a change made by another
//! machine raises no file event here, so such sources are polled.

use std::path::Path;

/// The name of the network filesystem `path` is on, or `None` (local, or unknown).
/// Linux: `statfs` magic numbers (NFS, SMB/CIFS, FUSE, Ceph, AFS, 9P, Lustre, GFS2,
/// OCFS2, GPFS); FUSE is counted as remote since sshfs and the like are. Elsewhere
/// `None`: events are trusted, and `WatchMode::Polling` is the explicit choice.
pub(crate) fn network_fs(path: &Path) -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: `c` is NUL-terminated; `st` is plain data the call fills in.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call.
        if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        let magic = (st.f_type as u64) & 0xFFFF_FFFF;
        name_of(magic)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// The network filesystem a `statfs` magic number names.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn name_of(magic: u64) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "nfs",
        0x517B => "smb",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x6573_5546 => "fuse",
        0x00C3_6400 => "ceph",
        0x5346_414F => "afs",
        0x0102_1997 => "9p",
        0x0BD0_0BD0 => "lustre",
        0x0116_1970 => "gfs2",
        0x7461_636F => "ocfs2",
        0x4750_4653 => "gpfs",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(name_of(0x6969), Some("nfs"));
        assert_eq!(name_of(0xFF53_4D42), Some("cifs"));
        assert_eq!(name_of(0xEF53), None); // ext4
        assert_eq!(name_of(0x0102_1994), None); // tmpfs
    }

    #[test]
    fn local_directories_are_not_network() {
        let dir = std::env::temp_dir();
        // The machines this runs on keep /tmp local; the call must not fail either way.
        let _ = network_fs(&dir);
        assert_eq!(network_fs(Path::new("/no/such/path")), None);
    }
}
