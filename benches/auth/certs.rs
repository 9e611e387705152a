//! Certificate directories for the benchmarks, written in pyzmq's exact format.
//!
//! Key pairs come from libzmq (`zmq::CurveKeyPair`), so every public key is a real
//! CURVE key and the first few secret keys can drive real TCP handshakes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use zmq_auth::encode_z85_key;
use zmq_auth::zmq;

/// A directory of `*.key` files (public certificates only, like the `public_keys`
/// folder of pyzmq's ironhouse example) and the keys in it.
pub struct CertDir {
    pub dir: PathBuf,
    /// Public keys, in file-name order.
    pub public: Vec<[u8; 32]>,
    /// (public, secret) of the first files, for CURVE clients.
    pub clients: Vec<([u8; 32], [u8; 32])>,
    _tmp: Option<tempfile::TempDir>,
}

impl CertDir {
    /// The same directory and keys, without owning the directory (it goes with `self`).
    pub fn alias(&self) -> CertDir {
        CertDir {
            dir: self.dir.clone(),
            public: self.public.clone(),
            clients: self.clients.clone(),
            _tmp: None,
        }
    }
}

/// The public certificate text pyzmq 27's `create_certificates` writes (banner with
/// microseconds, empty `metadata` section, `curve` section).
pub fn pyzmq_public_text(public: &[u8; 32]) -> String {
    format!(
        "#   ****  Generated on 2026-01-01 00:00:00.000000 by pyzmq  ****\n\
         #   ZeroMQ CURVE Public Certificate\n\
         #   Exchange securely, or use a secure mechanism to verify the contents\n\
         #   of this file after exchange. Store public certificates in your home\n\
         #   directory, in the .curve subdirectory.\n\
         \n\
         metadata\n\
         curve\n    public-key = \"{}\"\n",
        encode_z85_key(public)
    )
}

pub fn file_name(i: usize) -> String {
    format!("client{i:06}.key")
}

/// Writes `count` certificates into `dir` (created if missing; it must hold no
/// `*.key` file yet), or into a new temporary directory when `dir` is `None`.
pub fn make(dir: Option<&Path>, count: usize, clients: usize) -> io::Result<CertDir> {
    let t0 = Instant::now();
    let (tmp, dir) = match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            let existing = std::fs::read_dir(d)?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
                .count();
            if existing != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} already holds *.key files; give an empty directory",
                        d.display()
                    ),
                ));
            }
            (None, d.to_path_buf())
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("zmq-auth-bench-")
                .tempdir()?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let mut public = Vec::with_capacity(count);
    let mut client_keys = Vec::new();
    for i in 0..count {
        let pair = zmq::CurveKeyPair::new().map_err(io::Error::other)?;
        std::fs::write(dir.join(file_name(i)), pyzmq_public_text(&pair.public_key))?;
        if i < clients {
            client_keys.push((pair.public_key, pair.secret_key));
        }
        public.push(pair.public_key);
    }
    eprintln!(
        "  wrote {count} certificates to {} in {:.1} s",
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(CertDir {
        dir,
        public,
        clients: client_keys,
        _tmp: tmp,
    })
}

/// The raw-read floor: list `dir`, read every `*.key` file with `std::fs::read` on one
/// thread, parse nothing. Returns the bytes read (so the work cannot be optimised out).
pub fn raw_read(dir: &Path) -> io::Result<usize> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "key") {
            total += std::fs::read(&path)?.len();
        }
    }
    Ok(total)
}
