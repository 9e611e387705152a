//! [`SqliteStore`]: credentials in one SQLite file (feature `sqlite`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    cache::now_secs, check_key_args, check_user, sealed, store_domain, Backend, Cache,
    CredentialStore, KeyRow, Revocation, StoreHandle, StoredKey,
};
use crate::error::{Error, Result};

#[path = "sqlite_watch.rs"]
mod watch;

use watch::{data_version, watch, Sides, Watched};

/// The schema version this crate writes and reads.
const SCHEMA_VERSION: &str = "1";
/// How often the change watcher asks SQLite whether anyone committed.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS zmq_auth_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS zmq_auth_keys (
    domain TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    expires INTEGER,
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
INSERT OR IGNORE INTO zmq_auth_meta (name, value) VALUES ('schema_version', '1');
";

/// CURVE keys and PLAIN users in one SQLite file (feature `sqlite`): the embedded
/// store. No server; several processes (servers, the `zmq-auth` tool, `sqlite3`) may use
/// the file at once. Cheap to clone (clones share one connection and one cache).
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use zmq_auth::store::SqliteStore;
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
/// let key = zmq_auth::encode_z85_key(&[7u8; 32]);
/// store.add_key("*", &key, &[("name", "Alice")]).unwrap();
/// assert!(store.revoke_key("*", &key).unwrap().removed);
/// assert!(!store.revoke_key("*", &key).unwrap().removed);
/// store.set_password("*", "admin", "correct-horse").unwrap();
/// assert!(store.remove_user("*", "admin").unwrap());
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    cache: Arc<Cache>,
    /// The file was deleted (or replaced and could not be reopened): answer nothing.
    broken: AtomicBool,
}

const GONE: &str = "the database file is gone or could not be reopened; not answering";

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::store(format!("sqlite:{}", path.display()), e.to_string())
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_err(path, e))?;
    Ok(conn)
}

/// Opens the file, switches it to WAL (readers in other processes never wait for a
/// writer), creates the tables when missing and checks the schema version.
fn init(path: &Path) -> Result<Connection> {
    let conn = connect(path)?;
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| db_err(path, e))?;
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
        .map_err(|e| db_err(path, e))?;
    let version: String = conn
        .query_row(
            "SELECT value FROM zmq_auth_meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| db_err(path, e))?;
    if version != SCHEMA_VERSION {
        return Err(Error::store(
            format!("sqlite:{}", path.display()),
            format!("schema version {version}; this zmq-auth reads version {SCHEMA_VERSION}"),
        ));
    }
    Ok(conn)
}

/// The file's identity (device, inode): a file renamed over it or recreated has another.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        Some((meta.len(), 0))
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the SQLite file at `path`: creates the
    /// tables when missing, checks the schema version, and starts a small thread that
    /// watches the file for changes made by anyone (it ends when the last clone is
    /// dropped).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let conn = init(&path)?;
        let id = file_id(&path);
        let watch_conn = connect(&path)?;
        // The baseline is taken now: a change made right after `open` returns is a change.
        let baseline = data_version(&watch_conn).map_err(|e| db_err(&path, e))?;
        let cache = Arc::new(Cache::new(true));
        let inner = Arc::new(Inner {
            path,
            conn: Mutex::new(conn),
            cache: Arc::clone(&cache),
            broken: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        let watched = Watched {
            conn: watch_conn,
            last: Some(baseline),
            sides: Sides::of(&inner.path, id).unwrap_or_default(),
            id,
            why: String::new(),
        };
        std::thread::Builder::new()
            .name("zmq-auth-sqlite-watch".into())
            .spawn(move || watch(&weak, watched, &cache))
            .map_err(|e| Error::io("<thread>", e))?;
        Ok(SqliteStore { inner })
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        if self.inner.broken.load(Ordering::Acquire) {
            return Err(Error::store(self.inner.describe(), GONE));
        }
        let mut conn = self.inner.conn.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_err(&self.inner.path, e))?;
        let out = f(&tx).and_then(|out| tx.commit().map(|()| out));
        // Our own change: no need to wait for the watcher.
        self.inner.cache.invalidate();
        out.map_err(|e| db_err(&self.inner.path, e))
    }

    /// Trusts a CURVE public key (40 Z85 characters) in `domain` (`*`: every domain
    /// without keys of its own), with metadata sent to the server as a certificate's would be.
    /// Replaces the key's previous metadata.
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
        self.write(|tx| {
            tx.execute(
                "INSERT INTO zmq_auth_keys (domain, public_key, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT (domain, public_key) DO UPDATE SET expires = excluded.expires",
                params![domain, key, expires],
            )?;
            tx.execute(
                "DELETE FROM zmq_auth_key_metadata WHERE domain = ?1 AND public_key = ?2",
                params![domain, key],
            )?;
            for (n, v) in metadata {
                tx.execute(
                    "INSERT INTO zmq_auth_key_metadata (domain, public_key, name, value)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![domain, key, n, v],
                )?;
            }
            Ok(())
        })
    }

    /// Removes a key from `domain`. Every server using the store refuses it there within
    /// about 100 ms (plus one re-check for established peers) — unless the result says
    /// it is still admitted through its `*` row: a domain's own keys override `*`, so
    /// once a domain has no keys left, `*` applies to it again (see [`Revocation`]).
    pub fn revoke_key(&self, domain: &str, public_key_z85: &str) -> Result<Revocation> {
        let domain = store_domain(domain)?;
        let key = check_key_args(domain, public_key_z85, &[])?;
        self.write(|tx| {
            tx.execute(
                "DELETE FROM zmq_auth_key_metadata WHERE domain = ?1 AND public_key = ?2",
                params![domain, key],
            )?;
            let n = tx.execute(
                "DELETE FROM zmq_auth_keys WHERE domain = ?1 AND public_key = ?2",
                params![domain, key],
            )?;
            // The same rule as a look-up: the `*` row counts only while the domain has
            // no keys of its own.
            let through_wildcard: bool = domain != "*"
                && tx.query_row(
                    "SELECT NOT EXISTS (SELECT 1 FROM zmq_auth_keys WHERE domain = ?1)
                        AND EXISTS (SELECT 1 FROM zmq_auth_keys
                                    WHERE domain = '*' AND public_key = ?2)",
                    params![domain, key],
                    |r| r.get(0),
                )?;
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
        self.write(|tx| {
            tx.execute(
                "INSERT INTO zmq_auth_users (domain, username, password_hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (domain, username) DO UPDATE SET password_hash = excluded.password_hash",
                params![domain, username, phc],
            )?;
            Ok(())
        })
    }

    /// Removes a PLAIN user from `domain`; false when it was not there.
    pub fn remove_user(&self, domain: &str, username: &str) -> Result<bool> {
        let domain = store_domain(domain)?;
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM zmq_auth_users WHERE domain = ?1 AND username = ?2",
                params![domain, username],
            )?;
            Ok(n > 0)
        })
    }

    /// How many look-ups this store's cache answered (shared by clones).
    pub fn cache_hits(&self) -> u64 {
        self.inner.cache.hits()
    }

    /// The keys of `domain` (all domains with `None`), by domain and key.
    pub fn keys(&self, domain: Option<&str>) -> Result<Vec<StoredKey>> {
        let conn = self.inner.conn.lock();
        let err = |e| db_err(&self.inner.path, e);
        let mut stmt = conn
            .prepare(
                "SELECT domain, public_key, created, expires FROM zmq_auth_keys
                 WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, public_key",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![domain], |r| {
                Ok(StoredKey {
                    domain: r.get(0)?,
                    public_key: r.get(1)?,
                    metadata: Vec::new(),
                    created: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    expires: r
                        .get::<_, Option<i64>>(3)?
                        .map(|t| u64::try_from(t).unwrap_or(0)),
                })
            })
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for mut k in rows {
            k.metadata = metadata_of(&conn, &k.domain, &k.public_key).map_err(err)?;
            out.push(k);
        }
        Ok(out)
    }

    /// The PLAIN users of `domain` (all domains with `None`) as `(domain, username)`,
    /// by domain and name: names only, never a password hash.
    pub fn users(&self, domain: Option<&str>) -> Result<Vec<(String, String)>> {
        let conn = self.inner.conn.lock();
        let err = |e| db_err(&self.inner.path, e);
        let mut stmt = conn
            .prepare(
                "SELECT domain, username FROM zmq_auth_users
                 WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, username",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![domain], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err)?;
        Ok(rows)
    }
}

fn metadata_of(
    conn: &Connection,
    domain: &str,
    key: &str,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, value FROM zmq_auth_key_metadata
         WHERE domain = ?1 AND public_key = ?2 ORDER BY name",
    )?;
    let rows = stmt.query_map(params![domain, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

impl Inner {
    /// The connection for a look-up, waited for at most the busy timeout: look-ups
    /// queued behind one that waits for another process's lock must not wait in turn
    /// (every call has a client-side deadline).
    fn lookup_conn(&self) -> std::result::Result<parking_lot::MutexGuard<'_, Connection>, String> {
        self.conn
            .try_lock_for(BUSY_TIMEOUT)
            .ok_or_else(|| format!("the database stayed busy for {BUSY_TIMEOUT:?}"))
    }
}

impl Backend for Inner {
    fn find_key(&self, domain: &str, key_z85: &str) -> std::result::Result<Option<KeyRow>, String> {
        if self.broken.load(Ordering::Acquire) {
            return Err(GONE.to_string());
        }
        let conn = self.lookup_conn()?;
        let now = i64::try_from(now_secs()).unwrap_or(i64::MAX);
        let found: Option<(String, Option<i64>)> = conn
            .prepare_cached(
                "SELECT domain, expires FROM zmq_auth_keys
                 WHERE public_key = ?1
                   AND domain = CASE WHEN EXISTS
                       (SELECT 1 FROM zmq_auth_keys WHERE domain = ?2) THEN ?2 ELSE '*' END
                   AND (expires IS NULL OR expires > ?3)",
            )
            .and_then(|mut s| {
                s.query_row(params![key_z85, domain, now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(|e| e.to_string())?;
        let Some((row_domain, expires)) = found else {
            return Ok(None);
        };
        let metadata = metadata_of(&conn, &row_domain, key_z85).map_err(|e| e.to_string())?;
        Ok(Some(KeyRow {
            metadata,
            expires: expires.map(|t| u64::try_from(t).unwrap_or(0)),
        }))
    }

    fn find_user(&self, domain: &str, user: &str) -> std::result::Result<Option<String>, String> {
        if self.broken.load(Ordering::Acquire) {
            return Err(GONE.to_string());
        }
        let conn = self.lookup_conn()?;
        conn.prepare_cached(
            "SELECT password_hash FROM zmq_auth_users
             WHERE username = ?1
               AND domain = CASE WHEN EXISTS
                   (SELECT 1 FROM zmq_auth_users WHERE domain = ?2) THEN ?2 ELSE '*' END",
        )
        .and_then(|mut s| s.query_row(params![user, domain], |r| r.get(0)).optional())
        .map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

impl sealed::Sealed for SqliteStore {
    fn handle(&self) -> StoreHandle {
        StoreHandle::new(
            Arc::clone(&self.inner) as Arc<dyn Backend>,
            Arc::clone(&self.inner.cache),
        )
    }
}

impl CredentialStore for SqliteStore {}
