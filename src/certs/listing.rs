//! Listing a certificate directory without stat'ing it, and running per-file work on
//! every core.

use std::borrow::Borrow;
use std::ffi::OsStr;
use std::hash::{Hash, Hasher};
use std::path::Path;

use crate::error::{Error, Result};

/// A file name, inline when short (as certificate names are: `client-000123.key`), so
/// that a table of 100,000 names holds no heap block per name. Hashes, compares and
/// borrows as its bytes.
#[derive(Clone)]
pub(crate) enum Name {
    Inline(u8, [u8; 22]),
    Heap(Box<[u8]>),
}

impl Name {
    pub(crate) fn new(name: &OsStr) -> Name {
        let bytes = name.as_encoded_bytes();
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= 22 => {
                let mut buf = [0u8; 22];
                buf[..bytes.len()].copy_from_slice(bytes);
                Name::Inline(len, buf)
            }
            _ => Name::Heap(bytes.into()),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline(len, buf) => &buf[..usize::from(*len)],
            Name::Heap(b) => b,
        }
    }

    pub(crate) fn as_os_str(&self) -> &OsStr {
        // SAFETY: the bytes are exactly those `OsStr::as_encoded_bytes` gave in `new`.
        unsafe { OsStr::from_encoded_bytes_unchecked(self.as_bytes()) }
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::Inline(0, [0; 22])
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that lookups by `&[u8]` (see `Borrow`) find it.
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// One `*.key` entry of a directory, as listed (nothing stat'ed).
pub(crate) struct Listed {
    pub(crate) name: Name,
    /// The entry's inode number (0 where the platform has none).
    pub(crate) ino: u64,
    /// From the entry's type: `Some(true)` a regular file, `Some(false)` something never
    /// read (directory, FIFO, socket, device), `None` a symbolic link or unknown: stat it.
    pub(crate) regular: Option<bool>,
}

/// Lists the `*.key` files (not `*.key_secret`) directly inside `dir`, sorted by name.
/// Uses only what the directory entries say (one `getdents` per few hundred files).
pub(crate) fn list_key_files(dir: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if Path::new(&name).extension().is_none_or(|x| x != "key") {
            continue;
        }
        // Where the entry has no type (some filesystems), this stats it.
        let regular = match entry.file_type() {
            Ok(t) if t.is_file() => Some(true),
            Ok(t) if t.is_symlink() => None,
            Ok(_) => Some(false),
            Err(_) => None,
        };
        #[cfg(unix)]
        let ino = std::os::unix::fs::DirEntryExt::ino(&entry);
        #[cfg(not(unix))]
        let ino = 0;
        out.push(Listed {
            name: Name::new(&name),
            ino,
            regular,
        });
    }
    // Byte order: what sorting the paths gave, far cheaper than comparing components.
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Runs `work` on every item, spreading the items over the machine's cores (parsing and
/// stat'ing hide behind each other's I/O); results come back in item order. A refused
/// thread (process thread limit) is no reason to fail: its chunk runs here instead. The
/// work never panics by design; should a reader thread panic all the same, its items get
/// `panicked(item)` (an error to report) instead of taking the caller down.
pub(crate) fn read_many<I, T, F, P>(items: &[I], work: F, panicked: P) -> Vec<T>
where
    I: Sync,
    T: Send,
    F: Fn(&I) -> T + Sync,
    P: Fn(&I) -> T,
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if items.len() < 64 || workers < 2 {
        return items.iter().map(&work).collect();
    }
    let chunk = items.len().div_ceil(workers);
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                let h = std::thread::Builder::new()
                    .name("zmq-auth-certs".into())
                    .spawn_scoped(s, move || c.iter().map(work).collect::<Vec<_>>())
                    .ok();
                (c, h)
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for (c, h) in handles {
            match h.map(|h| h.join()) {
                Some(Ok(v)) => out.extend(v),
                None => out.extend(c.iter().map(work)),
                Some(Err(_)) => out.extend(c.iter().map(&panicked)),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn names_hash_and_borrow_as_bytes() {
        let short = Name::new(OsStr::new("client000001.key"));
        let long = Name::new(OsStr::new("a-rather-long-certificate-name.key"));
        assert!(matches!(short, Name::Inline(..)));
        assert!(matches!(long, Name::Heap(..)));
        let mut m: HashMap<Name, u32> = HashMap::new();
        m.insert(short.clone(), 1);
        m.insert(long.clone(), 2);
        assert_eq!(m.get(&b"client000001.key"[..]), Some(&1));
        assert_eq!(m.get(long.as_bytes()), Some(&2));
        assert_eq!(long.as_os_str(), "a-rather-long-certificate-name.key");
        assert!(short < Name::new(OsStr::new("client000002.key")));
        assert_eq!(std::mem::size_of::<Name>(), 24);
    }

    #[test]
    fn read_many_keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = read_many(&items, |x| x * 2, |_| u32::MAX);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}
