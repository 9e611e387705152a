//! The change watcher of a [`super::SqliteStore`]: `PRAGMA data_version` and the file's
//! identity, checked every [`WATCH_EVERY`](super::WATCH_EVERY).

use std::path::{Path, PathBuf};
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
    pub(super) sides: Sides,
    /// Why the store is not answering, as last logged (each reason is logged once).
    pub(super) why: String,
}

/// The identities of the open file's write-ahead log and shared-memory index
/// (`<path>-wal`, `<path>-shm`), as last seen while the file at the path was still ours.
///
/// Why: when the file is renamed over or deleted while open, SQLite leaves these two
/// beside the path for good (it never deletes the log of a file that has moved), and
/// the next connection to a file at that path applies the old log to it: rows of the
/// old file, a revoked key among them, would come back. Known by identity, they are
/// provably the old file's and are removed before anything opens the new one.
#[derive(Default)]
pub(super) struct Sides {
    wal: Option<(u64, u64)>,
    shm: Option<(u64, u64)>,
}

fn side(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl Sides {
    /// The side files at `path` now, kept only if the file at `path` is still `id`
    /// afterwards (a rename in between would make them someone else's).
    pub(super) fn of(path: &Path, id: Option<(u64, u64)>) -> Option<Sides> {
        let sides = Sides {
            wal: file_id(&side(path, "-wal")),
            shm: file_id(&side(path, "-shm")),
        };
        (id.is_some() && file_id(path) == id).then_some(sides)
    }

    /// Takes the side files seen now; one not there now keeps its last identity (it
    /// may be created again before the next look).
    pub(super) fn update(&mut self, now: Sides) {
        self.wal = now.wal.or(self.wal);
        self.shm = now.shm.or(self.shm);
    }

    /// Removes the side files the old file left at `path` (those whose identity is the
    /// one recorded). An error means one is still there: the new file must not be opened.
    fn remove_stale(&mut self, path: &Path) -> std::result::Result<(), String> {
        for (slot, suffix) in [(&mut self.wal, "-wal"), (&mut self.shm, "-shm")] {
            let Some(old) = *slot else { continue };
            let file = side(path, suffix);
            if file_id(&file) == Some(old) {
                std::fs::remove_file(&file).map_err(|e| {
                    format!(
                        "the replaced file's {} is still there and could not be removed ({e}); \
                         SQLite would apply it to the new file",
                        file.display()
                    )
                })?;
                zlog!(
                    Warn,
                    "sqlite store {}: removed {}, left by the file it replaced",
                    path.display(),
                    file.display()
                );
            }
            *slot = None;
        }
        Ok(())
    }
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
            if now_id != w.id {
                // The file we had open is gone from the path: no connection may see the
                // path's side files until the old file's are removed (cache untrusted
                // and 300 from here on until the reopen succeeds).
                strong.broken.store(true, Ordering::Release);
                cache.set_trusted(false);
            }
            let reopened = w.sides.remove_stale(&path).and_then(|()| {
                now_id.ok_or_else(|| "the file is gone".to_string())?;
                let main = init(&path).map_err(|e| e.to_string())?;
                Ok((main, connect(&path).map_err(|e| e.to_string())?))
            });
            match reopened {
                Ok((main, conn)) => {
                    *strong.conn.lock() = main;
                    w = Watched {
                        last: data_version(&conn).ok(),
                        sides: Sides::of(&path, now_id).unwrap_or_default(),
                        conn,
                        id: now_id,
                        why: String::new(),
                    };
                    strong.broken.store(false, Ordering::Release);
                    zlog!(
                        Warn,
                        "sqlite store {}: file replaced, reopened",
                        path.display()
                    );
                    cache.set_trusted(true);
                }
                Err(why) => {
                    strong.broken.store(true, Ordering::Release);
                    cache.set_trusted(false);
                    if why != w.why {
                        zlog!(
                            Error,
                            "sqlite store {}: {why}; answering 300 until it is back",
                            path.display()
                        );
                        w.why = why;
                    }
                }
            }
            continue;
        }
        drop(strong);
        if let Some(now) = Sides::of(&path, w.id) {
            w.sides.update(now);
        }
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
