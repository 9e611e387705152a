//! Look-ups of a [`super::PostgresStore`] (the [`Backend`] the engine's pool calls), each
//! under a client-side deadline.
//!
//! `statement_timeout` works only while the server answers; a frozen pooler, a partition
//! or a half-open connection answers nothing. So each look-up connection has a
//! single-threaded runtime of its own, every call runs under `tokio::time::timeout`, and
//! a connection that misses its deadline is dropped (its runtime and socket with it:
//! nothing waits for the server).

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

use super::{text, Inner};
use crate::store::{Backend, KeyRow};

/// A look-up connection: a client and the runtime that drives its socket.
pub(super) struct LookupConn {
    client: Client,
    rt: Runtime,
}

/// Why a call failed.
pub(super) enum Fault {
    /// The connection failed or missed its deadline: it is dropped, the request is 300.
    Connection(String),
    /// The server cannot hold the request's input (a data exception): no row matches.
    Input(String),
    /// The server refused the request for another reason (a missing table): 300, and the
    /// connection is kept.
    Refused(String),
}

impl Fault {
    /// What went wrong, in one line.
    pub(super) fn text(self) -> String {
        match self {
            Fault::Connection(t) | Fault::Input(t) | Fault::Refused(t) => t,
        }
    }
}

fn fault(e: &tokio_postgres::Error) -> Fault {
    if is_input_error(e) {
        Fault::Input(text(e))
    } else if is_connection_error(e) {
        Fault::Connection(text(e))
    } else {
        Fault::Refused(text(e))
    }
}

/// Whether `e` says the connection failed (I/O, closed, a server going away), rather
/// than the server refusing this request. Unknown kinds count as connection errors:
/// the worst a wrong guess costs is one reconnect.
pub(super) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(state) => {
            let code = state.code();
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }
    }
}

/// A data exception (SQLSTATE class 22): the server cannot hold the request's input
/// (a NUL in text, an invalid byte sequence). Such a row cannot exist.
fn is_input_error(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|s| s.code().starts_with("22"))
}

impl LookupConn {
    /// Connects within `deadline`.
    pub(super) fn open(
        config: &tokio_postgres::Config,
        deadline: Duration,
    ) -> Result<LookupConn, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let (client, connection) = rt
            .block_on(async { tokio::time::timeout(deadline, config.connect(NoTls)).await })
            .map_err(|_| format!("no connection within {deadline:?}"))?
            .map_err(|e| text(&e))?;
        rt.spawn(async move {
            // Ends when the client is dropped or the socket fails.
            let _ = connection.await;
        });
        let conn = LookupConn { client, rt };
        conn.call(
            deadline,
            conn.client.batch_execute("SET statement_timeout = '2s'"),
        )
        .map_err(|f| f.text())?;
        Ok(conn)
    }

    /// Runs `f` on this connection's client under `deadline`.
    pub(super) fn call_with<T>(
        &mut self,
        deadline: Duration,
        f: &impl AsyncFn(&mut Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, Fault> {
        let LookupConn { client, rt } = self;
        match rt.block_on(async { tokio::time::timeout(deadline, f(client)).await }) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(fault(&e)),
            Err(_) => Err(Fault::Connection(format!(
                "no answer within {deadline:?} (client-side deadline)"
            ))),
        }
    }

    fn call<T>(
        &self,
        deadline: Duration,
        fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Fault> {
        match self
            .rt
            .block_on(async { tokio::time::timeout(deadline, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(fault(&e)),
            Err(_) => Err(Fault::Connection(format!(
                "no answer within {deadline:?} (client-side deadline)"
            ))),
        }
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

async fn key_row(
    c: &Client,
    domain: &str,
    key_z85: &str,
) -> Result<Option<KeyRow>, tokio_postgres::Error> {
    let Some(row) = c
        .query_opt(
            "SELECT domain, CAST(EXTRACT(EPOCH FROM expires) AS BIGINT) FROM zmq_auth_keys
             WHERE public_key = $1
               AND domain = CASE WHEN EXISTS
                   (SELECT 1 FROM zmq_auth_keys WHERE domain = $2) THEN $2 ELSE '*' END
               AND (expires IS NULL OR expires > now())",
            &[&key_z85, &domain],
        )
        .await?
    else {
        return Ok(None);
    };
    let row_domain: String = row.try_get(0)?;
    let expires: Option<i64> = row.try_get(1)?;
    let rows = c
        .query(
            "SELECT name, value FROM zmq_auth_key_metadata
             WHERE domain = $1 AND public_key = $2 ORDER BY name",
            &[&row_domain, &key_z85],
        )
        .await?;
    let mut metadata = Vec::with_capacity(rows.len());
    for r in rows {
        metadata.push((r.try_get(0)?, r.try_get(1)?));
    }
    Ok(Some(KeyRow {
        metadata,
        expires: expires.map(|t| u64::try_from(t).unwrap_or(0)),
    }))
}

async fn user_row(
    c: &Client,
    domain: &str,
    user: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    match c
        .query_opt(
            "SELECT password_hash FROM zmq_auth_users
             WHERE username = $1
               AND domain = CASE WHEN EXISTS
                   (SELECT 1 FROM zmq_auth_users WHERE domain = $2) THEN $2 ELSE '*' END",
            &[&user, &domain],
        )
        .await?
    {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

/// The domain to look up: PostgreSQL text cannot hold a NUL, so such a domain (set by a
/// server, never by a peer) has no rows of its own, and `*` answers for it.
fn holdable_domain(domain: &str) -> &str {
    if domain.contains('\0') {
        "*"
    } else {
        domain
    }
}

impl Inner {
    /// Runs one look-up on an idle connection or a new one, under the store's deadline.
    /// A pooled connection that fails with a connection-class error (not a timeout) may
    /// just be stale (the server restarted): the look-up is tried once more on a new one.
    /// An error about the request keeps the connection: a hostile input must not cost a
    /// reconnect (issue 21).
    fn lookup<T>(
        &self,
        f: impl Fn(&LookupConn, Duration) -> Result<T, Fault>,
    ) -> Result<Option<T>, String> {
        let deadline = self.query_timeout();
        let pooled = self.lookups.lock().pop().filter(|c| !c.is_closed());
        let from_pool = pooled.is_some();
        let mut conn = match pooled {
            Some(c) => c,
            None => LookupConn::open(&self.lookup_config, deadline)?,
        };
        let mut out = f(&conn, deadline);
        if from_pool && matches!(&out, Err(Fault::Connection(_))) && conn.is_closed() {
            conn = LookupConn::open(&self.lookup_config, deadline)?;
            out = f(&conn, deadline);
        }
        let keep = !matches!(out, Err(Fault::Connection(_))) && !conn.is_closed();
        if keep {
            let mut idle = self.lookups.lock();
            if idle.len() < super::IDLE_MAX {
                idle.push(conn);
            }
        }
        match out {
            Ok(v) => Ok(Some(v)),
            Err(Fault::Input(_)) => Ok(None),
            Err(Fault::Connection(e) | Fault::Refused(e)) => Err(e),
        }
    }

    /// Runs an admin call on an idle connection or a new one, under [`ADMIN_TIMEOUT`];
    /// tried once more on a new connection when a pooled one turns out closed (every
    /// admin call is a read or an idempotent transaction).
    ///
    /// [`ADMIN_TIMEOUT`]: super::ADMIN_TIMEOUT
    pub(super) fn admin<T>(
        &self,
        f: impl AsyncFn(&mut Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, String> {
        let deadline = super::ADMIN_TIMEOUT;
        let pooled = self.lookups.lock().pop().filter(|c| !c.is_closed());
        let from_pool = pooled.is_some();
        let mut conn = match pooled {
            Some(c) => c,
            None => LookupConn::open(&self.lookup_config, deadline)?,
        };
        let mut out = conn.call_with(deadline, &f);
        if from_pool && matches!(&out, Err(Fault::Connection(_))) && conn.is_closed() {
            conn = LookupConn::open(&self.lookup_config, deadline)?;
            out = conn.call_with(deadline, &f);
        }
        if !matches!(out, Err(Fault::Connection(_))) && !conn.is_closed() {
            let mut idle = self.lookups.lock();
            if idle.len() < super::IDLE_MAX {
                idle.push(conn);
            }
        }
        out.map_err(Fault::text)
    }
}

impl Backend for Inner {
    fn find_key(&self, domain: &str, key_z85: &str) -> Result<Option<KeyRow>, String> {
        let domain = holdable_domain(domain);
        let found: Option<Option<KeyRow>> =
            self.lookup(|c, d| c.call(d, key_row(&c.client, domain, key_z85)))?;
        Ok(found.flatten())
    }

    fn find_user(&self, domain: &str, user: &str) -> Result<Option<String>, String> {
        if user.contains('\0') {
            return Ok(None); // no row can hold it
        }
        let domain = holdable_domain(domain);
        let found: Option<Option<String>> =
            self.lookup(|c, d| c.call(d, user_row(&c.client, domain, user)))?;
        Ok(found.flatten())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
