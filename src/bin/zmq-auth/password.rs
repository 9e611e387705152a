//! Reading a PLAIN password: from the terminal without echo, or the first line of
//! stdin when stdin is not a terminal. Never from an argument, never printed.

use std::io::{BufRead as _, IsTerminal as _};

use crate::Fail;

/// A password, wiped from memory when dropped (best effort: what `read_line` may have
/// copied while growing its buffer is out of reach; the buffer is sized to avoid it).
pub(crate) struct Password(String);

impl Password {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

/// Reads the password for `user`: prompts on stderr and turns echo off when stdin is a
/// terminal; otherwise reads stdin's first line.
pub(crate) fn read(user: &str) -> Result<Password, Fail> {
    let stdin = std::io::stdin();
    let mut line = Password(String::with_capacity(1024));
    if stdin.is_terminal() {
        let prompt = format!("password for {user}: ");
        crate::output::emit(crate::output::Stream::Err, &prompt, false);
        let _echo_off = EchoOff::new();
        stdin.lock().read_line(&mut line.0)?;
        tell!("");
    } else {
        stdin.lock().read_line(&mut line.0)?;
    }
    let len = line.0.trim_end_matches(['\n', '\r']).len();
    // Truncating keeps the same buffer (no copy of the password is made).
    line.0.truncate(len);
    if line.0.is_empty() {
        // As the README says: a libzmq client that sets only a username sends an empty
        // password, so zmq-auth never accepts one.
        return Err(Fail(
            "empty password (on stdin or the terminal): empty passwords are never accepted \
             (a libzmq client that sets only a username sends one)"
                .into(),
        ));
    }
    Ok(line)
}

/// Reads a new password for `user`: on a terminal, asked twice and the two must match;
/// otherwise stdin's first line.
pub(crate) fn read_new(user: &str) -> Result<Password, Fail> {
    let first = read(user)?;
    if std::io::stdin().is_terminal() {
        let again = read(&format!("{user} (again)"))?;
        if again.as_str() != first.as_str() {
            return Err(Fail("the two passwords differ; nothing changed".into()));
        }
    }
    Ok(first)
}

/// Turns terminal echo off on stdin until dropped.
struct EchoOff {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new() -> EchoOff {
        #[cfg(unix)]
        {
            // SAFETY: an all-zero termios is a valid value to be overwritten by
            // tcgetattr; fd 0 is stdin, checked to be a terminal by the caller; the
            // pointers are to live locals.
            unsafe {
                let mut term: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(libc::STDIN_FILENO, &mut term) != 0 {
                    return EchoOff { saved: None };
                }
                let saved = term;
                term.c_lflag &= !libc::ECHO;
                if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term) != 0 {
                    return EchoOff { saved: None };
                }
                EchoOff { saved: Some(saved) }
            }
        }
        #[cfg(not(unix))]
        EchoOff {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            // SAFETY: restores the settings tcgetattr gave for the same descriptor.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}
