//! The certificate writer: `NAME.key` and `NAME.key_secret`, written atomically, the
//! secret one private (0600) from its first byte.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::require_curve;
use crate::zap::is_valid_property_name;

const PUBLIC_BANNER: &str = "#   ZeroMQ CURVE Public Certificate\n\
#   Exchange securely, or use a secure mechanism to verify the contents\n\
#   of this file after exchange. Store public certificates in your home\n\
#   directory, in the .curve subdirectory.\n";

const SECRET_BANNER: &str = "#   ZeroMQ CURVE **Secret** Certificate\n\
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n";

/// Creates a new CURVE key pair and writes it as `<name>.key` (public) and
/// `<name>.key_secret` (secret, mode 0600) in `key_dir`, with `metadata` in both.
/// Returns `(public_path, secret_path)`.
///
/// Existing files of the same name are replaced atomically; on any error neither file
/// is left behind half-written (a secret file being replaced is kept). Metadata names
/// must be ZMTP property names (`A-Za-z0-9-_.+`), unique, and not begin with
/// `secret-key`/`public-key` (pyzmq's reader would take them for keys); values may not
/// contain `"` or a line break.
///
/// ```
/// # fn main() -> zmq_auth::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let (public, secret) = zmq_auth::create_certificates(dir.path(), "alice", &[("email", "a@example.org")])?;
/// assert!(public.ends_with("alice.key"));
/// assert!(secret.ends_with("alice.key_secret"));
/// assert!(zmq_auth::create_certificates(dir.path(), "bob", &[("bad name", "x")]).is_err());
/// # Ok(()) }
/// ```
pub fn create_certificates(
    key_dir: impl AsRef<Path>,
    name: &str,
    metadata: &[(&str, &str)],
) -> Result<(PathBuf, PathBuf)> {
    let dir = key_dir.as_ref();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(Error::invalid_name(name));
    }
    for (i, (k, v)) in metadata.iter().enumerate() {
        if metadata[..i].iter().any(|(other, _)| other == k) {
            return Err(Error::invalid_metadata(*k, "listed twice"));
        }
        // The ZAP metadata encoder has the stricter rule; apply it here so a certificate
        // we write can always be sent as ZMTP properties.
        if !is_valid_property_name(k) {
            return Err(Error::invalid_metadata(
                *k,
                "names are 1-255 characters of A-Za-z0-9-_.+",
            ));
        }
        // pyzmq's reader takes any line starting with these for the key itself.
        if k.starts_with("secret-key") || k.starts_with("public-key") {
            return Err(Error::invalid_metadata(
                *k,
                "pyzmq's load_certificate would read it as a key",
            ));
        }
        if v.contains(['"', '\n', '\r']) {
            return Err(Error::invalid_metadata(
                *k,
                "values may not contain `\"` or a line break",
            ));
        }
    }
    require_curve()?;
    let (public, secret) = new_key_pair()?;
    let secret = std::str::from_utf8(&secret[..40]).map_err(|_| Error::CurveUnavailable)?;
    #[cfg(zmq_auth_audit)]
    {
        let key = crate::keys::decode_z85_key(secret).map_err(|_| Error::CurveUnavailable)?;
        crate::audit::secret_key(&key);
        if let Ok(key) = crate::keys::decode_z85_key(&public) {
            crate::audit::public_key(&key);
        }
    }

    let stamp = format!(
        "#   ****  Generated on {} by zmq-auth  ****\n",
        utc_timestamp()
    );
    let mut body = String::from("\nmetadata\n");
    for (k, v) in metadata {
        body.push_str(&format!("    {k} = \"{v}\"\n"));
    }
    body.push_str(&format!("curve\n    public-key = \"{public}\"\n"));
    let public_text = format!("{stamp}{PUBLIC_BANNER}{body}");
    // Sized up front, so it never grows (growing would free an unwiped copy); wiped on drop.
    let secret_parts = [
        stamp.as_str(),
        SECRET_BANNER,
        body.as_str(),
        "    secret-key = \"",
        secret,
        "\"\n",
    ];
    let mut secret_text = Zeroizing::new(String::with_capacity(
        secret_parts.iter().map(|p| p.len()).sum(),
    ));
    secret_parts.iter().for_each(|p| secret_text.push_str(p));

    let public_path = dir.join(format!("{name}.key"));
    let secret_path = dir.join(format!("{name}.key_secret"));
    let result = write_pair(
        (&public_path, public_text.as_bytes(), 0o644),
        (&secret_path, secret_text.as_bytes(), 0o600),
    );
    result.map(|()| (public_path, secret_path))
}

/// A new key pair from libzmq as Z85 text: the public key, and the secret key
/// (NUL-terminated) in a buffer that is wiped when dropped. Called directly rather than
/// through `zmq::CurveKeyPair::new`, which leaves the secret's text on its stack.
fn new_key_pair() -> Result<(String, Zeroizing<[u8; 41]>)> {
    let mut public = [0u8; 41];
    let mut secret = Zeroizing::new([0u8; 41]);
    // SAFETY: both buffers are 41 bytes (40 Z85 characters and a NUL), as the call
    // requires.
    let rc = unsafe {
        crate::ffi::zmq_curve_keypair(
            public.as_mut_ptr().cast::<std::ffi::c_char>(),
            secret.as_mut_ptr().cast::<std::ffi::c_char>(),
        )
    };
    if rc != 0 {
        return Err(Error::CurveUnavailable);
    }
    let public = std::str::from_utf8(&public[..40]).map_err(|_| Error::CurveUnavailable)?;
    Ok((public.to_string(), secret))
}

/// Writes both files through temporary siblings, then renames them into place. On
/// failure nothing new stays on disk, and a secret file being replaced is restored (it
/// is the only copy of that secret key).
fn write_pair(a: (&Path, &[u8], u32), b: (&Path, &[u8], u32)) -> Result<()> {
    let tmp_a = write_temp(a.0, a.1, a.2)?;
    let tmp_b = match write_temp(b.0, b.1, b.2) {
        Ok(t) => t,
        Err(e) => {
            let _ = fs::remove_file(&tmp_a);
            return Err(e);
        }
    };
    let cleanup = |paths: &[&Path]| {
        for p in paths {
            let _ = fs::remove_file(p);
        }
    };
    // A hard link keeps the old secret (same inode, same 0600 mode) until we succeed.
    // Its name is derived from the unique temp name, so no leftover can be in the way;
    // if it cannot be made, the old secret is not replaced at all.
    let mut backup = tmp_b.clone().into_os_string();
    backup.push(".old");
    let backup = PathBuf::from(backup);
    let backed_up = match fs::hard_link(b.0, &backup) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // Not a regular file (a directory, say): the rename below reports it.
        Err(_) if b.0.exists() && !b.0.is_file() => false,
        Err(e) => {
            cleanup(&[&tmp_a, &tmp_b]);
            return Err(Error::io(b.0, e));
        }
    };
    if let Err(e) = fs::rename(&tmp_b, b.0) {
        cleanup(&[&tmp_a, &tmp_b, &backup]);
        return Err(Error::io(b.0, e));
    }
    if let Err(e) = fs::rename(&tmp_a, a.0) {
        if backed_up {
            let _ = fs::rename(&backup, b.0);
        } else {
            // A new secret without its public half would only confuse.
            let _ = fs::remove_file(b.0);
        }
        cleanup(&[&tmp_a, &backup]);
        return Err(Error::io(a.0, e));
    }
    cleanup(&[&backup]);
    // Make the renames themselves durable.
    #[cfg(unix)]
    if let Some(dir) = a.0.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Creates a sibling temp file with `mode` from the first byte, writes and syncs it.
/// The name is unique per process and call, with a random part so a leftover from a
/// crashed run (same pid, as in containers) is never in the way.
fn write_temp(target: &Path, content: &[u8], mode: u32) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.finish()
        };
        let tmp = dir.join(format!(
            ".{file_name}.tmp{}-{random:016x}",
            std::process::id()
        ));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The mode applies at creation, so the secret is never readable by others.
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match opts.open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            // A missing directory is named as such, not by our temporary file's name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::io(dir, e)),
            Err(e) => return Err(Error::io(&tmp, e)),
        }
    };
    let written = f.write_all(content).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    Ok(tmp)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, without a date crate.
fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_shape() {
        let t = super::utc_timestamp();
        assert_eq!(t.len(), 19, "{t}");
        assert!(t.starts_with("20"), "{t}");
    }
}
