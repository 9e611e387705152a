//! `probe ENDPOINT`: a real CURVE or PLAIN handshake, reported from the client socket's
//! monitor. libzmq's monitor messages are two frames: 6 bytes (event number u16, value
//! u32, both little-endian), then the endpoint.

use std::time::{Duration, Instant};

use zmq_auth::zmq::{self, SocketEvent};
use zmq_auth::{curve_available, decode_z85_key, load_certificate};

use crate::cli::ProbeArgs;
use crate::{password, Fail, Outcome, Run};

/// What the monitor said, reduced to what the probe reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Admitted,
    /// The server's ZAP handler answered this status (300, 400, 500).
    Refused(u32),
    /// A ZMTP/ZAP protocol error code (`ZMQ_PROTOCOL_ERROR_*`).
    Protocol(u32),
    /// The connection closed during the handshake: `HANDSHAKE_FAILED_NO_DETAIL` with
    /// an errno, or `DISCONNECTED` (no errno).
    Closed(Option<u32>),
}

/// The events the probe listens to.
fn event_mask() -> i32 {
    [
        SocketEvent::CONNECTED,
        SocketEvent::CONNECT_RETRIED,
        SocketEvent::DISCONNECTED,
        SocketEvent::HANDSHAKE_SUCCEEDED,
        SocketEvent::HANDSHAKE_FAILED_AUTH,
        SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
        SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
    ]
    .iter()
    .map(|e| i32::from(e.to_raw()))
    .fold(0, |a, b| a | b)
}

fn setup(what: &'static str) -> impl Fn(zmq::Error) -> Fail {
    move |e| Fail(format!("{what}: {e}"))
}

pub(crate) fn run(a: &ProbeArgs) -> Run {
    if !(a.timeout.is_finite() && a.timeout > 0.0 && a.timeout <= 86_400.0) {
        return Err(Fail(format!(
            "--timeout {}: expected seconds between 0 and 86400",
            a.timeout
        )));
    }
    let timeout = Duration::from_secs_f64(a.timeout);
    check_endpoint(&a.endpoint)?;
    let ctx = zmq::Context::new();
    let sock = ctx
        .socket(zmq::DEALER)
        .map_err(setup("creating the client socket"))?;
    sock.set_linger(0).map_err(setup("ZMQ_LINGER"))?;
    let mechanism = match &a.plain_user {
        Some(user) => {
            if a.server_key.is_some() {
                tell!("zmq-auth: note: --server-key is not used with PLAIN (--plain-user)");
            }
            let password = password::read(user)?;
            sock.set_plain_username(Some(user))
                .map_err(setup("--plain-user"))?;
            sock.set_plain_password(Some(password.as_str()))
                .map_err(setup("the password"))?;
            "PLAIN"
        }
        None => {
            curve(a, &sock)?;
            "CURVE"
        }
    };
    // libzmq retries a refused connection on its own; keep the retries frequent so the
    // probe sees a server that comes up while it waits.
    sock.set_reconnect_ivl(100)
        .map_err(setup("ZMQ_RECONNECT_IVL"))?;
    let monitor_endpoint = format!("inproc://zmq-auth-probe-monitor-{}", std::process::id());
    sock.monitor(&monitor_endpoint, event_mask())
        .map_err(setup("zmq_socket_monitor"))?;
    let monitor = ctx
        .socket(zmq::PAIR)
        .map_err(setup("creating the monitor socket"))?;
    monitor.set_linger(0).map_err(setup("ZMQ_LINGER"))?;
    monitor
        .connect(&monitor_endpoint)
        .map_err(setup("connecting the monitor"))?;
    sock.connect(&a.endpoint).map_err(|e| {
        Fail(format!(
            "{}: {e} (an endpoint is TRANSPORT://ADDRESS, e.g. tcp://127.0.0.1:9000 or \
             ipc:///run/app.sock)",
            a.endpoint
        ))
    })?;

    let (seen, connected) = watch(&monitor, timeout)?;
    let endpoint = &a.endpoint;
    let throwaway = mechanism == "CURVE" && a.cert.is_none();
    let outcome = match seen {
        Some(Seen::Admitted) => {
            say!("admitted: the {mechanism} handshake with {endpoint} succeeded");
            if throwaway {
                say!("(with a throwaway client key: this server admits any CURVE client)");
            }
            return Ok(Outcome::Ok);
        }
        Some(Seen::Refused(status)) => {
            let meaning = match status {
                300 => "temporary failure, try later",
                400 => "authentication failed: unknown key, wrong username or password, or address not allowed",
                500 => "the handler had an internal error",
                _ => "an unexpected status",
            };
            let hint = if throwaway && status == 400 {
                " (a throwaway client key was used: pass --cert with the client's secret certificate)"
            } else {
                ""
            };
            format!("refused: {endpoint}'s ZAP handler answered {status} ({meaning}){hint}")
        }
        Some(Seen::Protocol(code)) => format!(
            "handshake failed: protocol error 0x{code:08x} ({})",
            describe_protocol(code, mechanism)
        ),
        Some(Seen::Closed(errno)) => {
            let hint = if mechanism == "CURVE" {
                "most often a wrong --server-key; also a server that does not use CURVE, or a ZAP 300 'try later'"
            } else {
                "a server that does not use PLAIN, a ZAP 300 'try later', or not a ZeroMQ server"
            };
            let detail = match errno {
                Some(e) => format!(
                    "HANDSHAKE_FAILED_NO_DETAIL, {}",
                    std::io::Error::from_raw_os_error(e as i32)
                ),
                None => "DISCONNECTED".to_string(),
            };
            format!("handshake failed: {endpoint} closed the connection during the {mechanism} handshake ({detail}): {hint}")
        }
        None if connected => format!(
            "no answer: connected to {endpoint}, but the handshake did not finish within {:?}",
            timeout
        ),
        None => format!(
            "no answer: could not connect to {endpoint} within {:?} (nothing listening?)",
            timeout
        ),
    };
    say!("{outcome}");
    Ok(Outcome::No)
}

/// libzmq answers a bare `HOST:PORT` with "Invalid argument"; say what is missing.
fn check_endpoint(endpoint: &str) -> Result<(), Fail> {
    if endpoint.contains("://") {
        return Ok(());
    }
    Err(Fail(format!(
        "ENDPOINT {endpoint}: no transport; a ZeroMQ endpoint names one, e.g. tcp://{endpoint}"
    )))
}

/// Sets up the CURVE client side: server key, client key pair.
fn curve(a: &ProbeArgs, sock: &zmq::Socket) -> Result<(), Fail> {
    // A certificate file wins over a key; a key is never printed back: someone may have
    // pasted a secret key.
    let arg = a.server_key.as_deref().unwrap_or_default();
    let server_key = if !arg.is_empty() && std::fs::symlink_metadata(arg).is_ok() {
        *load_certificate(arg)
            .map_err(|e| Fail(format!("--server-key: {e}")))?
            .public_key_bytes()
    } else {
        decode_z85_key(arg).map_err(|m| {
            Fail(format!(
                "--server-key: neither a certificate file nor a Z85 public key ({m})"
            ))
        })?
    };
    if !curve_available() {
        return Err(Fail("the linked libzmq has no CURVE support".into()));
    }
    sock.set_curve_serverkey(&server_key)
        .map_err(setup("--server-key"))?;
    match &a.cert {
        Some(path) => {
            let cert = load_certificate(path)?;
            let secret = cert.secret_key_bytes().ok_or_else(|| {
                Fail(format!(
                    "{}: no secret key (--cert takes a secret certificate, NAME.key_secret)",
                    path.display()
                ))
            })?;
            sock.set_curve_publickey(cert.public_key_bytes())
                .map_err(setup("--cert"))?;
            sock.set_curve_secretkey(secret).map_err(setup("--cert"))?;
        }
        None => {
            let pair = zmq::CurveKeyPair::new().map_err(setup("generating a client key"))?;
            sock.set_curve_publickey(&pair.public_key)
                .map_err(setup("client key"))?;
            sock.set_curve_secretkey(&pair.secret_key)
                .map_err(setup("client key"))?;
        }
    }
    Ok(())
}

/// Reads monitor events until the handshake's outcome or the deadline. Also says
/// whether a TCP connection was ever made.
fn watch(monitor: &zmq::Socket, timeout: Duration) -> Result<(Option<Seen>, bool), Fail> {
    let deadline = Instant::now() + timeout;
    let mut connected = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok((None, connected));
        }
        let ms = i64::try_from(left.as_millis().max(1)).unwrap_or(i64::MAX);
        match monitor.poll(zmq::POLLIN, ms) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(Fail(format!("polling the monitor: {e}"))),
        }
        let frames = match monitor.recv_multipart(zmq::DONTWAIT) {
            Ok(f) => f,
            Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
            Err(e) => return Err(Fail(format!("reading the monitor: {e}"))),
        };
        let Some((event, value)) = frames.first().and_then(|f| decode_event(f)) else {
            continue;
        };
        let is = |e: SocketEvent| event == e.to_raw();
        if is(SocketEvent::CONNECTED) {
            connected = true;
        } else if is(SocketEvent::HANDSHAKE_SUCCEEDED) {
            return Ok((Some(Seen::Admitted), connected));
        } else if is(SocketEvent::HANDSHAKE_FAILED_AUTH) {
            return Ok((Some(Seen::Refused(value)), connected));
        } else if is(SocketEvent::HANDSHAKE_FAILED_PROTOCOL) {
            return Ok((Some(Seen::Protocol(value)), connected));
        } else if is(SocketEvent::HANDSHAKE_FAILED_NO_DETAIL) {
            return Ok((Some(Seen::Closed(Some(value))), connected));
        } else if is(SocketEvent::DISCONNECTED) {
            return Ok((Some(Seen::Closed(None)), connected));
        }
        // CONNECT_RETRIED: nothing listening yet; libzmq tries again.
    }
}

/// The first monitor frame: event number and value.
fn decode_event(frame: &[u8]) -> Option<(u16, u32)> {
    let event = u16::from_le_bytes(frame.get(0..2)?.try_into().ok()?);
    let value = u32::from_le_bytes(frame.get(2..6)?.try_into().ok()?);
    Some((event, value))
}

/// `ZMQ_PROTOCOL_ERROR_*` codes (zmq.h, libzmq 4.3) in words.
fn describe_protocol(code: u32, mechanism: &str) -> String {
    match code {
        0x1100_0001 => "cryptographic error: a wrong --server-key or a damaged message".into(),
        0x1100_0002 => format!("mechanism mismatch: the server does not use {mechanism}"),
        0x1000_0001 => "unexpected ZMTP command".into(),
        0x1000_0002 => "invalid ZMTP command sequence".into(),
        0x1000_0003 => "key exchange failed".into(),
        0x1000_0011..=0x1000_0017 => "malformed ZMTP command".into(),
        0x1000_0018 | 0x2000_0005 => "invalid metadata".into(),
        0x2000_0000..=0x2000_0004 => "the server's ZAP handler sent an invalid reply".into(),
        _ => "unspecified".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_frame() {
        let mut frame = 0x4000u16.to_le_bytes().to_vec();
        frame.extend_from_slice(&400u32.to_le_bytes());
        assert_eq!(decode_event(&frame), Some((0x4000, 400)));
        assert_eq!(decode_event(&frame[..5]), None);
    }

    #[test]
    fn mask_has_the_handshake_events() {
        assert_eq!(event_mask() & 0x7800, 0x7800);
    }
}
