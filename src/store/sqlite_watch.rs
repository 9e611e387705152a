//! The change watcher of a [`super::SqliteStore`]: `PRAGMA data_version` and the file's
//! identity, checked every [`WATCH_EVERY`](super::WATCH_EVERY).

use std::sync::atomic::Ordering;
use std::sync::Weak;

use rusqlite::Connection;

use super::{connect, file_id, init, Inner, WATCH_EVERY};
use crate::store::Cache;

pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// The watcher's own connection and what it last saw.
pub(super) struct Watched {
    pub(super) conn: Connection,
    pub(super) last: Option<i64>,
    pub(super) id: Option<(u64, u64)>,
}

/// Watches the file: commits by any connection (`PRAGMA data_version` changes when
/// another connection commits) drop the cache; a file deleted, or replaced by another
/// (rename, restore), is noticed by its identity: the store stops answering (300) until
/// a file is there again, and then reopens it. Ends with the last clone of the store.
pub(super) fn watch(inner: &Weak<Inner>, mut w: Watched, cache: &Cache) {
    loop {
        std::thread::sleep(WATCH_EVERY);
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let path = strong.path.clone();
        let now_id = file_id(&path);
        if now_id != w.id || strong.broken.load(Ordering::Acquire) {
            let reopened = now_id.map(|_| (init(&path), connect(&path)));
            match reopened {
                Some((Ok(main), Ok(conn))) => {
                    *strong.conn.lock() = main;
                    w = Watched {
                        last: data_version(&conn).ok(),
                        conn,
                        id: now_id,
                    };
                    strong.broken.store(false, Ordering::Release);
                    zlog!(
                        Warn,
                        "sqlite store {}: file replaced, reopened",
                        path.display()
                    );
                    cache.set_trusted(true);
                }
                failed => {
                    if !strong.broken.swap(true, Ordering::AcqRel) {
                        let why = match failed {
                            None => "the file is gone".to_string(),
                            Some((Err(e), _)) | Some((_, Err(e))) => e.to_string(),
                            Some((Ok(_), Ok(_))) => String::new(),
                        };
                        zlog!(
                            Error,
                            "sqlite store {}: {why}; answering 300 until it is back",
                            path.display()
                        );
                    }
                    cache.set_trusted(false);
                }
            }
            continue;
        }
        drop(strong);
        match data_version(&w.conn) {
            Ok(v) => {
                if !cache.is_trusted() {
                    zlog!(Warn, "sqlite store {} readable again", path.display());
                    cache.set_trusted(true);
                } else if w.last.is_some_and(|l| l != v) {
                    cache.invalidate();
                }
                w.last = Some(v);
            }
            Err(e) => {
                if cache.is_trusted() {
                    zlog!(
                        Error,
                        "sqlite store {}: change watch failed, not caching: {e}",
                        path.display()
                    );
                    cache.set_trusted(false);
                }
                w.last = None;
                if let Ok(c) = connect(&path) {
                    w.conn = c;
                }
            }
        }
    }
}
