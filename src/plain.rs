//! PLAIN passwords for one domain: a map given by the caller, or a password file that
//! is read again when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ct;
use crate::error::{Error, Result};
use crate::hash::KeyHash;
use crate::stamp::{now_ns, Stamp};

/// Compared against when the user does not exist, so a missing user costs about as much
/// as a wrong password and never matches (not even an empty password).
const DUMMY: &[u8] = b"\x00zmq-auth: no such user, never equal to any password\x00";

/// Outcome of a password check, mapped to a status text by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainCheck<'a> {
    /// The user name (valid UTF-8, as every configured name is).
    Ok(&'a str),
    UnknownUser,
    WrongPassword,
}

struct FileSource {
    path: PathBuf,
    stamp: Option<Stamp>,
    /// When we last read the file (ns since the epoch).
    read_at: u64,
    last_check: Instant,
}

impl FileSource {
    /// Could the file have changed after our read without its stamp showing it?
    fn suspect(&self) -> bool {
        self.stamp.is_some_and(|s| s.suspect_after(self.read_at))
    }
}

/// The passwords of one domain.
pub(crate) struct Passwords {
    /// Probed with peer-chosen names, filled only from configuration: see [`KeyHash`].
    users: HashMap<String, String, KeyHash>,
    file: Option<FileSource>,
}

impl Passwords {
    pub(crate) fn from_map(users: HashMap<String, String>) -> Passwords {
        Passwords {
            users: users.into_iter().collect(),
            file: None,
        }
    }

    /// Loads a `name=password` file; any malformed line is an error and nothing loads.
    pub(crate) fn from_file(path: &Path) -> Result<Passwords> {
        let read_at = now_ns();
        let (users, stamp) = read_password_file(path)?;
        Ok(Passwords {
            users,
            file: Some(FileSource {
                path: path.to_path_buf(),
                stamp: Some(stamp),
                read_at,
                last_check: Instant::now(),
            }),
        })
    }

    /// Re-reads the file when it changed, at most once per `interval`. A file that
    /// became unreadable or malformed keeps the previous passwords (and says so).
    pub(crate) fn refresh(&mut self, interval: Duration) {
        let Some(src) = self.file.as_mut() else {
            return;
        };
        if src.last_check.elapsed() < interval {
            return;
        }
        src.last_check = Instant::now();
        let stamp = std::fs::metadata(&src.path).ok().map(|m| Stamp::of(&m));
        if (stamp == src.stamp && !src.suspect()) || stamp.is_none() {
            if stamp.is_none() && src.stamp.is_some() {
                zlog!(
                    Warn,
                    "password file {} is gone; keeping its last passwords",
                    src.path.display()
                );
                src.stamp = None;
            }
            return;
        }
        src.read_at = now_ns();
        match read_password_file(&src.path) {
            Ok((users, stamp)) => {
                zlog!(
                    Debug,
                    "reloaded password file {} ({} users)",
                    src.path.display(),
                    users.len()
                );
                self.users = users;
                src.stamp = Some(stamp);
            }
            Err(e) => {
                zlog!(Warn, "keeping previous passwords: {e}");
                src.stamp = stamp;
            }
        }
    }

    pub(crate) fn check<'a>(&self, username: &'a [u8], password: &[u8]) -> PlainCheck<'a> {
        let user = std::str::from_utf8(username)
            .ok()
            .and_then(|u| self.users.get(u).map(|p| (u, p)));
        match user {
            Some((name, expected)) if ct::eq(password, expected.as_bytes()) => PlainCheck::Ok(name),
            Some(_) => PlainCheck::WrongPassword,
            None => {
                let _ = ct::eq(password, DUMMY);
                PlainCheck::UnknownUser
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }
}

/// Parses `name=password` lines; `#` starts a comment line; blank lines are skipped.
/// Names and passwords are trimmed of surrounding whitespace. Error messages carry the
/// line number, never the line (it holds a password).
fn read_password_file(path: &Path) -> Result<(HashMap<String, String, KeyHash>, Stamp)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    // Same guarded reader as certificates: regular files only, at most 1 MiB.
    let text = crate::certs::read_text(path)?;
    let mut users = HashMap::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A line without `=` may be a password that lost its name.
        #[cfg(zmq_auth_audit)]
        crate::audit::password(
            line.split_once('=')
                .map_or(line, |(_, p)| p.trim())
                .as_bytes(),
        );
        let Some((name, password)) = line.split_once('=') else {
            return Err(Error::parse(path, i + 1, "expected name=password"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::parse(path, i + 1, "empty user name"));
        }
        if users
            .insert(name.to_string(), password.trim().to_string())
            .is_some()
        {
            return Err(Error::parse(
                path,
                i + 1,
                format!("user {name:?} listed twice"),
            ));
        }
    }
    Ok((users, Stamp::of(&meta)))
}
