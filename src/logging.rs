//! The crate's one way to log: [`zlog!`] logs through the `log` facade under the
//! `zmq_auth` target.
//!
//! In a secret-audit build (`--cfg zmq_auth_audit`, set only by `make test`), every
//! message is also handed to `crate::audit`, formatted whatever the logger and level
//! are, so the suite-wide audit sees what *any* logging configuration could print.

/// `zlog!(Debug, "format {}", args)`: logs at `log::Level::Debug` with target
/// `zmq_auth`.
macro_rules! zlog {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(zmq_auth_audit)]
        $crate::audit::log_record(::log::Level::$level, &::std::format!($($arg)+));
        ::log::log!(target: "zmq_auth", ::log::Level::$level, $($arg)+);
    }};
}

/// Runs `f` (a log line, a metric: they call the application's logger and recorder) so
/// that a panic in it goes no further. For the paths that handle a panic already: a
/// second panic there would end the thread (the ZAP loop, the watcher), or abort the
/// process when it comes while unwinding.
pub(crate) fn contained(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

/// How many bytes of a peer-chosen value a log line shows.
const SHOWN: usize = 100;

/// A value chosen by the peer (domain, address), for a log line: lossy UTF-8, quoted,
/// and cut at [`SHOWN`] bytes with the full length noted, so a peer sending a 1 MiB
/// domain cannot make every log line 1 MiB long.
pub(crate) struct PeerText<'a>(pub(crate) &'a [u8]);

impl std::fmt::Debug for PeerText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.0[..self.0.len().min(SHOWN)];
        write!(f, "{:?}", String::from_utf8_lossy(shown))?;
        if self.0.len() > SHOWN {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::PeerText;

    #[test]
    fn peer_text_is_cut() {
        assert_eq!(format!("{:?}", PeerText(b"dom")), "\"dom\"");
        let long = vec![b'a'; 1 << 20];
        let shown = format!("{:?}", PeerText(&long));
        assert_eq!(shown, format!("\"{}\"... (1048576 bytes)", "a".repeat(100)));
    }
}
