//! Generates a server and a client CURVE certificate, as pyzmq's
//! `generate_certificates.py` does: the public halves go to `public_keys/`, the secret
//! halves (mode 0600) to `private_keys/`.
//!
//! ```text
//! cargo run --example generate_certificates              # into a temporary folder
//! cargo run --example generate_certificates -- my-certs  # into ./my-certs (kept)
//! ```
//!
//! Existing `server.*` and `client.*` files in that folder are replaced; other files are
//! left alone. Point `configure_curve` at `public_keys/` to admit these clients.
//!
//! The `zmq-auth` command-line tool (feature `cli`) does the same from a shell, without
//! replacing existing files unless told to, and checks the result:
//!
//! ```text
//! cargo install zmq-auth --features cli
//! zmq-auth keygen server --dir private_keys
//! zmq-auth keygen client --dir private_keys
//! zmq-auth trust private_keys/client.key --dir public_keys
//! zmq-auth check public_keys
//! ```

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{ensure, generate_certificates, Result};
use zmq_auth::{load_certificate, load_certificates};

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }
    // Keep the temporary folder alive until the end of main.
    let mut _temp = None;
    let base: PathBuf = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let t = tempfile::tempdir()?;
            let path = t.path().to_path_buf();
            _temp = Some(t);
            println!("no folder given: using a temporary one, deleted at exit");
            path
        }
    };

    // certificates/ gets both certificates (zmq_auth::create_certificates), then their
    // halves move to public_keys/ and private_keys/: see examples/common/mod.rs.
    let (public_keys, private_keys) = generate_certificates(&base)?;
    println!("certificates written under {}", base.display());

    for name in ["server", "client"] {
        let public_path = public_keys.join(format!("{name}.key"));
        let secret_path = private_keys.join(format!("{name}.key_secret"));
        // Reload both halves: each must parse, and the secret key must derive the
        // public key written beside it (load_certificate checks that).
        let public = load_certificate(&public_path)?;
        let secret = load_certificate(&secret_path)?;
        println!("{name}:");
        println!("  public certificate  {}", public_path.display());
        println!("  secret certificate  {}", secret_path.display());
        println!("  public key          {}", public.public_key());
        ensure(
            public.public_key() == secret.public_key(),
            &format!("{name}: both files hold the same public key"),
        )?;
        ensure(
            public.secret_key().is_none() && secret.secret_key().is_some(),
            &format!("{name}: only the .key_secret file holds the secret key"),
        )?;
        ensure(
            public.metadata_value("name") == Some(name),
            &format!("{name}: metadata name={name:?} read back"),
        )?;
        check_private(&secret_path, name)?;
    }

    let keys = load_certificates(&public_keys)?;
    ensure(
        keys.len() >= 2,
        &format!(
            "load_certificates(public_keys/) finds {} public keys",
            keys.len()
        ),
    )?;
    println!("generate_certificates: all checks passed");
    Ok(())
}

#[cfg(unix)]
fn check_private(path: &Path, name: &str) -> Result {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    ensure(
        mode == 0o600,
        &format!("{name}: the secret certificate's mode is {mode:o} (owner only)"),
    )
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _name: &str) -> Result {
    Ok(())
}
