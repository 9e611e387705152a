//! `trust` and `revoke`: add and remove public certificates in a trusted-key directory
//! so that a server watching it never sees half a file.
//!
//! Both work under the directory's exclusive lock ([`crate::lock`]), so two runs never
//! trust one key twice or one name for two keys; and `trust` puts its file in place
//! without replacing one that another program created meanwhile.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use zmq_auth::{decode_z85_key, load_certificate, Certificate};

use crate::cli::{RevokeArgs, TrustArgs};
use crate::lock::{place_new, DirLock};
use crate::{Fail, Outcome, Run};

/// Certificates are a few hundred bytes; the library refuses files over 1 MiB too.
const MAX_CERT_FILE: u64 = 1 << 20;

/// Reads a certificate file's text (a regular file of at most 1 MiB, UTF-8).
pub(crate) fn read_cert_text(path: &Path) -> Result<String, Fail> {
    let fail = |what: &dyn std::fmt::Display| Fail(format!("{}: {what}", path.display()));
    let meta = fs::metadata(path).map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(fail(&"not a regular file"));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_CERT_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(&e))?;
    if bytes.len() as u64 > MAX_CERT_FILE {
        return Err(fail(&"larger than 1 MiB: not a certificate"));
    }
    String::from_utf8(bytes).map_err(|_| fail(&"not valid UTF-8: not a certificate"))
}

/// The `*.key` entries directly inside `dir` (whatever they are), sorted.
pub(crate) fn key_entries(dir: &Path) -> Result<Vec<PathBuf>, Fail> {
    let fail = |e: std::io::Error| Fail(format!("{}: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(fail)? {
        let path = entry.map_err(fail)?.path();
        if path.extension().is_some_and(|x| x == "key") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The files in `dir` whose certificate carries `key` (unreadable ones are skipped,
/// with a note on stderr).
fn files_with_key(dir: &Path, key: &[u8; 32]) -> Result<Vec<PathBuf>, Fail> {
    let mut found = Vec::new();
    for path in key_entries(dir)? {
        if path.is_dir() {
            continue;
        }
        match load_certificate(&path) {
            Ok(cert) if cert.public_key_bytes() == key => found.push(path),
            Ok(_) => {}
            Err(e) => tell!("zmq-auth: skipped {e}"),
        }
    }
    Ok(found)
}

/// Makes the renames and unlinks in `dir` durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    let _ = fs::File::open(dir).and_then(|d| d.sync_all());
}

fn require_dir(dir: &Path) -> Result<(), Fail> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Fail(format!("{}: not a directory", dir.display()))),
        Err(e) => Err(Fail(format!("{}: {e}", dir.display()))),
    }
}

pub(crate) fn trust(a: &TrustArgs) -> Run {
    let text = read_cert_text(&a.file)?;
    let cert = Certificate::from_zpl(&a.file, &text)?;
    if cert.secret_key().is_some() {
        return Err(Fail(format!(
            "{}: holds a secret key, which belongs in no trusted directory; trust its \
             public certificate (NAME.key) instead",
            a.file.display()
        )));
    }
    require_dir(&a.dir)?;
    let mut name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Fail(format!("{}: no file name", a.file.display())))?;
    if !name.ends_with(".key") {
        name.push_str(".key"); // CZMQ names its public certificate NAME
    }
    let target = a.dir.join(&name);
    let _lock = DirLock::acquire(&a.dir)?;
    if let Some(existing) = files_with_key(&a.dir, cert.public_key_bytes())?.first() {
        say!(
            "already trusted: {} carries {}",
            existing.display(),
            cert.public_key()
        );
        return Ok(Outcome::Ok);
    }
    if fs::symlink_metadata(&target).is_ok() {
        return Err(Fail(format!(
            "{}: exists with another key; revoke it first or rename the certificate",
            target.display()
        )));
    }
    let tmp = a
        .dir
        .join(format!(".{name}.tmp-{}-{}", std::process::id(), nonce()));
    let written = write_new(&tmp, text.as_bytes()).and_then(|()| {
        place_new(&tmp, &target).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Fail(format!(
                    "{}: created by another program meanwhile; nothing replaced",
                    target.display()
                ))
            } else {
                Fail(format!("{}: {e}", target.display()))
            }
        })
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&a.dir);
    say!("trusted {} as {}", cert.public_key(), target.display());
    Ok(Outcome::Ok)
}

/// A number that differs between calls and runs, for a temporary file name.
pub(crate) fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Creates `path` (it must not exist), mode 0644, with `content`, synced.
fn write_new(path: &Path, content: &[u8]) -> Result<(), Fail> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Fail(format!("{}: {e}", path.display())))?;
    f.write_all(content)
        .and_then(|()| f.sync_all())
        .map_err(|e| Fail(format!("{}: {e}", path.display())))
}

pub(crate) fn revoke(a: &RevokeArgs) -> Run {
    require_dir(&a.dir)?;
    let _lock = DirLock::acquire(&a.dir)?;
    let arg = Path::new(&a.key_or_file);
    // A file wins over a key; the argument itself is never printed back, in case
    // someone pasted a secret key.
    let key = if fs::symlink_metadata(arg).is_ok() {
        *load_certificate(arg)?.public_key_bytes()
    } else {
        decode_z85_key(&a.key_or_file).map_err(|m| {
            Fail(format!(
                "KEY_OR_FILE is neither an existing file nor a Z85 public key ({m})"
            ))
        })?
    };
    let files = files_with_key(&a.dir, &key)?;
    if files.is_empty() && fs::symlink_metadata(arg).is_err() {
        // A secret key pasted by mistake: say what it is (never the key itself).
        if let Some(public) = crate::keys::public_if_secret(&a.key_or_file) {
            if let Ok(public) = decode_z85_key(&public) {
                if !files_with_key(&a.dir, &public)?.is_empty() {
                    return Err(crate::keys::secret_given(&a.dir.display().to_string()));
                }
            }
        }
    }
    if files.is_empty() {
        say!(
            "nothing to revoke: no certificate in {} carries that key",
            a.dir.display()
        );
        return Ok(Outcome::No);
    }
    for path in &files {
        fs::remove_file(path).map_err(|e| Fail(format!("{}: {e}", path.display())))?;
        say!("revoked {}", path.display());
    }
    sync_dir(&a.dir);
    Ok(Outcome::Ok)
}
