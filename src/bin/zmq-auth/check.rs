//! `check DIR`: lint a trusted-key directory, one problem per line.

use std::collections::HashMap;
use std::fs;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use zmq_auth::{load_certificate, Certificate, Error};

use crate::cli::CheckArgs;
use crate::trustdir::read_cert_text;
use crate::{json, Fail, Outcome, Run};

/// From this many entries on, a terminal gets a progress count on stderr.
const LARGE: usize = 2000;

/// One thing wrong with one file (or the directory itself).
struct Problem {
    file: PathBuf,
    line: Option<usize>,
    kind: &'static str,
    message: String,
}

struct Report {
    problems: Vec<Problem>,
    certificates: usize,
}

impl Report {
    fn add(&mut self, file: &Path, line: Option<usize>, kind: &'static str, message: String) {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            line,
            kind,
            message,
        });
    }

    /// A certificate that did not load: kind, line and message from the error.
    fn add_error(&mut self, file: &Path, e: &Error) {
        let (kind, line, message) = match e {
            Error::Parse { line, message, .. } => ("parse", Some(*line), message.clone()),
            Error::InvalidKey { line, message, .. } => {
                ("bad-key", Some(*line), format!("invalid key: {message}"))
            }
            Error::MissingPublicKey { .. } => ("parse", None, "no curve public-key".into()),
            Error::KeyMismatch { .. } => (
                "bad-key",
                None,
                "secret-key does not match public-key".into(),
            ),
            Error::Io { source, .. } => ("unreadable", None, source.to_string()),
            other => ("unreadable", None, other.to_string()),
        };
        // Line 0 means "the whole file".
        self.add(file, line.filter(|&l| l > 0), kind, message);
    }
}

pub(crate) fn run(a: &CheckArgs) -> Run {
    let dir = &a.dir;
    let dir_fail = |e: std::io::Error| Fail(format!("{}: {e}", dir.display()));
    let dir_meta = fs::metadata(dir).map_err(dir_fail)?;
    if !dir_meta.is_dir() {
        return Err(Fail(format!("{}: not a directory", dir.display())));
    }
    let real_dir = fs::canonicalize(dir).map_err(dir_fail)?;
    let mut names: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir).map_err(dir_fail)? {
        names.push(entry.map_err(dir_fail)?.path());
    }
    names.sort();

    let mut report = Report {
        problems: Vec::new(),
        certificates: 0,
    };
    if let Some(mode) = writable_by_others(&dir_meta) {
        report.add(
            dir,
            None,
            "permissions",
            format!("directory is writable by group or others (mode {mode:04o}): they can add a trusted key"),
        );
    }
    let progress = names.len() >= LARGE && std::io::stderr().is_terminal();
    let mut first_file: HashMap<[u8; 32], PathBuf> = HashMap::new();
    for (i, path) in names.iter().enumerate() {
        if progress && i % 256 == 0 {
            let text = format!("\rchecking {}: {i}/{}", dir.display(), names.len());
            crate::output::emit(crate::output::Stream::Err, &text, false);
        }
        check_entry(path, &real_dir, &mut report, &mut first_file);
    }
    if progress {
        crate::output::emit(crate::output::Stream::Err, "\r\x1b[K", false);
    }

    let ok = report.problems.is_empty();
    if a.json {
        print_json(dir, &report);
    } else {
        for p in &report.problems {
            match p.line {
                Some(line) => say!("{}:{line}: {}: {}", p.file.display(), p.kind, p.message),
                None => say!("{}: {}: {}", p.file.display(), p.kind, p.message),
            }
        }
        say!(
            "{}: {} certificate(s), {} problem(s)",
            dir.display(),
            report.certificates,
            report.problems.len()
        );
    }
    Ok(if ok { Outcome::Ok } else { Outcome::No })
}

/// The permission bits when group or others may write.
fn writable_by_others(meta: &fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        (mode & 0o022 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn check_entry(
    path: &Path,
    real_dir: &Path,
    report: &mut Report,
    first_file: &mut HashMap<[u8; 32], PathBuf>,
) {
    let Ok(lmeta) = fs::symlink_metadata(path) else {
        return; // removed while we looked
    };
    if lmeta.file_type().is_symlink() {
        match fs::canonicalize(path) {
            Err(e) => {
                report.add(path, None, "symlink", format!("leads nowhere ({e})"));
                return;
            }
            Ok(target) if !target.starts_with(real_dir) => report.add(
                path,
                None,
                "symlink",
                format!("leads outside the directory, to {}", target.display()),
            ),
            Ok(_) => {}
        }
    }
    let Ok(meta) = fs::metadata(path) else {
        return;
    };
    if !meta.is_file() {
        return; // subdirectories, FIFOs, sockets: configure_curve never reads them
    }
    let is_key = path.extension().is_some_and(|x| x == "key");
    if is_key {
        if let Some(mode) = writable_by_others(&meta) {
            report.add(
                path,
                None,
                "permissions",
                format!("writable by group or others (mode {mode:04o})"),
            );
        }
        match load_certificate(path) {
            Ok(cert) => certificate(path, &cert, report, first_file),
            Err(e) => report.add_error(path, &e),
        }
    } else if let Some(cert) = looks_like_certificate(path) {
        if cert.secret_key().is_some() {
            report.add(
                path,
                None,
                "secret-key",
                "a secret certificate: secret keys belong in no trusted directory".into(),
            );
        } else {
            report.add(
                path,
                None,
                "misnamed",
                "looks like a certificate but is not named *.key: configure_curve ignores it"
                    .into(),
            );
        }
    }
}

/// A `*.key` file that loaded.
fn certificate(
    path: &Path,
    cert: &Certificate,
    report: &mut Report,
    first_file: &mut HashMap<[u8; 32], PathBuf>,
) {
    report.certificates += 1;
    if cert.secret_key().is_some() {
        report.add(
            path,
            None,
            "secret-key",
            "holds a secret key: a trusted directory needs only public certificates".into(),
        );
    }
    match first_file.get(cert.public_key_bytes()) {
        Some(first) => {
            let message = format!("same key as {}", first.display());
            report.add(path, None, "duplicate", message);
        }
        None => {
            first_file.insert(*cert.public_key_bytes(), path.to_path_buf());
        }
    }
}

/// A file not named `*.key` that parses as a certificate (small regular files only).
fn looks_like_certificate(path: &Path) -> Option<Certificate> {
    let text = read_cert_text(path).ok()?;
    if !text.contains("public-key") {
        return None; // cheap: most other files are not even close
    }
    Certificate::from_zpl(path, &text).ok()
}

fn print_json(dir: &Path, report: &Report) {
    let problems: Vec<String> = report
        .problems
        .iter()
        .map(|p| {
            format!(
                "{{\"file\":{},\"line\":{},\"kind\":{},\"message\":{}}}",
                json::path(&p.file),
                p.line.map_or("null".to_string(), |l| l.to_string()),
                json::string(p.kind),
                json::string(&p.message)
            )
        })
        .collect();
    say!(
        "{{\"dir\":{},\"ok\":{},\"certificates\":{},\"problems\":[{}]}}",
        json::path(dir),
        report.problems.is_empty(),
        report.certificates,
        problems.join(",")
    );
}
