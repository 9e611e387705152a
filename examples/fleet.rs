//! Fleet: two servers sharing one credential store; a key revoked through a third
//! handle is refused by both.
//!
//! Each server has its own `zmq::Context` and `ThreadAuthenticator` (as two processes
//! would), and both use the same store: an SQLite file by default, or PostgreSQL when a
//! connection string is given. The client's key is added and later revoked through a
//! third handle on the store (as the `zmq-auth` tool or an admin script would be); the
//! example prints how long each server took to refuse it.
//!
//! ```text
//! cargo run --example fleet --features sqlite
//! cargo run --example fleet --features sqlite,postgres -- "host=127.0.0.1 user=auth dbname=auth"
//! ```

mod common;

use std::time::{Duration, Instant};

use common::{
    curve_client, ensure, last_endpoint, recv_within, secret_key, Result, ADMIT_TIMEOUT,
    REFUSE_WINDOW,
};
use zmq_auth::store::CredentialStore;
use zmq_auth::{create_certificates, load_certificate, require_zap, zmq, ThreadAuthenticator};

/// The store-admin calls the example needs, for either store.
trait Admin {
    fn add(&self, key: &str) -> zmq_auth::Result<()>;
    fn revoke(&self, key: &str) -> zmq_auth::Result<bool>;
}

impl Admin for zmq_auth::store::SqliteStore {
    fn add(&self, key: &str) -> zmq_auth::Result<()> {
        self.add_key("*", key, &[("team", "blue")])
    }
    fn revoke(&self, key: &str) -> zmq_auth::Result<bool> {
        self.revoke_key("*", key).map(|r| r.removed)
    }
}

#[cfg(feature = "postgres")]
impl Admin for zmq_auth::store::PostgresStore {
    fn add(&self, key: &str) -> zmq_auth::Result<()> {
        self.add_key("*", key, &[("team", "blue")])
    }
    fn revoke(&self, key: &str) -> zmq_auth::Result<bool> {
        self.revoke_key("*", key).map(|r| r.removed)
    }
}

/// One server of the fleet: its own context, authenticator and CURVE socket.
struct Server {
    ctx: zmq::Context,
    auth: ThreadAuthenticator,
    socket: zmq::Socket,
    endpoint: String,
}

fn server(store: impl CredentialStore, secret: &[u8]) -> Result<Server> {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_curve_store("*", store)?;
    let socket = ctx.socket(zmq::PULL)?;
    socket.set_linger(0)?;
    socket.set_curve_server(true)?;
    socket.set_curve_secretkey(secret)?;
    require_zap(&socket, "fleet")?;
    socket.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&socket)?;
    Ok(Server {
        ctx,
        auth,
        socket,
        endpoint,
    })
}

/// Does a new client with this certificate get a message through to `s`?
fn admitted(
    s: &Server,
    cert: &zmq_auth::Certificate,
    server_key: &str,
    wait: Duration,
) -> Result<bool> {
    let client = curve_client(&s.ctx, &s.endpoint, cert, server_key)?;
    client.send("hello", zmq::DONTWAIT)?;
    Ok(match recv_within(&s.socket, wait)? {
        Some(mut msg) => msg.gets("team") == Some("blue"),
        None => false,
    })
}

fn main() -> Result {
    env_logger::init();
    if !zmq_auth::curve_available() {
        return Err("this libzmq was built without CURVE (libsodium)".into());
    }
    let dir = tempfile::tempdir()?;
    let (_, server_secret) = create_certificates(dir.path(), "server", &[])?;
    let (_, client_secret) = create_certificates(dir.path(), "client", &[])?;
    let server_cert = load_certificate(&server_secret)?;
    let client_cert = load_certificate(&client_secret)?;
    let client_key = client_cert.public_key().to_string();
    let secret = secret_key(&server_cert)?.to_vec();

    let conninfo = std::env::args().nth(1);
    let (servers, admin): (Vec<Server>, Box<dyn Admin>) = match conninfo {
        #[cfg(feature = "postgres")]
        Some(conninfo) => {
            use zmq_auth::store::PostgresStore;
            println!("store: PostgreSQL");
            let a = server(PostgresStore::connect(&conninfo)?, &secret)?;
            let b = server(PostgresStore::connect(&conninfo)?, &secret)?;
            (vec![a, b], Box::new(PostgresStore::connect(&conninfo)?))
        }
        #[cfg(not(feature = "postgres"))]
        Some(_) => return Err("a PostgreSQL connection string needs --features postgres".into()),
        None => {
            use zmq_auth::store::SqliteStore;
            let db = dir.path().join("fleet.db");
            println!("store: SQLite file {}", db.display());
            let a = server(SqliteStore::open(&db)?, &secret)?;
            let b = server(SqliteStore::open(&db)?, &secret)?;
            (vec![a, b], Box::new(SqliteStore::open(&db)?))
        }
    };
    let server_key = server_cert.public_key().to_string();

    admin.add(&client_key)?;
    for (i, s) in servers.iter().enumerate() {
        ensure(
            admitted(s, &client_cert, &server_key, ADMIT_TIMEOUT)?,
            &format!(
                "server {} admits the client, with the key's metadata",
                i + 1
            ),
        )?;
    }

    let t = Instant::now();
    ensure(
        admin.revoke(&client_key)?,
        "the key was revoked through a third handle",
    )?;
    for (i, s) in servers.iter().enumerate() {
        // A new connection per try, until this server's authenticator says "Unknown
        // key" (a try made before the server heard of the revocation is still admitted).
        let events = s.auth.events();
        let mut refused = None;
        while refused.is_none() && t.elapsed() < Duration::from_secs(5) {
            let client = curve_client(&s.ctx, &s.endpoint, &client_cert, &server_key)?;
            client.send("hello", zmq::DONTWAIT)?;
            match events.recv_timeout(Duration::from_secs(2)) {
                Ok(ev) if ev.reason == "Unknown key" => refused = Some(t.elapsed()),
                Ok(_) => {
                    recv_within(&s.socket, ADMIT_TIMEOUT)?;
                }
                Err(_) => return Err("FAILED: no decision reported".into()),
            }
        }
        let Some(after) = refused else {
            return Err(format!("FAILED: server {} still admits the revoked key", i + 1).into());
        };
        ensure(
            recv_within(&s.socket, REFUSE_WINDOW)?.is_none(),
            &format!(
                "server {} refuses the revoked key ({after:?} after the revocation)",
                i + 1
            ),
        )?;
    }
    Ok(())
}
