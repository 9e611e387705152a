//! A directory of trusted public certificates, kept in step with the disk cheaply.
//!
//! Every refresh lists the directory and stats every listed file; a file is read again
//! only when its name or inode is new, or its stamp (size, mtime, ctime, inode) moved, or
//! it changed so close to the last pass that a change may hide in the same timestamp.
//! That is the whole change detection: no directory-mtime shortcut, no periodic passes.
//! Reading, stat'ing and parsing are spread over the machine's cores. Refreshes run off
//! the ZAP loop (on the engine's watcher); the keys are published as an immutable
//! [`KeySet`] that a policy snapshot shares.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod changed;

use super::listing::{list_key_files, read_many, Name};
use super::{open_regular, parse_certificate, read_open, read_text, Certificate};
use crate::error::{Error, Result};
use crate::hash::{KeyHash, NameHash};
use crate::key_table::KeyTable;
use crate::stamp::{identity, now_ns, Stamp};
use crate::zap::{encode_metadata, is_reserved_property, is_valid_property_name};

/// Kept per file (96 bytes per table slot with its inline name: most of what a trusted
/// key costs).
struct FileState {
    stamp: Stamp,
    /// `None` when the file did not load (reported once, kept so it is not re-read
    /// until it changes).
    key: Option<[u8; 32]>,
    /// Listed as a symbolic link (or of unknown type): events in the directory do not
    /// tell when its target changes, so the watcher's light checks stat it.
    linked: bool,
}

/// Something wrong with one file of a certificate directory; never fatal.
#[derive(Debug)]
pub(crate) enum Problem {
    /// The file was skipped.
    Skipped(Error),
    /// The file loaded, but a metadata property of it is not passed on.
    MetadataDropped(Error),
    /// The key was already provided by another file.
    Duplicate { file: PathBuf, other: PathBuf },
}

/// What a reader thread keeps of one loaded certificate (the rest is dropped there, so
/// a large directory never holds all its parsed certificates at once).
struct Loaded {
    key: [u8; 32],
    metadata: Option<Arc<[u8]>>,
    problems: Vec<Problem>,
}

/// Files read per batch (see `CertDir::rescan`).
const READ_BATCH: usize = 4096;

/// What a stat found for a file we hold.
enum Check {
    /// Same stamp as when read, and old enough to trust.
    Same,
    /// To be read again.
    Changed,
    /// No longer a regular file, or unreadable (with why, to report).
    Gone(Option<Error>),
}

/// What a reader thread found for one listed file.
enum Outcome {
    /// Not a regular file (after following a link): never read, as before.
    NotRegular,
    /// Could not be stat'ed or opened (a dangling link, permissions).
    Unreadable(Error),
    /// Read; the certificate or why it did not load.
    Read(Stamp, Result<Loaded>),
}

pub(crate) fn reader_panicked(path: &Path) -> Error {
    Error::parse(path, 0, "certificate reader panicked")
}

/// Reads and parses one certificate, keeping only what the store needs. `regular`:
/// the directory entry already says it is a regular file (no stat needed first).
fn load_one(path: &Path, regular: bool) -> Outcome {
    let (file, meta) = match open_regular(path, regular) {
        Ok(Some(opened)) => opened,
        Ok(None) => return Outcome::NotRegular,
        Err(e) => return Outcome::Unreadable(e),
    };
    let stamp = Stamp::of(&meta);
    let loaded = read_open(path, file, meta.len())
        .and_then(|text| parse_certificate(path, &text, true))
        .map(|cert| {
            let mut problems = Vec::new();
            let metadata = encode_cert_metadata(&cert, path, &mut problems);
            Loaded {
                key: cert.public,
                metadata,
                problems,
            }
        });
    Outcome::Read(stamp, loaded)
}

/// The trusted keys of a directory at one moment: what a policy snapshot holds.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    /// Key → number of files providing it (duplicates are allowed, see [`Problem`]).
    keys: KeyTable<NonZeroU32>,
    /// ZMTP-encoded metadata, only for keys whose certificate has some.
    metadata: HashMap<[u8; 32], Arc<[u8]>, KeyHash>,
}

impl KeySet {
    /// `None`: not trusted; else the key's metadata, if its certificate has some.
    #[inline]
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Option<&Arc<[u8]>>> {
        self.keys.get(key)?;
        // Usually no certificate has metadata: then this touches no table.
        Some(self.metadata.get(key))
    }

    /// Large enough that a look-up may wait for memory (see [`KeyTable::is_large`]).
    pub(crate) fn is_large(&self) -> bool {
        self.keys.is_large()
    }

    /// A hint that `key` is about to be looked up (see [`KeyTable::prefetch`]).
    pub(crate) fn prefetch(&self, key: &[u8; 32]) {
        self.keys.prefetch(key);
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// One more file provides `key`; how many do now.
    fn add(&mut self, key: [u8; 32]) -> u32 {
        match self.keys.get_mut(&key) {
            Some(c) => {
                *c = c.saturating_add(1);
                c.get()
            }
            None => {
                self.keys.insert(key, NonZeroU32::MIN);
                1
            }
        }
    }

    /// One file providing `key` went away; true when other files still provide it.
    fn release(&mut self, key: &[u8; 32]) -> bool {
        let Some(count) = self.keys.get_mut(key) else {
            return false;
        };
        match NonZeroU32::new(count.get().saturating_sub(1)) {
            Some(left) => {
                *count = left;
                true
            }
            None => {
                self.keys.remove(key);
                self.metadata.remove(key);
                false
            }
        }
    }
}

/// The trusted keys of one directory, and what is needed to keep them in step with it.
pub(crate) struct CertDir {
    dir: PathBuf,
    /// When the last pass started.
    last_scan_ns: u64,
    /// The directory's device: with a listed inode number, the identity a held file's
    /// stamp must still have (a file renamed over it has another).
    dir_dev: u64,
    files: HashMap<Name, FileState, NameHash>,
    /// The held entries that are symbolic links (few, usually none).
    linked: HashSet<Name, NameHash>,
    /// Shared with the policy snapshots; copied on write when a pass changes it.
    set: Arc<KeySet>,
}

impl CertDir {
    /// Loads `dir`; a missing or unreadable directory is an error.
    pub(crate) fn load(dir: &Path) -> Result<(CertDir, Vec<Problem>)> {
        let mut store = CertDir {
            dir: dir.to_path_buf(),
            last_scan_ns: 0,
            dir_dev: 0,
            files: HashMap::default(),
            linked: HashSet::default(),
            set: Arc::default(),
        };
        let problems = store.rescan()?;
        Ok((store, problems))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    /// The keys as of the last pass (shared, never changed in place).
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.set)
    }

    fn set_mut(&mut self) -> &mut KeySet {
        Arc::make_mut(&mut self.set)
    }

    /// One pass (see the module docs). An error means the directory is gone or
    /// unreadable; problems with single files are returned, never fatal.
    pub(crate) fn refresh(&mut self) -> Result<Vec<Problem>> {
        self.rescan()
    }

    /// Lists the `*.key` files, reads those whose name or inode is new, stats every held
    /// one and reads it again if its stamp moved or may hide a change.
    fn rescan(&mut self) -> Result<Vec<Problem>> {
        let scan_ns = now_ns();
        let dir_meta = std::fs::metadata(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if !dir_meta.is_dir() {
            return Err(Error::io(
                &self.dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        #[cfg(unix)]
        {
            self.dir_dev = std::os::unix::fs::MetadataExt::dev(&dir_meta);
        }
        let mut listed = list_key_files(&self.dir)?;
        let mut problems = Vec::new();

        // Sort the listing into files to check (held, same inode, stamp to compare) and
        // files to read (new name or new inode), in name order.
        let mut check: Vec<(usize, Stamp)> = Vec::new();
        let mut read: Vec<usize> = Vec::new();
        // How many held files are still listed: all of them means none vanished.
        let mut still_listed = 0;
        for (i, entry) in listed.iter().enumerate() {
            if entry.regular == Some(false) {
                continue; // a directory, FIFO or device named *.key: never read
            }
            let held = self.files.get(entry.name.as_bytes());
            still_listed += usize::from(held.is_some());
            match held {
                // Without inode numbers (not Unix) a replaced file is seen by its stamp.
                Some(f) if f.stamp.id() == identity(self.dir_dev, entry.ino) || cfg!(not(unix)) => {
                    check.push((i, f.stamp));
                }
                _ => read.push(i),
            }
        }
        // Phase 1: stat every held file in parallel, compare.
        let last_scan_ns = self.last_scan_ns;
        let (dir, entries) = (&self.dir, &listed);
        let checked = read_many(
            &check,
            |&(i, known)| {
                let path = dir.join(entries[i].name.as_os_str());
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => {
                        let st = Stamp::of(&m);
                        if st == known && !st.suspect_after(last_scan_ns) {
                            Check::Same
                        } else {
                            Check::Changed
                        }
                    }
                    Ok(_) => Check::Gone(None),
                    Err(e) => Check::Gone(Some(Error::io(&path, e))),
                }
            },
            |&(i, _)| {
                Check::Gone(Some(reader_panicked(
                    &dir.join(entries[i].name.as_os_str()),
                )))
            },
        );
        let mut gone: Vec<usize> = Vec::new();
        for (&(i, _), c) in check.iter().zip(checked) {
            match c {
                Check::Same => {}
                Check::Changed => read.push(i),
                Check::Gone(e) => {
                    gone.push(i);
                    problems.extend(e.map(Problem::Skipped));
                }
            }
        }
        drop(check);
        read.sort_unstable();

        // Phase 2: forget files that vanished or are no longer what we read.
        let mut stale: Vec<Name> = if still_listed == self.files.len() {
            Vec::new()
        } else {
            let present: HashSet<&[u8]> = listed
                .iter()
                .filter(|e| e.regular != Some(false))
                .map(|e| e.name.as_bytes())
                .collect();
            self.files
                .keys()
                .filter(|n| !present.contains(n.as_bytes()))
                .cloned()
                .collect()
        };
        for &i in read.iter().chain(&gone) {
            let name = &listed[i].name;
            if self.files.contains_key(name.as_bytes()) {
                stale.push(name.clone());
            }
        }
        // Keys whose set of providing files changed while others remain: their metadata
        // must come from a file that is still there.
        let mut touched: HashSet<[u8; 32]> = HashSet::new();
        for name in stale {
            self.forget(name.as_bytes(), &mut touched);
        }

        // Phase 3: read in batches (parallel within each), so that however large the
        // directory, only one batch of results is ever held: the load leaves little
        // freed memory behind.
        self.files.reserve(read.len());
        if !read.is_empty() {
            self.set_mut().keys.reserve(read.len());
        }
        for batch in read.chunks(READ_BATCH) {
            let outcomes = read_many(
                batch,
                |&i| {
                    let entry = &listed[i];
                    load_one(
                        &self.dir.join(entry.name.as_os_str()),
                        entry.regular == Some(true),
                    )
                },
                |&i| {
                    Outcome::Unreadable(reader_panicked(&self.dir.join(listed[i].name.as_os_str())))
                },
            );
            for (&i, outcome) in batch.iter().zip(outcomes) {
                let entry = &mut listed[i];
                let linked = entry.regular.is_none();
                // The listed name becomes the table's key: no copy.
                let name = std::mem::take(&mut entry.name);
                self.admit(name, outcome, linked, &mut problems, &mut touched);
            }
        }
        drop(listed);
        self.settle(touched, &mut problems);
        self.last_scan_ns = scan_ns;
        Ok(problems)
    }

    /// Drops a held file from the table; its key goes when no other file provides it
    /// (else the key is `touched`: its metadata may have come from this file).
    fn forget(&mut self, name: &[u8], touched: &mut HashSet<[u8; 32]>) {
        if let Some(old) = self.files.remove(name) {
            if old.linked {
                self.linked.remove(name);
            }
            if let Some(key) = old.key {
                if self.release(&key) {
                    touched.insert(key);
                }
            }
        }
    }

    /// Enters what a reader found for `name` (not held: forgotten before).
    fn admit(
        &mut self,
        name: Name,
        outcome: Outcome,
        linked: bool,
        problems: &mut Vec<Problem>,
        touched: &mut HashSet<[u8; 32]>,
    ) {
        let (stamp, loaded) = match outcome {
            Outcome::NotRegular => return,
            Outcome::Unreadable(e) => {
                problems.push(Problem::Skipped(e));
                return;
            }
            Outcome::Read(stamp, loaded) => (stamp, loaded),
        };
        let key = match loaded {
            Ok(loaded) => {
                let key = loaded.key;
                let count = self.set_mut().add(key);
                if count > 1 {
                    let other = self
                        .files
                        .iter()
                        .find(|(_, f)| f.key == Some(key))
                        .map(|(n, _)| self.dir.join(n.as_os_str()))
                        .unwrap_or_default();
                    problems.push(Problem::Duplicate {
                        file: self.dir.join(name.as_os_str()),
                        other,
                    });
                    touched.insert(key);
                } else {
                    problems.extend(loaded.problems);
                    let set = self.set_mut();
                    match loaded.metadata {
                        Some(m) => set.metadata.insert(key, m),
                        None => set.metadata.remove(&key),
                    };
                }
                Some(key)
            }
            Err(e) => {
                problems.push(Problem::Skipped(e));
                None
            }
        };
        if linked {
            self.linked.insert(name.clone());
        }
        self.files.insert(name, FileState { stamp, key, linked });
    }

    /// Rare (duplicate keys only): the first remaining file by name supplies the
    /// metadata of a key whose set of providing files changed.
    fn settle(&mut self, touched: HashSet<[u8; 32]>, problems: &mut Vec<Problem>) {
        for key in touched {
            let first = self
                .files
                .iter()
                .filter(|(_, f)| f.key == Some(key))
                .map(|(n, _)| n)
                .min()
                .map(|n| self.dir.join(n.as_os_str()));
            let Some(path) = first else { continue };
            match read_text(&path).and_then(|t| parse_certificate(&path, &t, true)) {
                Ok(cert) if cert.public == key => self.set_metadata(key, &cert, &path, problems),
                // Changed under our feet: the next pass sees the new stamp and re-reads it.
                Ok(_) => {
                    self.set_mut().metadata.remove(&key);
                }
                Err(e) => {
                    self.set_mut().metadata.remove(&key);
                    problems.push(Problem::Skipped(e));
                }
            }
        }
    }

    /// One file providing `key` went away; true when other files still provide it.
    fn release(&mut self, key: &[u8; 32]) -> bool {
        self.set_mut().release(key)
    }

    fn set_metadata(
        &mut self,
        key: [u8; 32],
        cert: &Certificate,
        path: &Path,
        problems: &mut Vec<Problem>,
    ) {
        let metadata = encode_cert_metadata(cert, path, problems);
        let set = self.set_mut();
        match metadata {
            Some(m) => set.metadata.insert(key, m),
            None => set.metadata.remove(&key),
        };
    }
}

/// ZMTP metadata for a certificate, without the names a certificate must not set
/// (reported) and without names ZMTP cannot carry (reported).
fn encode_cert_metadata(
    cert: &Certificate,
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Arc<[u8]>> {
    let mut props: Vec<(&str, &str)> = Vec::new();
    for (n, v) in cert.metadata() {
        if is_reserved_property(n) || !is_valid_property_name(n) {
            problems.push(Problem::MetadataDropped(Error::invalid_metadata(
                n.as_str(),
                format!(
                    "in {}: reserved or not a ZMTP property name; not sent",
                    path.display()
                ),
            )));
        } else {
            props.push((n.as_str(), v.as_str()));
        }
    }
    if props.is_empty() {
        return None;
    }
    // Names were checked above and values are bounded by the 1 MiB file limit.
    encode_metadata(&props).ok().map(Arc::from)
}
