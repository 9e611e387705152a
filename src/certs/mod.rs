//! CURVE certificate files: the ZPL reader and writer, and the certificate type.
//!
//! Nothing outside this module parses a certificate.

mod listing;
mod store;
mod write;
mod zpl;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub(crate) use store::{CertDir, KeySet, Problem};
pub use write::create_certificates;

use crate::error::{Error, Result};
use crate::keys::{decode_z85_key, derive_public, encode_z85_key};

/// Certificate files are a few hundred bytes; refusing anything huge keeps a stray
/// multi-gigabyte file in a key directory from exhausting memory.
const MAX_CERT_FILE: u64 = 1 << 20;

/// A CURVE certificate read from a ZPL file.
///
/// `Debug` never prints the secret key. The secret key (its bytes and its Z85 text) is
/// wiped when the certificate is dropped, clones included; what you copy out of
/// [`secret_key`](Self::secret_key) or [`secret_key_bytes`](Self::secret_key_bytes),
/// and what libzmq keeps after `set_curve_secretkey`, is not.
///
/// ```
/// # fn main() -> zmq_auth::Result<()> {
/// # if !zmq_auth::curve_available() { return Ok(()); }
/// let dir = tempfile::tempdir().unwrap();
/// let (public, secret) = zmq_auth::create_certificates(dir.path(), "alice", &[("email", "a@example.org")])?;
/// let public_cert = zmq_auth::load_certificate(&public)?;
/// let secret_cert = zmq_auth::load_certificate(&secret)?;
/// assert_eq!(public_cert.public_key(), secret_cert.public_key());
/// assert_eq!(public_cert.secret_key(), None);
/// assert_eq!(secret_cert.secret_key().map(str::len), Some(40));
/// assert_eq!(public_cert.metadata_value("email"), Some("a@example.org"));
/// assert!(!format!("{secret_cert:?}").contains(secret_cert.secret_key().unwrap()));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    public: [u8; 32],
    public_z85: String,
    secret: Option<SecretKey>,
    metadata: Vec<(String, String)>,
}

/// A secret key and its Z85 text, both wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
struct SecretKey {
    bytes: [u8; 32],
    z85: String,
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
        self.z85.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl Certificate {
    /// The public key as 40 Z85 characters.
    ///
    /// ```
    /// let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    /// let text = format!("curve\n    public-key = \"{key}\"\n");
    /// let cert = zmq_auth::Certificate::from_zpl("client.key", &text).unwrap();
    /// assert_eq!(cert.public_key(), key);
    /// ```
    pub fn public_key(&self) -> &str {
        &self.public_z85
    }

    /// The public key's 32 bytes.
    ///
    /// ```
    /// let key = [5u8; 32];
    /// let text = format!("curve\n    public-key = \"{}\"\n", zmq_auth::encode_z85_key(&key));
    /// let cert = zmq_auth::Certificate::from_zpl("client.key", &text).unwrap();
    /// assert_eq!(cert.public_key_bytes(), &key);
    /// ```
    pub fn public_key_bytes(&self) -> &[u8; 32] {
        &self.public
    }

    /// The secret key as 40 Z85 characters, when the file holds one.
    ///
    /// ```
    /// # fn main() -> zmq_auth::Result<()> {
    /// # if !zmq_auth::curve_available() { return Ok(()); }
    /// let dir = tempfile::tempdir().unwrap();
    /// let (public, secret) = zmq_auth::create_certificates(dir.path(), "server", &[])?;
    /// assert!(zmq_auth::load_certificate(&public)?.secret_key().is_none());
    /// let cert = zmq_auth::load_certificate(&secret)?;
    /// let z85 = cert.secret_key().unwrap();
    /// assert_eq!(zmq_auth::decode_z85_key(z85).as_ref(), Ok(cert.secret_key_bytes().unwrap()));
    /// # Ok(()) }
    /// ```
    pub fn secret_key(&self) -> Option<&str> {
        self.secret.as_ref().map(|k| k.z85.as_str())
    }

    /// The secret key's 32 bytes, when the file holds one: what
    /// `zmq::Socket::set_curve_secretkey` takes.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # if !zmq_auth::curve_available() { return Ok(()); }
    /// let dir = tempfile::tempdir()?;
    /// let (_, secret) = zmq_auth::create_certificates(dir.path(), "server", &[])?;
    /// let cert = zmq_auth::load_certificate(&secret)?;
    /// let ctx = zmq_auth::zmq::Context::new();
    /// let server = ctx.socket(zmq_auth::zmq::ROUTER)?;
    /// server.set_curve_server(true)?;
    /// server.set_curve_secretkey(cert.secret_key_bytes().unwrap())?;
    /// assert_eq!(server.get_curve_secretkey()?, cert.secret_key_bytes().unwrap().to_vec());
    /// # Ok(()) }
    /// ```
    pub fn secret_key_bytes(&self) -> Option<&[u8; 32]> {
        self.secret.as_ref().map(|k| &k.bytes)
    }

    /// The `metadata` section's properties, in file order.
    ///
    /// ```
    /// let text = format!(
    ///     "metadata\n    name = \"Bob\"\n    email = \"bob@example.org\"\ncurve\n    public-key = \"{}\"\n",
    ///     zmq_auth::encode_z85_key(&[1u8; 32])
    /// );
    /// let cert = zmq_auth::Certificate::from_zpl("bob.key", &text).unwrap();
    /// let names: Vec<&str> = cert.metadata().iter().map(|(n, _)| n.as_str()).collect();
    /// assert_eq!(names, ["name", "email"]);
    /// ```
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The value of one metadata property (names match exactly).
    ///
    /// ```
    /// let text = format!(
    ///     "metadata\n    name = \"Bob\"\ncurve\n    public-key = \"{}\"\n",
    ///     zmq_auth::encode_z85_key(&[1u8; 32])
    /// );
    /// let cert = zmq_auth::Certificate::from_zpl("bob.key", &text).unwrap();
    /// assert_eq!(cert.metadata_value("name"), Some("Bob"));
    /// assert_eq!(cert.metadata_value("email"), None);
    /// ```
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses certificate text; `path` is only used in error messages. As with
    /// [`load_certificate`], a secret key must derive the public key beside it.
    ///
    /// ```
    /// use zmq_auth::{encode_z85_key, Certificate, Error};
    /// let text = format!(
    ///     "# a comment\nmetadata\n    name = \"Bob\"\ncurve\n    public-key = \"{}\"\n",
    ///     encode_z85_key(&[7u8; 32])
    /// );
    /// let cert = Certificate::from_zpl("bob.key", &text).unwrap();
    /// assert_eq!(cert.public_key_bytes(), &[7u8; 32]);
    /// assert!(matches!(
    ///     Certificate::from_zpl("empty.key", "metadata\n"),
    ///     Err(Error::MissingPublicKey { .. })
    /// ));
    /// ```
    pub fn from_zpl(path: impl AsRef<Path>, text: &str) -> Result<Certificate> {
        parse_certificate(path.as_ref(), text, true)
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = |f: &mut fmt::Formatter<'_>| {
            f.debug_struct("Certificate")
                .field("public_key", &self.public_z85)
                .field("secret_key", &self.secret.as_ref().map(|_| "<redacted>"))
                .field("metadata", &self.metadata)
                .finish()
        };
        // An audit build records what Debug shows (see src/audit.rs).
        #[cfg(zmq_auth_audit)]
        crate::audit::debug_text(&fields);
        fields(f)
    }
}

/// Reads a file of at most [`MAX_CERT_FILE`] bytes as UTF-8, into a buffer that is
/// wiped when dropped (a certificate file may hold a secret key).
pub(crate) fn read_text(path: &Path) -> Result<Zeroizing<String>> {
    match open_regular(path, false)? {
        Some((file, meta)) => read_open(path, file, meta.len()),
        // Opening a FIFO or device would block or never end: only regular files are read.
        None => Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        )),
    }
}

/// Opens `path` when it is a regular file (`None` otherwise), with its metadata from
/// the open file. `known_regular`: the directory entry already says so, which spares a
/// `stat` before the `open` (a FIFO must never be opened: that blocks).
pub(crate) fn open_regular(
    path: &Path,
    known_regular: bool,
) -> Result<Option<(File, std::fs::Metadata)>> {
    if !known_regular {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Ok(None);
        }
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    Ok(meta.is_file().then_some((file, meta)))
}

/// Reads an open file of at most [`MAX_CERT_FILE`] bytes as UTF-8, into a buffer that
/// is wiped when dropped. `len_hint` (the size from its metadata) sizes the buffer so
/// that two `read` calls do it; a file that grew meanwhile is copied into a bigger wiped
/// buffer (never `Vec` growth, which would free an unwiped block).
pub(crate) fn read_open(path: &Path, file: File, len_hint: u64) -> Result<Zeroizing<String>> {
    let cap = usize::try_from(len_hint.min(MAX_CERT_FILE) + 1).unwrap_or(4096);
    let mut buf = Zeroizing::new(vec![0u8; cap]);
    let mut len = 0;
    let mut file = file.take(MAX_CERT_FILE + 1);
    loop {
        if len == buf.len() {
            let mut bigger = Zeroizing::new(vec![0u8; len * 2]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger;
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    buf.truncate(len);
    if buf.len() as u64 > MAX_CERT_FILE {
        return Err(Error::parse(path, 0, "file larger than 1 MiB"));
    }
    match std::str::from_utf8(&buf) {
        Ok(_) => {
            let bytes = std::mem::take(&mut *buf);
            // Valid UTF-8 was just checked; the bytes move without a copy.
            Ok(Zeroizing::new(String::from_utf8(bytes).unwrap_or_default()))
        }
        Err(e) => {
            let line = 1 + buf[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(Error::parse(path, line, "not valid UTF-8"))
        }
    }
}

/// Parses a certificate. `verify_secret` derives the public key from the secret key and
/// compares (needs CURVE in libzmq).
pub(crate) fn parse_certificate(
    path: &Path,
    text: &str,
    verify_secret: bool,
) -> Result<Certificate> {
    // Every line that mentions a secret key, before anything can fail on it.
    #[cfg(zmq_auth_audit)]
    crate::audit::secret_lines(text);
    let entries = zpl::parse(text).map_err(|e| {
        if zpl::mentions_certificate_names(text) {
            Error::parse(path, e.line, e.message)
        } else {
            Error::parse(
                path,
                e.line,
                "not a certificate (no `curve` or `metadata` section)",
            )
        }
    })?;
    let mut section = "";
    let mut public: Option<([u8; 32], String)> = None;
    let mut secret: Option<SecretKey> = None;
    let mut metadata: Vec<(String, String)> = Vec::new();
    // The line of each metadata property, for errors found once the keys are known.
    let mut metadata_lines: Vec<usize> = Vec::new();
    let mut seen_sections: Vec<&str> = Vec::new();
    // A metadata property that looks like a key (reported once the keys are known).
    let mut key_like: Option<(usize, String)> = None;
    let key_err = |line: usize, message: String| Error::invalid_key(path, line, message);
    for e in &entries {
        if e.depth == 0 {
            section = e.name.as_str();
            if matches!(section, "curve" | "metadata") {
                if seen_sections.contains(&section) {
                    return Err(Error::parse(
                        path,
                        e.line,
                        format!("second `{section}` section"),
                    ));
                }
                seen_sections.push(section);
            }
            continue;
        }
        if e.depth != 1 {
            continue; // deeper levels carry nothing a certificate uses
        }
        // Wiped when dropped, unless it moves into the certificate.
        let mut value = Zeroizing::new(e.value.clone().unwrap_or_default());
        match (section, e.name.as_str()) {
            ("curve", which @ ("public-key" | "secret-key")) => {
                let taken = if which == "public-key" {
                    public.is_some()
                } else {
                    secret.is_some()
                };
                if taken {
                    return Err(Error::parse(path, e.line, format!("second {which}")));
                }
                let key =
                    decode_z85_key(&value).map_err(|m| key_err(e.line, format!("{which}: {m}")))?;
                let text = std::mem::take(&mut *value);
                if which == "public-key" {
                    #[cfg(zmq_auth_audit)]
                    crate::audit::public_key(&key);
                    public = Some((key, text));
                } else {
                    #[cfg(zmq_auth_audit)]
                    crate::audit::secret_key(&key);
                    secret = Some(SecretKey {
                        bytes: key,
                        z85: text,
                    });
                }
            }
            ("metadata", name) => {
                // The writer refuses these names, and pyzmq's reader takes such a line for
                // the key itself; kept, it would carry a key into Debug and ZAP metadata.
                if name.starts_with("secret-key") || name.starts_with("public-key") {
                    key_like.get_or_insert((e.line, name.to_string()));
                    continue;
                }
                if metadata.iter().any(|(n, _)| n == name) {
                    return Err(Error::parse(
                        path,
                        e.line,
                        format!("duplicate metadata `{name}`"),
                    ));
                }
                metadata.push((name.to_string(), std::mem::take(&mut *value)));
                metadata_lines.push(e.line);
            }
            _ => {}
        }
    }
    let (public, public_z85) = public.ok_or_else(|| Error::MissingPublicKey {
        path: path.to_path_buf(),
    })?;
    if let Some((line, name)) = key_like {
        return Err(Error::parse(
            path,
            line,
            format!("metadata property `{name}` looks like a key (misplaced line?)"),
        ));
    }
    // A damaged file can glue the secret-key line into a metadata value; kept, the secret
    // would travel as metadata (Debug, ZAP replies). The message names the property only.
    if let Some(SecretKey {
        z85: secret_text, ..
    }) = &secret
    {
        let holds = |text: &str| text.contains(secret_text.as_str());
        if let Some(i) = metadata.iter().position(|(n, v)| holds(n) || holds(v)) {
            let what = if holds(&metadata[i].0) {
                "a metadata property name".to_string()
            } else {
                format!("metadata property `{}`", metadata[i].0)
            };
            metadata.iter_mut().for_each(|(n, v)| {
                n.zeroize();
                v.zeroize();
            });
            return Err(Error::parse(
                path,
                metadata_lines[i],
                format!("{what} holds the secret key (misplaced line?)"),
            ));
        }
    }
    if verify_secret {
        if let Some(s) = &secret {
            if derive_public(&s.bytes)? != public {
                return Err(Error::KeyMismatch {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    Ok(Certificate {
        public,
        public_z85,
        secret,
        metadata,
    })
}

/// Loads one certificate file (public `NAME.key` or secret `NAME.key_secret`).
///
/// When the file holds a secret key, it is checked to derive the public key beside it.
///
/// ```
/// # fn main() -> zmq_auth::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let (public, secret) = zmq_auth::create_certificates(dir.path(), "server", &[("name", "srv")])?;
/// let cert = zmq_auth::load_certificate(&secret)?;
/// assert_eq!(cert.public_key(), zmq_auth::load_certificate(&public)?.public_key());
/// assert!(cert.secret_key().is_some());
/// assert_eq!(cert.metadata_value("name"), Some("srv"));
/// # Ok(()) }
/// ```
pub fn load_certificate(path: impl AsRef<Path>) -> Result<Certificate> {
    let path = path.as_ref();
    let text = read_text(path)?;
    parse_certificate(path, &text, true)
}

/// Loads every public certificate (`*.key`) in `dir` into a map from Z85 public key to
/// `true` (pyzmq's shape). Any unreadable or malformed file is an error naming it.
///
/// ```
/// # fn main() -> zmq_auth::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let (public, _) = zmq_auth::create_certificates(dir.path(), "client", &[])?;
/// let keys = zmq_auth::load_certificates(dir.path())?;
/// let cert = zmq_auth::load_certificate(public)?;
/// assert_eq!(keys.len(), 1);
/// assert_eq!(keys.get(cert.public_key()), Some(&true));
/// # Ok(()) }
/// ```
pub fn load_certificates(dir: impl AsRef<Path>) -> Result<HashMap<String, bool>> {
    let dir = dir.as_ref();
    let files = listing::list_key_files(dir)?;
    let keys = listing::read_many(
        &files,
        |entry| {
            let path = dir.join(entry.name.as_os_str());
            let text = match open_regular(&path, entry.regular == Some(true))? {
                Some((file, meta)) => read_open(&path, file, meta.len())?,
                None => {
                    return Err(Error::io(
                        &path,
                        std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
                    ))
                }
            };
            parse_certificate(&path, &text, true).map(|cert| encode_z85_key(&cert.public))
        },
        |entry| Err(store::reader_panicked(&dir.join(entry.name.as_os_str()))),
    );
    let mut out = HashMap::with_capacity(keys.len());
    for key in keys {
        out.insert(key?, true);
    }
    Ok(out)
}
