//! `keygen`, `public` and `show`: one certificate at a time.

use std::path::Path;

use zmq_auth::{create_certificates, load_certificate};

use crate::cli::{FileArgs, KeygenArgs};
use crate::{json, Fail, Outcome, Run};

/// `K=V` → `(K, V)`, split at the first `=`.
fn parse_meta(arg: &str) -> Result<(&str, &str), Fail> {
    arg.split_once('=')
        .ok_or_else(|| Fail(format!("--meta {arg:?}: expected NAME=VALUE")))
}

/// Does anything (a file, a directory, even a dangling link) sit at `path`?
fn occupied(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

pub(crate) fn keygen(a: &KeygenArgs) -> Run {
    let meta = a
        .meta
        .iter()
        .map(|m| parse_meta(m))
        .collect::<Result<Vec<_>, _>>()?;
    if !a.dir.is_dir() {
        return Err(Fail(format!(
            "{}: not a directory (create it first)",
            a.dir.display()
        )));
    }
    let name = a.name.as_str();
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
