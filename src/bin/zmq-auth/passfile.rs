//! `user add|remove --file`: one `NAME=<argon2id PHC>` line in a password file (the
//! `name=password` format `configure_plain_file` reads), rewritten atomically: a
//! temporary file beside it, the original's mode (and owner, when allowed), a rename.
//! Every other line, comments included, is kept byte for byte.
//!
//! Each edit is one cycle under the directory's exclusive lock ([`crate::lock`]): read
//! the file, change one name, rename the new file into place. The password is hashed
//! (the slow step) before the lock is taken and the file is read again under it, so two
//! runs never lose each other's change.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::lock::{dir_of, place_new, DirLock};
use crate::store::check_user_name;
use crate::trustdir::{nonce, sync_dir};
use crate::{password, Fail, Outcome, Run};

/// Password files are small; the library reads them whole too.
const MAX_FILE: u64 = 16 << 20;

/// A password file as found: where it really is (symbolic links followed, so the link
/// stays a link), its text, and its mode and owner when it exists.
struct Found {
    target: PathBuf,
    text: String,
    existing: Option<fs::Metadata>,
}

fn fail(path: &Path, what: &dyn std::fmt::Display) -> Fail {
    Fail(format!("--file {}: {what}", path.display()))
}

fn find(path: &Path, must_exist: bool) -> Result<Found, Fail> {
    if fs::symlink_metadata(path).is_err() {
        if must_exist {
            return Err(fail(path, &"no such file"));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(fail(path, &"its directory does not exist"));
        }
        return Ok(Found {
            target: path.to_path_buf(),
            text: String::new(),
            existing: None,
        });
    }
    let target = fs::canonicalize(path).map_err(|e| fail(path, &e))?;
    let meta = fs::metadata(&target).map_err(|e| fail(path, &e))?;
    if !meta.is_file() {
        return Err(fail(path, &"not a regular file"));
    }
    let mut bytes = Vec::new();
    fs::File::open(&target)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(path, &e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(fail(path, &"larger than 16 MiB: not a password file"));
    }
    // Never quote the content: it may hold passwords.
    let text = String::from_utf8(bytes).map_err(|_| fail(path, &"not valid UTF-8"))?;
    Ok(Found {
        target,
        text,
        existing: Some(meta),
    })
}

/// Does this line (without its line ending) set `name`? The same reading as the
/// library's: trimmed, `#` comments and blank lines skipped, split at the first `=`.
fn sets(line: &str, name: &str) -> bool {
    let line = line.trim();
    !line.is_empty()
        && !line.starts_with('#')
        && line.split_once('=').is_some_and(|(n, _)| n.trim() == name)
}

/// `text` with `name`'s line replaced by `name=value` (appended when absent), or with
/// every line of `name` deleted when `value` is `None`. Further lines of the same name
/// (which make the library refuse the name) are dropped. Also says whether `name` was
/// there.
fn edit(text: &str, name: &str, value: Option<&str>) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + 128);
    let mut found = false;
    let mut written = false;
    for segment in text.split_inclusive('\n') {
        let body = segment.trim_end_matches(['\n', '\r']);
        if !sets(body, name) {
            out.push_str(segment);
            continue;
        }
        found = true;
        if let (Some(v), false) = (value, written) {
            out.push_str(name);
            out.push('=');
            out.push_str(v);
            out.push_str(&segment[body.len()..]);
            written = true;
        }
    }
    if let (Some(v), false) = (value, written) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    (out, found)
}

/// Replaces `found.target` with `text` through a temporary file in the same directory,
/// keeping the mode (and, when permitted, the owner) of the file it replaces; a new file
/// gets mode 0600.
fn replace(shown: &Path, found: &Found, text: &str) -> Result<(), Fail> {
    let dir = dir_of(&found.target);
    let file_name = found
        .target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| fail(shown, &"no file name"))?;
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        nonce()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        // 0600 while it is written: the content is never readable more widely than the
        // final mode allows.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        keep_owner_and_mode(&f, found.existing.as_ref())?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if found.existing.is_some() {
            fs::rename(&tmp, &found.target)
        } else {
            // A file another program created since it was found missing is not ours to
            // replace.
            place_new(&tmp, &found.target)
        }
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(fail(
                shown,
                &"created by another program meanwhile; nothing changed, run again",
            ));
        }
        return Err(fail(shown, &e));
    }
    sync_dir(&dir);
    Ok(())
}

/// Gives the new file the replaced file's owner (when permitted: root may, others only
/// keep their own) and mode; a new password file keeps 0600.
#[cfg(unix)]
fn keep_owner_and_mode(f: &fs::File, existing: Option<&fs::Metadata>) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let Some(m) = existing else {
        return Ok(());
    };
    // A file that cannot keep its owner still keeps its mode.
    let _ = std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid()));
    f.set_permissions(fs::Permissions::from_mode(m.permissions().mode() & 0o7777))
}

#[cfg(not(unix))]
fn keep_owner_and_mode(f: &fs::File, existing: Option<&fs::Metadata>) -> std::io::Result<()> {
    match existing {
        Some(m) => f.set_permissions(m.permissions()),
        None => Ok(()),
    }
}

/// Runs `change` on the password file at `path` under its directory's lock: the file
/// is found (and read) again once the lock is held, so the edit applies to what is on
/// disk then. A symbolic link retargeted to another directory meanwhile is followed.
fn locked<T>(
    path: &Path,
    must_exist: bool,
    change: impl Fn(&Found) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let mut dir = dir_of(&find(path, must_exist)?.target);
    for _ in 0..8 {
        let _lock = DirLock::acquire(&dir)?;
        let found = find(path, must_exist)?;
        let now = dir_of(&found.target);
        if now == dir {
            return change(&found);
        }
        dir = now;
    }
    Err(fail(
        path,
        &"its location keeps changing (a symbolic link being retargeted)",
    ))
}

/// `user add NAME --file F`.
pub(crate) fn add(name: &str, path: &Path) -> Run {
    check_user_name(name, true)?;
    // Usage errors (a missing directory, not a regular file) before the prompt.
    find(path, false)?;
    let pw = password::read_new(name)?;
    let phc = zmq_auth::hash_password(pw.as_str()).map_err(|e| Fail(e.to_string()))?;
    drop(pw);
    let was_there = locked(path, false, |found| {
        let (text, was_there) = edit(&found.text, name, Some(&phc));
        replace(path, found, &text)?;
        Ok(was_there)
    })?;
    let what = if was_there { "replaced" } else { "added" };
    say!(
        "{what} user {name:?} in {} (password stored as an argon2id hash)",
        path.display()
    );
    Ok(Outcome::Ok)
}

/// `user remove NAME --file F`.
pub(crate) fn remove(name: &str, path: &Path) -> Run {
    let was_there = locked(path, true, |found| {
        let (text, was_there) = edit(&found.text, name, None);
        if was_there {
            replace(path, found, &text)?;
        }
        Ok(was_there)
    })?;
    if !was_there {
        say!("nothing to remove: no user {name:?} in {}", path.display());
        return Ok(Outcome::No);
    }
    say!("removed user {name:?} from {}", path.display());
    Ok(Outcome::Ok)
}

/// `user list --file F`: the names the file sets, in file order; never a value.
pub(crate) fn list(path: &Path) -> Run {
    let found = find(path, true)?;
    let mut any = false;
    for line in found.text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            say!("{}", crate::store::shown(name.trim()));
            any = true;
        }
    }
    if !any {
        say!("no users");
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::edit;

    #[test]
    fn edits_only_the_users_line() {
        let text = "# users\n\nalice = old\r\nbob=x\n  # alice=commented\nalice=dup";
        let (out, found) = edit(text, "alice", Some("$argon2id$new"));
        assert!(found);
        assert_eq!(
            out,
            "# users\n\nalice=$argon2id$new\r\nbob=x\n  # alice=commented\n"
        );
        let (out, found) = edit("bob=x", "carol", Some("h"));
        assert!(!found);
        assert_eq!(out, "bob=x\ncarol=h\n");
        let (out, found) = edit("a=1\nb=2\n", "a", None);
        assert!(found);
        assert_eq!(out, "b=2\n");
        let (out, found) = edit("a=1\n", "ab", None);
        assert!(!found);
        assert_eq!(out, "a=1\n");
    }
}
