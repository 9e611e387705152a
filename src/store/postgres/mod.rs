//! [`PostgresStore`]: credentials in a shared PostgreSQL database (feature `postgres`).

mod listen;
mod lookup;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio_postgres::Config;

use super::{
    check_key_args, check_user, sealed, store_domain, Backend, Cache, CredentialStore, Revocation,
    StoreHandle, StoredKey,
};
use crate::error::{Error, Result};

const SCHEMA_VERSION: &str = "1";
/// The channel the triggers notify and every server listens on.
pub(super) const CHANNEL: &str = "zmq_auth_changed";
/// Connections kept for look-ups (the engine's pool has 4 threads by default).
const IDLE_MAX: usize = 8;
/// A server that does not answer a connection attempt in this time is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The default client-side deadline of a look-up (the engine's default deadline).
const QUERY_TIMEOUT_MS: u64 = 2000;
/// The client-side deadline of an admin call (and of creating the schema at connect).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `connect` waits for the change feed's first heartbeat.
const FIRST_PROOF: Duration = Duration::from_secs(3);

const SCHEMA: &str = r#"
SELECT pg_advisory_xact_lock(7274237);
CREATE TABLE IF NOT EXISTS zmq_auth_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS zmq_auth_keys (
    domain TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires TIMESTAMPTZ,
    PRIMARY KEY (domain, public_key)
);
CREATE TABLE IF NOT EXISTS zmq_auth_key_metadata (
    domain TEXT NOT NULL,
    public_key TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (domain, public_key, name)
);
CREATE TABLE IF NOT EXISTS zmq_auth_users (
    domain TEXT NOT NULL,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    PRIMARY KEY (domain, username)
);
INSERT INTO zmq_auth_meta (name, value) VALUES ('schema_version', '1')
    ON CONFLICT (name) DO NOTHING;
CREATE OR REPLACE FUNCTION zmq_auth_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('zmq_auth_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['zmq_auth_keys', 'zmq_auth_key_metadata', 'zmq_auth_users'] LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_trigger
            WHERE tgname = t || '_notify' AND tgrelid = t::regclass
        ) THEN
            EXECUTE format(
                'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                'FOR EACH STATEMENT EXECUTE FUNCTION zmq_auth_notify()',
                t || '_notify', t);
        END IF;
    END LOOP;
END $$;
"#;

/// CURVE keys and PLAIN users in a PostgreSQL database (feature `postgres`): the fleet
/// store. Every server that connects listens for changes (triggers on the tables
/// `NOTIFY` them, whoever makes them, `psql` included) and drops its cache at once.
/// Connections are plain TCP or a Unix socket, without TLS: keep the database on a
/// trusted network. Cheap to clone (clones share connections and the cache).
///
/// ```no_run
/// # #[cfg(feature = "postgres")] {
/// use zmq_auth::store::PostgresStore;
/// let store = PostgresStore::connect("host=127.0.0.1 port=5432 user=auth dbname=auth").unwrap();
/// // or PostgresStore::connect("postgres://auth@127.0.0.1/auth")
/// store.add_key("*", &zmq_auth::encode_z85_key(&[7u8; 32]), &[("name", "Alice")]).unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// The same settings, for the look-up connections (with a client-side deadline).
    lookup_config: tokio_postgres::Config,
    describe: String,
    /// Connections for look-ups and admin calls (lookup.rs).
    lookups: Mutex<Vec<lookup::LookupConn>>,
    /// The client-side deadline of a look-up, in milliseconds.
    query_timeout_ms: AtomicU64,
    cache: Arc<Cache>,
}

impl Inner {
    fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms.load(Ordering::Relaxed))
    }
}

/// Dropping the last handle must not wait for a server (closing a client waits for its
/// connection to finish): the connections are closed on a thread of their own.
impl Drop for Inner {
    fn drop(&mut self) {
        let lookups = std::mem::take(&mut *self.lookups.lock());
        if lookups.is_empty() {
            return;
        }
        let closing = std::thread::Builder::new()
            .name("zmq-auth-pg-close".into())
            .spawn(move || drop(lookups));
        if let Err(e) = closing {
            zlog!(
                Warn,
                "postgres store: could not close connections aside: {e}"
            );
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.inner.describe)
            .finish_non_exhaustive()
    }
}

/// `postgres://host:port/db` (never a password), for logs and errors.
fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_string());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres://{host}:{port}/{db}")
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl PostgresStore {
    /// Connects to the database given as a URL (`postgres://user@host:port/db`) or a
    /// key=value string (`host=... port=... user=... dbname=...`); creates the tables and
    /// triggers when missing (once, under an advisory lock, however many servers start at
    /// once), checks the schema version, and starts a listener thread that follows
    /// changes (it ends when the last clone is dropped). The connect timeout defaults to
    /// 2 s.
    pub fn connect(conninfo: &str) -> Result<PostgresStore> {
        let mut lookup_config: tokio_postgres::Config = conninfo
            .parse()
            .map_err(|e| Error::store("postgres", format!("bad connection string: {e}")))?;
        if lookup_config.get_connect_timeout().is_none() {
            lookup_config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that vanishes without closing the connection (a partition) must be
        // noticed in seconds, not at the kernel's TCP timeout.
        lookup_config.keepalives(true);
        lookup_config.keepalives_idle(Duration::from_secs(1));
        #[cfg(target_os = "linux")]
        lookup_config.tcp_user_timeout(CONNECT_TIMEOUT);
        let name = describe(&lookup_config);
        let err = |e: String| Error::store(name.clone(), e);
        let mut conn = lookup::LookupConn::open(&lookup_config, ADMIN_TIMEOUT).map_err(err)?;
        let version: String = conn
            .call_with(ADMIN_TIMEOUT, &async |c: &mut tokio_postgres::Client| {
                let tx = c.transaction().await?;
                tx.batch_execute(SCHEMA).await?;
                tx.commit().await?;
                c.query_one(
                    "SELECT value FROM zmq_auth_meta WHERE name = 'schema_version'",
                    &[],
                )
                .await?
                .try_get(0)
            })
            .map_err(|f| err(f.text()))?;
        if version != SCHEMA_VERSION {
            return Err(Error::store(
                name,
                format!("schema version {version}; this zmq-auth reads version {SCHEMA_VERSION}"),
            ));
        }
        // Untrusted until the listener is up: no answer is cached before it can be told
        // of changes.
        let cache = Arc::new(Cache::new(false));
        let inner = Arc::new(Inner {
            lookup_config,
            describe: name,
            lookups: Mutex::new(vec![conn]),
            query_timeout_ms: AtomicU64::new(QUERY_TIMEOUT_MS),
            cache: Arc::clone(&cache),
        });
        let weak = Arc::downgrade(&inner);
        let describe = inner.describe.clone();
        let beat_config = inner.lookup_config.clone();
        let (ready, first_proof) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("zmq-auth-pg-listen".into())
            .spawn(move || listen::listen(&weak, &beat_config, &cache, &describe, &ready))
            .map_err(|e| Error::io("<thread>", e))?;
        // A feed that cannot deliver would leave every answer uncached, silently: refuse.
        if first_proof.recv_timeout(FIRST_PROOF).is_err() {
            return Err(Error::store(
                inner.describe.clone(),
                format!(
                    "the change feed (LISTEN/NOTIFY) delivered no heartbeat within \
                     {FIRST_PROOF:?}. Behind a connection pooler in transaction or statement \
                     pooling mode (PgBouncer pool_mode = transaction) a notification goes to \
                     whichever client holds the server connection, so revocations would never \
                     arrive: connect the store directly to PostgreSQL, or through a pool in \
                     session mode (pool_mode = session)"
                ),
            ));
        }
        Ok(PostgresStore { inner })
    }

    /// Runs `f` on a connection (an idle one, or a new one) under the admin deadline; a
    /// connection that failed is dropped, a good one kept for later.
    fn with_client<T>(
        &self,
        f: impl AsyncFn(&mut tokio_postgres::Client) -> std::result::Result<T, tokio_postgres::Error>,
    ) -> Result<T> {
        self.inner
            .admin(f)
            .map_err(|e| Error::store(self.inner.describe.clone(), e))
    }

    /// [`with_client`](Self::with_client) for a change; the cache is emptied after it.
    fn write<T>(
        &self,
        f: impl AsyncFn(&mut tokio_postgres::Client) -> std::result::Result<T, tokio_postgres::Error>,
    ) -> Result<T> {
        let out = self.with_client(f);
        // Our own change: do not wait for the notification.
        self.inner.cache.invalidate();
        out
    }

    /// Trusts a CURVE public key (40 Z85 characters) in `domain` (`*`: every domain
    /// without keys of its own), with metadata sent to the server as a certificate's would
    /// be. Replaces the key's previous metadata.
    pub fn add_key(
        &self,
        domain: &str,
        public_key_z85: &str,
        metadata: &[(&str, &str)],
    ) -> Result<()> {
        self.put_key(domain, public_key_z85, metadata, None)
    }

    /// [`add_key`](Self::add_key) for a key that stops admitting at `expires`.
    pub fn add_key_until(
        &self,
        domain: &str,
        public_key_z85: &str,
        metadata: &[(&str, &str)],
        expires: SystemTime,
    ) -> Result<()> {
        self.put_key(domain, public_key_z85, metadata, Some(unix(expires)))
    }

    fn put_key(
        &self,
        domain: &str,
        public_key_z85: &str,
        metadata: &[(&str, &str)],
        expires: Option<i64>,
    ) -> Result<()> {
        let domain = store_domain(domain)?;
        let key = check_key_args(domain, public_key_z85, metadata)?;
        let expires = expires.map(|t| t as f64);
        self.write(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO zmq_auth_keys (domain, public_key, expires)
                 VALUES ($1, $2, to_timestamp($3))
                 ON CONFLICT (domain, public_key) DO UPDATE SET expires = excluded.expires",
                &[&domain, &key, &expires],
            )
            .await?;
            tx.execute(
                "DELETE FROM zmq_auth_key_metadata WHERE domain = $1 AND public_key = $2",
                &[&domain, &key],
            )
            .await?;
            for (n, v) in metadata {
                tx.execute(
                    "INSERT INTO zmq_auth_key_metadata (domain, public_key, name, value)
                     VALUES ($1, $2, $3, $4)",
                    &[&domain, &key, n, v],
                )
                .await?;
            }
            tx.commit().await
        })
    }

    /// Removes a key from `domain`. Every connected server stops admitting it there as
    /// soon as the notification arrives (milliseconds) — unless the result says it is
    /// still admitted through its `*` row: a domain's own keys override `*`, so once a
    /// domain has no keys left, `*` applies to it again (see [`Revocation`]).
    pub fn revoke_key(&self, domain: &str, public_key_z85: &str) -> Result<Revocation> {
        let domain = store_domain(domain)?;
        let key = check_key_args(domain, public_key_z85, &[])?;
        self.write(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "DELETE FROM zmq_auth_key_metadata WHERE domain = $1 AND public_key = $2",
                &[&domain, &key],
            )
            .await?;
            let n = tx
                .execute(
                    "DELETE FROM zmq_auth_keys WHERE domain = $1 AND public_key = $2",
                    &[&domain, &key],
                )
                .await?;
            // The same rule as a look-up: the `*` row counts only while the domain has
            // no keys of its own.
            let through_wildcard: bool = domain != "*"
                && tx
                    .query_one(
                        "SELECT NOT EXISTS (SELECT 1 FROM zmq_auth_keys WHERE domain = $1)
                            AND EXISTS (SELECT 1 FROM zmq_auth_keys
                                        WHERE domain = '*' AND public_key = $2)",
                        &[&domain, &key],
                    )
                    .await?
                    .try_get(0)?;
            tx.commit().await?;
            Ok(Revocation {
                removed: n > 0,
                still_admitted_through_wildcard: through_wildcard,
            })
        })
    }

    /// Sets a PLAIN user's password in `domain`, stored as an argon2id hash (never the
    /// password). An empty password is an error.
    pub fn set_password(&self, domain: &str, username: &str, password: &str) -> Result<()> {
        let domain = store_domain(domain)?;
        check_user(username)?;
        #[cfg(zmq_auth_audit)]
        crate::audit::password(password.as_bytes());
        let phc = crate::phc::hash_password(password)?;
        self.write(async |c| {
            c.execute(
                "INSERT INTO zmq_auth_users (domain, username, password_hash) VALUES ($1, $2, $3)
                 ON CONFLICT (domain, username) DO UPDATE SET password_hash = excluded.password_hash",
                &[&domain, &username, &phc],
            )
            .await
            .map(|_| ())
        })
    }

    /// Removes a PLAIN user from `domain`; false when it was not there.
    pub fn remove_user(&self, domain: &str, username: &str) -> Result<bool> {
        let domain = store_domain(domain)?;
        self.write(async |c| {
            let n = c
                .execute(
                    "DELETE FROM zmq_auth_users WHERE domain = $1 AND username = $2",
                    &[&domain, &username],
                )
                .await?;
            Ok(n > 0)
        })
    }

    /// Sets the client-side deadline of every look-up (default 2 s, the engine's default
    /// deadline; at least 1 ms): a look-up the server has not answered by then is
    /// abandoned and its connection closed, even if the server (or a pooler, or the
    /// network) never answers. Give it the engine's deadline
    /// ([`EngineOptions::deadline`](crate::EngineOptions::deadline)), so that no pool
    /// thread waits longer than the request it serves.
    pub fn set_query_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.inner.query_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// How many look-ups this store's cache answered (shared by clones).
    pub fn cache_hits(&self) -> u64 {
        self.inner.cache.hits()
    }

    /// The keys of `domain` (all domains with `None`), by domain and key.
    pub fn keys(&self, domain: Option<&str>) -> Result<Vec<StoredKey>> {
        self.with_client(async |c| {
            let rows = c
                .query(
                    "SELECT k.domain, k.public_key,
                        CAST(EXTRACT(EPOCH FROM k.created) AS BIGINT),
                        CAST(EXTRACT(EPOCH FROM k.expires) AS BIGINT),
                        COALESCE(ARRAY_AGG(m.name ORDER BY m.name)
                                 FILTER (WHERE m.name IS NOT NULL), '{}'),
                        COALESCE(ARRAY_AGG(m.value ORDER BY m.name)
                                 FILTER (WHERE m.name IS NOT NULL), '{}')
                 FROM zmq_auth_keys k
                 LEFT JOIN zmq_auth_key_metadata m
                   ON m.domain = k.domain AND m.public_key = k.public_key
                 WHERE $1::TEXT IS NULL OR k.domain = $1
                 GROUP BY k.domain, k.public_key, k.created, k.expires
                 ORDER BY k.domain, k.public_key",
                    &[&domain],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let names: Vec<String> = r.try_get(4)?;
                let values: Vec<String> = r.try_get(5)?;
                out.push(StoredKey {
                    domain: r.try_get(0)?,
                    public_key: r.try_get(1)?,
                    metadata: names.into_iter().zip(values).collect(),
                    created: u64::try_from(r.try_get::<_, i64>(2)?).unwrap_or(0),
                    expires: r
                        .try_get::<_, Option<i64>>(3)?
                        .map(|t| u64::try_from(t).unwrap_or(0)),
                });
            }
            Ok(out)
        })
    }

    /// The PLAIN users of `domain` (all domains with `None`) as `(domain, username)`,
    /// by domain and name: names only, never a password hash.
    pub fn users(&self, domain: Option<&str>) -> Result<Vec<(String, String)>> {
        self.with_client(async |c| {
            let rows = c
                .query(
                    "SELECT domain, username FROM zmq_auth_users
                     WHERE $1::TEXT IS NULL OR domain = $1 ORDER BY domain, username",
                    &[&domain],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get(0)?, r.try_get(1)?));
            }
            Ok(out)
        })
    }
}

/// An error's text with its cause (`tokio_postgres::Error` alone says only "db error").
pub(super) fn text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl sealed::Sealed for PostgresStore {
    fn handle(&self) -> StoreHandle {
        StoreHandle::new(
            Arc::clone(&self.inner) as Arc<dyn Backend>,
            Arc::clone(&self.inner.cache),
        )
    }
}

impl CredentialStore for PostgresStore {}
