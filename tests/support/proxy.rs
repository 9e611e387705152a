//! A TCP proxy for fault injection between a store and the test PostgreSQL: it can
//! freeze connections (nothing forwarded, connections kept open: a silent pooler, a
//! frozen host), delay what they carry, close them abruptly, and half-close them.
//!
//! Connections are numbered in the order the proxy accepted them, so a test can freeze
//! only some (for example the change feed's) and leave the others working. Every thread
//! of the proxy ends when it is dropped.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a connection does with the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards at once.
    Pass,
    /// Forwards nothing; the connection stays open.
    Freeze,
    /// Forwards each read after this delay.
    Delay(Duration),
    /// Being reset: the pumps let go, and the last close sends RST to the store.
    Reset,
}

struct Conn {
    mode: Mutex<Mode>,
    client: TcpStream,
    server: TcpStream,
}

struct Shared {
    upstream: SocketAddr,
    /// The mode new connections start in.
    default: Mutex<Mode>,
    conns: Mutex<Vec<Arc<Conn>>>,
    stop: AtomicBool,
}

/// A running proxy: connect to `127.0.0.1:port` instead of the server.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

const TICK: Duration = Duration::from_millis(20);

impl Proxy {
    /// Starts a proxy on a free loopback port in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream,
            default: Mutex::new(Mode::Pass),
            conns: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        std::thread::spawn(move || accept(&listener, &s));
        Proxy { port, shared }
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }

    /// Sets the mode of every connection accepted so far, and of those to come.
    pub fn set_all(&self, mode: Mode) {
        *self.shared.default.lock().unwrap() = mode;
        for c in self.shared.conns.lock().unwrap().iter() {
            *c.mode.lock().unwrap() = mode;
        }
    }

    /// Sets the mode of the connections accepted so far whose number (from 0) `pick`
    /// selects; later connections keep the default.
    pub fn set_some(&self, pick: impl Fn(usize) -> bool, mode: Mode) {
        for (i, c) in self.shared.conns.lock().unwrap().iter().enumerate() {
            if pick(i) {
                *c.mode.lock().unwrap() = mode;
            }
        }
    }

    /// Resets every connection accepted so far: the store's side gets a TCP RST in the
    /// middle of whatever it was doing (`ECONNRESET`, not an orderly end-of-file), and the
    /// server's side is closed.
    pub fn reset_all(&self) {
        for c in self.shared.conns.lock().unwrap().drain(..) {
            abort_on_close(&c.client);
            *c.mode.lock().unwrap() = Mode::Reset;
            // Sends nothing; wakes a pump blocked in a read on the server side.
            let _ = c.server.shutdown(Shutdown::Read);
        }
    }

    /// Half-closes every connection accepted so far: the store gets end-of-file, while
    /// its own writes still reach the server.
    pub fn half_close_all(&self) {
        for c in self.shared.conns.lock().unwrap().iter() {
            let _ = c.client.shutdown(Shutdown::Write);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.reset_all();
    }
}

/// Zero linger: the socket's last close aborts the connection with RST instead of FIN.
fn abort_on_close(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `s` is an open socket and `linger` is a `struct linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).unwrap(),
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(TICK);
                continue;
            }
            Err(_) => return,
        };
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            continue; // the client sees its connection closed
        };
        let _ = client.set_nonblocking(false);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let conn = Arc::new(Conn {
            mode: Mutex::new(*shared.default.lock().unwrap()),
            client,
            server,
        });
        shared.conns.lock().unwrap().push(Arc::clone(&conn));
        for to_server in [true, false] {
            let (c, s) = (Arc::clone(&conn), Arc::clone(shared));
            std::thread::spawn(move || pump(&c, &s, to_server));
        }
    }
}

/// Copies one direction of a connection, obeying its mode.
fn pump(conn: &Conn, shared: &Shared, to_server: bool) {
    let (Ok(mut from), Ok(mut to)) = (
        if to_server {
            &conn.client
        } else {
            &conn.server
        }
        .try_clone(),
        if to_server {
            &conn.server
        } else {
            &conn.client
        }
        .try_clone(),
    ) else {
        return;
    };
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mode = *conn.mode.lock().unwrap();
        if mode == Mode::Reset {
            return; // no shutdown: the last close of the client socket sends RST
        }
        if mode == Mode::Freeze {
            std::thread::sleep(TICK); // read nothing: the sender's buffers fill
            continue;
        }
        let n = match from.read(&mut buf) {
            _ if *conn.mode.lock().unwrap() == Mode::Reset => return,
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        };
        // A freeze that began while this read waited holds its bytes too.
        loop {
            match *conn.mode.lock().unwrap() {
                Mode::Freeze if !shared.stop.load(Ordering::SeqCst) => std::thread::sleep(TICK),
                Mode::Delay(d) => {
                    std::thread::sleep(d);
                    break;
                }
                Mode::Reset => return,
                _ => break,
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
    }
}
