//! PLAIN users of one domain: an immutable name → password map, built from a caller's
//! list (strictly: any doubtful entry is an error) or from the text of a password file
//! (strictly at configuration, leniently at a re-check: a doubtful entry admits no one
//! and the rest applies). Pure: reading the file is the source's job (`sources/`).
//!
//! A value is a plaintext password or an argon2id PHC hash (`$argon2id$...`); checking
//! a hash is slow, so the check only says which hash to verify (on the pool). Any other
//! `$id$...` value (bcrypt, crypt, scrypt) is an unusable hash, never a plaintext password.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::ct;
use crate::error::{Error, Result};
use crate::hash::KeyHash;
use crate::phc;

/// Compared against when the user does not exist, so a missing user costs about as much
/// as a wrong password and never matches (not even an empty password).
const DUMMY: &[u8] = b"\x00zmq-auth: no such user, never equal to any password\x00";

/// Outcome of a password check, mapped to a status text by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlainCheck<'a> {
    /// The user name (valid UTF-8, as every configured name is).
    Ok(&'a str),
    UnknownUser,
    WrongPassword,
    /// The user's password is stored hashed: verify against this PHC string.
    Verify(&'a str, Arc<str>),
}

/// A stored password: plaintext (wiped when dropped) or an argon2id PHC hash.
#[derive(PartialEq, Eq)]
enum Secret {
    /// With the metadata an admission carries (its `Credential-Version`), built once
    /// here rather than per request.
    Plain(Zeroizing<String>, Option<Arc<[u8]>>),
    Hashed(Arc<str>),
}

impl Secret {
    /// Checks the value; the problem (never quoting the value) if it cannot be used.
    fn new(value: String) -> std::result::Result<Secret, String> {
        let value = Zeroizing::new(value);
        if value.is_empty() {
            return Err("has an empty password".to_string());
        }
        if phc::looks_hashed(&value) {
            phc::validate(&value).map_err(|e| format!("has an unusable password hash ({e})"))?;
            return Ok(Secret::Hashed(Arc::from(value.as_str())));
        }
        let version = crate::policy::version_metadata(value.as_bytes());
        Ok(Secret::Plain(value, version))
    }
}

/// The users of one domain. Never holds an empty name or an empty password.
#[derive(Default)]
pub(crate) struct UserMap {
    /// Probed with peer-chosen names, filled only from configuration: see [`KeyHash`].
    users: HashMap<String, Secret, KeyHash>,
    /// Does any user have a hashed password? Found once when the map is built: a
    /// request must not scan the table.
    hashed: bool,
}

impl UserMap {
    /// The map of `users`, with what requests need to know about it worked out once.
    fn of(users: HashMap<String, Secret, KeyHash>) -> UserMap {
        let hashed = users.values().any(|s| matches!(s, Secret::Hashed(_)));
        UserMap { users, hashed }
    }

    /// Does any user have a hashed password? Then every refusal must cost a hash check
    /// too, or timing would tell which names exist and which are stored in plaintext.
    /// Constant time: worked out when the map was built.
    pub(crate) fn has_hashes(&self) -> bool {
        self.hashed
    }
}

impl PartialEq for UserMap {
    fn eq(&self, other: &Self) -> bool {
        self.users.len() == other.users.len()
            && self
                .users
                .iter()
                .all(|(k, v)| other.users.get(k).is_some_and(|o| o == v))
    }
}

impl UserMap {
    /// From `configure_plain`: an empty name, an empty password or a name given twice is
    /// an error naming the user (never the password), and nothing is built.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Result<UserMap> {
        let mut users = HashMap::default();
        for (name, password) in pairs {
            // Recorded before anything can reject it: the audit must know every password.
            #[cfg(zmq_auth_audit)]
            crate::audit::password(password.as_bytes());
            if name.is_empty() {
                return Err(Error::invalid_config("PLAIN user with an empty name"));
            }
            let secret = Secret::new(password).map_err(|why| {
                Error::invalid_config(format!(
                    "PLAIN user {name:?} {why} (it would never be safe to admit)"
                ))
            })?;
            if users.contains_key(&name) {
                return Err(Error::invalid_config(format!(
                    "PLAIN user {name:?} listed twice"
                )));
            }
            users.insert(name, secret);
        }
        Ok(UserMap::of(users))
    }

    /// Parses the text of a `name=password` file: `#` starts a comment line, blank lines
    /// are skipped, names and passwords are trimmed of ASCII/Unicode whitespace.
    ///
    /// Every doubtful line is a problem (with its line number, never its text: it may
    /// hold a password): a line without `=`, an empty name, an empty password, a name
    /// listed twice. With `strict`, the first problem is the error. Otherwise every
    /// problem is returned beside a map in which a doubtful name admits no one (all its
    /// lines are dropped) and every good line applies.
    pub(crate) fn parse_file(
        path: &Path,
        text: &str,
        strict: bool,
    ) -> Result<(UserMap, Vec<Error>)> {
        let mut users: HashMap<String, Secret, KeyHash> = HashMap::default();
        let mut poisoned: HashSet<String> = HashSet::new();
        let mut problems = Vec::new();
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
            let problem = match line.split_once('=') {
                None => Some((None, "expected name=password".to_string())),
                Some((name, password)) => {
                    let (name, password) = (name.trim(), password.trim());
                    if name.is_empty() {
                        Some((None, "empty user name".to_string()))
                    } else if users.contains_key(name) || poisoned.contains(name) {
                        Some((Some(name), format!("user {name:?} listed twice")))
                    } else {
                        match Secret::new(password.to_string()) {
                            Ok(secret) => {
                                users.insert(name.to_string(), secret);
                                None
                            }
                            Err(why) => Some((Some(name), format!("user {name:?} {why}"))),
                        }
                    }
                }
            };
            if let Some((name, message)) = problem {
                let err = Error::parse(path, i + 1, message);
                if strict {
                    return Err(err);
                }
                if let Some(name) = name {
                    users.remove(name);
                    poisoned.insert(name.to_string());
                }
                problems.push(err);
            }
        }
        Ok((UserMap::of(users), problems))
    }

    #[cfg(test)]
    pub(crate) fn check<'a>(&self, username: &'a [u8], password: &[u8]) -> PlainCheck<'a> {
        self.check_admitting(username, password).0
    }

    /// Checks a username and password, with the metadata an admission carries (the
    /// credential's version, prepared when the table was built): one probe of the table
    /// for both.
    pub(crate) fn check_admitting<'a, 's>(
        &'s self,
        username: &'a [u8],
        password: &[u8],
    ) -> (PlainCheck<'a>, Option<&'s Arc<[u8]>>) {
        let user = std::str::from_utf8(username)
            .ok()
            .and_then(|u| self.users.get(u).map(|p| (u, p)));
        match user {
            Some((name, Secret::Hashed(phc))) => (PlainCheck::Verify(name, Arc::clone(phc)), None),
            // Stored passwords are never empty; an empty one given never matches anyway.
            Some((name, Secret::Plain(expected, version)))
                if !password.is_empty() && ct::eq(password, expected.as_bytes()) =>
            {
                (PlainCheck::Ok(name), version.as_ref())
            }
            Some(_) => (PlainCheck::WrongPassword, None),
            None => {
                let _ = ct::eq(password, DUMMY);
                (PlainCheck::UnknownUser, None)
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    /// Is this user (still) configured?
    pub(crate) fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Calls `f` with the user's stored entry (the password, or its PHC string), never
    /// copied: to fingerprint it (`policy::still`).
    pub(crate) fn with_stored<R>(&self, user: &str, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.users.get(user).map(|s| match s {
            Secret::Plain(p, _) => f(p.as_bytes()),
            Secret::Hashed(phc) => f(phc.as_bytes()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn strict_pairs_refuse_doubtful_entries() {
        assert!(UserMap::from_pairs(pairs(&[("admin", "")])).is_err());
        assert!(UserMap::from_pairs(pairs(&[("", "x")])).is_err());
        assert!(UserMap::from_pairs(pairs(&[("a", "x"), ("a", "y")])).is_err());
        let m = UserMap::from_pairs(pairs(&[("a", "x")])).unwrap();
        assert_eq!(m.check(b"a", b"x"), PlainCheck::Ok("a"));
        assert_eq!(m.check(b"a", b""), PlainCheck::WrongPassword);
        assert_eq!(m.check(b"b", b""), PlainCheck::UnknownUser);
    }

    #[test]
    fn hashed_values_are_checked_and_handed_out() {
        let phc = crate::phc::hash_password("Pw-plain-unit-7c3a").unwrap();
        let text = format!("alice={phc}\nbob=$argon2id$broken\n");
        let p = Path::new("f");
        assert!(UserMap::parse_file(p, &text, true).is_err());
        let (m, problems) = UserMap::parse_file(p, &text, false).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(
            !problems[0].to_string().contains("broken"),
            "never quotes the value"
        );
        match m.check(b"alice", b"anything") {
            PlainCheck::Verify("alice", h) => assert_eq!(&*h, phc.as_str()),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.check(b"bob", b"x"), PlainCheck::UnknownUser);
    }

    #[test]
    fn lenient_file_drops_doubtful_names_and_keeps_the_rest() {
        let text = "alice=one\n; mallory removed\nadmin=\nbob=two\nbob=three\n=x\n";
        let p = Path::new("f");
        assert!(UserMap::parse_file(p, text, true).is_err());
        let (m, problems) = UserMap::parse_file(p, text, false).unwrap();
        assert_eq!(problems.len(), 4);
        assert_eq!(m.len(), 1);
        assert_eq!(m.check(b"alice", b"one"), PlainCheck::Ok("alice"));
        assert_eq!(m.check(b"admin", b""), PlainCheck::UnknownUser);
        assert_eq!(m.check(b"bob", b"two"), PlainCheck::UnknownUser);
        assert_eq!(m.check(b"bob", b"three"), PlainCheck::UnknownUser);
    }
}
