//! A directory of trusted public certificates, kept in step with the disk cheaply.
//!
//! Lookups are one hash probe. A refresh stats the directory; only when it changed (or
//! a periodic full pass is due) are the files listed and stat'ed, and only new or
//! changed files are read again.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{list_key_files, parse_certificate, read_text, Certificate};
use crate::error::{Error, Result};
use crate::stamp::{now_ns, Stamp};
use crate::zap::{encode_metadata, is_reserved_property, is_valid_property_name};

/// Even with an unchanged directory mtime, list and stat every file this often, to catch
/// certificates edited in place.
const FULL_PASS_EVERY: u32 = 5;

/// Reads and parses certificate files, spreading the work over the machine's cores:
/// parsing hides behind I/O.
pub(crate) fn read_many(paths: &[PathBuf]) -> Vec<Result<Certificate>> {
    let load = |p: &PathBuf| read_text(p).and_then(|t| parse_certificate(p, &t, true));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if paths.len() < 64 || workers < 2 {
        return paths.iter().map(load).collect();
    }
    let chunk = paths.len().div_ceil(workers);
    std::thread::scope(|s| {
        // A refused thread (process thread limit) is no reason to fail: read that
        // chunk here instead.
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|c| {
                let h = std::thread::Builder::new()
                    .name("zmq-auth-certs".into())
                    .spawn_scoped(s, move || c.iter().map(load).collect::<Vec<_>>())
                    .ok();
                (c, h)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(c, h)| match h.map(|h| h.join()) {
                Some(Ok(v)) => v,
                None => c.iter().map(load).collect(),
                // Parsing never panics by design; should it, report every file of the
                // chunk (results must stay in step with `paths`).
                Some(Err(_)) => c
                    .iter()
                    .map(|p| Err(Error::parse(p, 0, "certificate reader panicked")))
                    .collect(),
            })
            .collect()
    })
}

struct FileState {
    stamp: Stamp,
    /// `None` when the file did not load (reported once, kept so it is not re-read
    /// until it changes).
    key: Option<[u8; 32]>,
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

/// The trusted keys of one directory.
pub(crate) struct CertDir {
    dir: PathBuf,
    dir_stamp: Option<Stamp>,
    passes: u32,
    /// When the last full pass started, and whether any file looked suspect then.
    last_scan_ns: u64,
    any_suspect: bool,
    files: HashMap<OsString, FileState>,
    /// Key → number of files providing it (duplicates are allowed, see [`Problem`]).
    keys: HashMap<[u8; 32], u32>,
    /// ZMTP-encoded metadata, only for keys whose certificate has some.
    metadata: HashMap<[u8; 32], Arc<[u8]>>,
}

impl CertDir {
    /// Loads `dir`; a missing or unreadable directory is an error.
    pub(crate) fn load(dir: &Path) -> Result<(CertDir, Vec<Problem>)> {
        let mut store = CertDir {
            dir: dir.to_path_buf(),
            dir_stamp: None,
            passes: 0,
            last_scan_ns: 0,
            any_suspect: false,
            files: HashMap::new(),
            keys: HashMap::new(),
            metadata: HashMap::new(),
        };
        let problems = store.rescan()?;
        Ok((store, problems))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains_key(key)
    }

    pub(crate) fn metadata(&self, key: &[u8; 32]) -> Option<&Arc<[u8]>> {
        self.metadata.get(key)
    }

    /// The cheap check: stat the directory, rescan only when it changed (or a periodic
    /// full pass is due). An error means the directory is gone or unreadable.
    pub(crate) fn refresh(&mut self) -> Result<Vec<Problem>> {
        let meta = std::fs::metadata(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let stamp = Stamp::of(&meta);
        self.passes += 1;
        let due = self.passes >= FULL_PASS_EVERY
            || self.any_suspect
            || stamp.suspect_after(self.last_scan_ns);
        if Some(stamp) == self.dir_stamp && !due {
            return Ok(Vec::new());
        }
        self.rescan()
    }

    /// Lists and stats every `*.key` file; reads only new, changed or recent ones.
    fn rescan(&mut self) -> Result<Vec<Problem>> {
        self.passes = 0;
        let scan_ns = now_ns();
        let dir_meta = std::fs::metadata(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        if !dir_meta.is_dir() {
            return Err(Error::io(
                &self.dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let stamp = Stamp::of(&dir_meta);
        let listed = list_key_files(&self.dir)?;
        let mut problems = Vec::new();
        let mut seen: HashMap<OsString, Stamp> = HashMap::with_capacity(listed.len());
        let mut to_read = Vec::new();
        let mut reread: HashSet<OsString> = HashSet::new();
        let mut any_suspect = false;
        for path in listed {
            let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
                continue;
            };
            // Follows symlinks; a dangling link or loop is reported, never followed forever.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    let st = Stamp::of(&m);
                    let unchanged = self
                        .files
                        .get(&name)
                        .is_some_and(|f| f.stamp == st && !st.suspect_after(self.last_scan_ns));
                    any_suspect |= st.suspect_after(scan_ns);
                    if !unchanged {
                        reread.insert(name.clone());
                        to_read.push(path);
                    }
                    seen.insert(name, st);
                }
                Ok(_) => {}
                Err(e) => problems.push(Problem::Skipped(Error::io(&path, e))),
            }
        }
        // Forget files that vanished or will be re-read.
        let stale: Vec<OsString> = self
            .files
            .keys()
            .filter(|n| !seen.contains_key(*n) || reread.contains(*n))
            .cloned()
            .collect();
        // Keys whose set of providing files changed while others remain: their metadata
        // must come from a file that is still there.
        let mut touched: HashSet<[u8; 32]> = HashSet::new();
        for name in stale {
            if let Some(old) = self.files.remove(&name) {
                if let Some(key) = old.key {
                    if self.release(&key) {
                        touched.insert(key);
                    }
                }
            }
        }
        let loaded = read_many(&to_read);
        for (path, cert) in to_read.iter().zip(loaded) {
            let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
                continue;
            };
            let Some(st) = seen.get(&name).copied() else {
                continue;
            };
            let key = match cert {
                Ok(cert) => {
                    let key = cert.public;
                    let count = self.keys.entry(key).or_insert(0);
                    *count += 1;
                    if *count > 1 {
                        let other = self
                            .files
                            .iter()
                            .find(|(_, f)| f.key == Some(key))
                            .map(|(n, _)| self.dir.join(n))
                            .unwrap_or_default();
                        problems.push(Problem::Duplicate {
                            file: path.clone(),
                            other,
                        });
                        touched.insert(key);
                    } else {
                        self.set_metadata(key, &cert, path, &mut problems);
                    }
                    Some(key)
                }
                Err(e) => {
                    problems.push(Problem::Skipped(e));
                    None
                }
            };
            self.files.insert(name, FileState { stamp: st, key });
        }
        // Rare (duplicate keys only): the first remaining file by name supplies metadata.
        for key in touched {
            let first = self
                .files
                .iter()
                .filter(|(_, f)| f.key == Some(key))
                .map(|(n, _)| n)
                .min()
                .map(|n| self.dir.join(n));
            let Some(path) = first else { continue };
            match read_text(&path).and_then(|t| parse_certificate(&path, &t, true)) {
                Ok(cert) if cert.public == key => {
                    self.set_metadata(key, &cert, &path, &mut problems)
                }
                // Changed under our feet: the next pass sees the new stamp and re-reads it.
                Ok(_) => {
                    self.metadata.remove(&key);
                }
                Err(e) => {
                    self.metadata.remove(&key);
                    problems.push(Problem::Skipped(e));
                }
            }
        }
        self.dir_stamp = Some(stamp);
        self.last_scan_ns = scan_ns;
        self.any_suspect = any_suspect || stamp.suspect_after(scan_ns);
        Ok(problems)
    }

    /// One file providing `key` went away; true when other files still provide it.
    fn release(&mut self, key: &[u8; 32]) -> bool {
        let Some(count) = self.keys.get_mut(key) else {
            return false;
        };
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.keys.remove(key);
            self.metadata.remove(key);
            return false;
        }
        true
    }

    fn set_metadata(
        &mut self,
        key: [u8; 32],
        cert: &Certificate,
        path: &Path,
        problems: &mut Vec<Problem>,
    ) {
        match encode_cert_metadata(cert, path, problems) {
            Some(m) => self.metadata.insert(key, m),
            None => self.metadata.remove(&key),
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
            problems.push(Problem::MetadataDropped(Error::InvalidMetadata {
                name: n.clone(),
                reason: format!(
                    "in {}: reserved or not a ZMTP property name; not sent",
                    path.display()
                ),
            }));
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
