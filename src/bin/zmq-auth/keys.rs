//! `keygen`, `public` and `show`: one certificate at a time.

use std::ffi::c_char;
use std::path::Path;

use zeroize::Zeroizing;
use zmq_auth::{create_certificates, decode_z85_key, load_certificate};

use crate::cli::{FileArgs, KeygenArgs};
use crate::{json, Fail, Outcome, Run};

extern "C" {
    // zmq 0.9 does not wrap it; the library links the libzmq that defines it.
    fn zmq_curve_public(z85_public_key: *mut c_char, z85_secret_key: *const c_char) -> i32;
}

/// The Z85 public key that `text` (40 Z85 characters) would belong to if it were a
/// secret key, to tell a pasted secret key for what it is. `None` when `text` is not a
/// key or the linked libzmq has no CURVE. The copy of `text` made here is wiped.
pub(crate) fn public_if_secret(text: &str) -> Option<String> {
    decode_z85_key(text).ok()?;
    let mut secret = Zeroizing::new([0u8; 41]);
    secret.get_mut(..40)?.copy_from_slice(text.as_bytes());
    let mut public = [0u8; 41];
    // SAFETY: both buffers are 41 bytes (40 Z85 characters and a NUL), as the call
    // requires; libzmq writes at most 41 bytes into the first.
    let rc = unsafe {
        zmq_curve_public(
            public.as_mut_ptr().cast::<c_char>(),
            secret.as_ptr().cast::<c_char>(),
        )
    };
    if rc != 0 {
        return None;
    }
    std::str::from_utf8(public.get(..40)?)
        .ok()
        .map(str::to_string)
}

/// The error for a secret key given where its public key is meant. The key itself is
/// never repeated.
pub(crate) fn secret_given(where_public: &str) -> Fail {
    Fail(format!(
        "KEY_OR_FILE: that is a secret key ({where_public} has its public key); give the \
         public key or the .key file; nothing revoked, and keep that secret private"
    ))
}

/// `K=V` → `(K, V)`, split at the first `=`.
fn parse_meta(arg: &str) -> Result<(&str, &str), Fail> {
    arg.split_once('=')
        .ok_or_else(|| Fail(format!("--meta {arg:?}: expected NAME=VALUE")))
}

/// Does anything (a file, a directory, even a dangling link) sit at `path`?
fn occupied(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Creates `dir` (and missing parents) mode 0700 when it does not exist: it will hold
/// secret keys. An existing directory is used as it is.
fn make_private_dir(dir: &Path) -> Result<(), Fail> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Fail(format!("--dir {}: cannot create it: {e}", dir.display())))?;
    // The umask may have taken bits away, never added any; 0700 is what is meant.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Fail(format!("--dir {}: {e}", dir.display())))?;
    }
    Ok(())
}

pub(crate) fn keygen(a: &KeygenArgs) -> Run {
    let meta = a
        .meta
        .iter()
        .map(|m| parse_meta(m))
        .collect::<Result<Vec<_>, _>>()?;
    let name = a.name.as_str();
    // A name the library refuses creates no directory (its error says why).
    let bad_name =
        name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if !bad_name {
        make_private_dir(&a.dir)?;
    }
    // `create_certificates` validates the name; these paths only serve the check below.
    if !a.force && !name.contains(['/', '\\']) {
        for file in [format!("{name}.key"), format!("{name}.key_secret")] {
            let path = a.dir.join(file);
            if occupied(&path) {
                return Err(Fail(format!(
                    "{}: already exists; use --force to replace the key pair",
                    path.display()
                )));
            }
        }
    }
    let (public_path, secret_path) = create_certificates(&a.dir, name, &meta)?;
    let cert = load_certificate(&public_path)?;
    if a.json {
        say!(
            "{{\"name\":{},\"public_key\":{},\"public_file\":{},\"secret_file\":{}}}",
            json::string(name),
            json::string(cert.public_key()),
            json::path(&public_path),
            json::path(&secret_path)
        );
    } else {
        say!("public key: {}", cert.public_key());
        say!("wrote {} (public certificate)", public_path.display());
        say!(
            "wrote {} (secret certificate, mode 0600: keep it private)",
            secret_path.display()
        );
    }
    Ok(Outcome::Ok)
}

pub(crate) fn public(a: &FileArgs) -> Run {
    // `load_certificate` derives the public key from a secret key the file holds and
    // refuses the file when it differs from the file's public-key.
    let cert = load_certificate(&a.file)?;
    say!("{}", cert.public_key());
    Ok(Outcome::Ok)
}

pub(crate) fn show(a: &FileArgs) -> Run {
    let cert = load_certificate(&a.file)?;
    say!("file: {}", a.file.display());
    say!("public key: {}", cert.public_key());
    let secret = if cert.secret_key().is_some() {
        "present (not shown)"
    } else {
        "none"
    };
    say!("secret key: {secret}");
    if cert.metadata().is_empty() {
        say!("metadata: none");
    } else {
        say!("metadata:");
        for (name, value) in cert.metadata() {
            say!("    {name} = {value:?}");
        }
    }
    Ok(Outcome::Ok)
}
