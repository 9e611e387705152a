//! Everything the tool prints goes through [`say!`] (stdout) and [`tell!`] (stderr).
//!
//! In a secret-audit build (`--cfg zmq_auth_audit`, set only by `make test`) each
//! printed text is also appended to this process's audit log
//! (`$ZMQ_AUTH_AUDIT_DIR/zmq-auth-<pid>.log`, the file the library writes its records
//! to), so `tests/suite_audit.rs` searches what the tool showed its user for every
//! password and secret key of the run.

use std::io::Write as _;

/// `say!("format", args)`: one line on stdout.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::emit($crate::output::Stream::Out, &::std::format!($($arg)*), true)
    };
}

/// `tell!("format", args)`: one line on stderr.
macro_rules! tell {
    ($($arg:tt)*) => {
        $crate::output::emit($crate::output::Stream::Err, &::std::format!($($arg)*), true)
    };
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Out,
    Err,
}

/// Prints `text` (and a newline when `line`), flushed.
pub(crate) fn emit(stream: Stream, text: &str, line: bool) {
    #[cfg(zmq_auth_audit)]
    record(stream, text);
    let end = if line { "\n" } else { "" };
    // A closed pipe (`zmq-auth ... | head`) is no reason to panic.
    let _ = match stream {
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.write_all(end.as_bytes()))
                .and_then(|()| out.flush())
        }
        Stream::Err => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes())
                .and_then(|()| err.write_all(end.as_bytes()))
                .and_then(|()| err.flush())
        }
    };
}

/// Appends what is printed to the audit log; a record that cannot be written aborts
/// (as the library's audit does), so the audit never passes without having seen it.
#[cfg(zmq_auth_audit)]
fn record(stream: Stream, text: &str) {
    let Some(dir) = std::env::var_os("ZMQ_AUTH_AUDIT_DIR") else {
        return;
    };
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "zmq-auth".into());
    let path = std::path::Path::new(&dir).join(format!("{program}-{}.log", std::process::id()));
    let tag = match stream {
        Stream::Out => "STDOUT",
        Stream::Err => "STDERR",
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{tag} {text}\n").as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr(),
            "zmq-auth audit: cannot write {}: {e}; aborting",
            path.display()
        );
        std::process::abort();
    }
}
