//! Faults of an SQLite store on real files (issue 18, the SQLite equivalents): a
//! database locked by another process (`SQLITE_BUSY`: the write lock, and an exclusive
//! lock), a read-only file, and the log of a replaced file that cannot be removed. A
//! file replaced or deleted is `store_sqlite::database_file_replaced_or_deleted_is_followed`.
#![cfg(feature = "sqlite")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use zmq_auth::store::SqliteStore;
use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};

const DEADLINE: Duration = Duration::from_millis(500);

/// Another process that holds the database's write lock (`BEGIN EXCLUSIVE`, a write in
/// progress) until its stdin is closed; with `exclusive`, in `locking_mode = EXCLUSIVE`
/// too, so that no other connection can even open the file.
fn lock_in_another_process(db: &Path, exclusive: bool) -> Child {
    let mode = if exclusive {
        "c.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
    } else {
        ""
    };
    let py = format!(
        "import sqlite3,sys\n\
         c=sqlite3.connect(sys.argv[1], isolation_level=None)\n\
         {mode}\
         c.execute('BEGIN EXCLUSIVE')\n\
         c.execute(\"INSERT INTO zmq_auth_meta (name, value) VALUES ('lock', 'held')\")\n\
         print('locked', flush=True)\n\
         sys.stdin.read()\n\
         c.execute('ROLLBACK')\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &py])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("the lock holder reports");
    assert_eq!(line.trim(), "locked");
    child
}

/// The write lock held by another process (`SQLITE_BUSY` for writers): look-ups go on
/// (WAL readers never wait for a writer: 200 and 400 as the file says), and an admin
/// call gets an error after the busy timeout (bound: 2 s + 3 s), never a hang; once the
/// lock is released, writes work again.
#[test]
fn a_locked_database_keeps_answering_and_refuses_writes_in_bounded_time() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let store = SqliteStore::open(&db).unwrap();
    let key = keypair().public_key;
    store.add_key("*", &z85(&key), &[]).unwrap();
    let ctx = zmq::Context::new();
    let auth =
        ThreadAuthenticator::start_with(&ctx, EngineOptions::default().deadline(DEADLINE)).unwrap();
    auth.configure_curve_store("*", store.clone()).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(curve_status(&dealer, "", &key).0, "200");

    let mut holder = lock_in_another_process(&db, false);
    let t = Instant::now();
    assert_eq!(curve_status(&dealer, "", &keypair().public_key).0, "400");
    assert_eq!(curve_status(&dealer, "", &key).0, "200");
    eprintln!(
        "write-locked database: look-ups answered after {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let write = store.add_key("*", &z85(&keypair().public_key), &[]);
    let took = t.elapsed();
    eprintln!(
        "write-locked database: add_key {:?} after {took:?}",
        write.is_ok()
    );
    assert!(write.is_err(), "the lock is held");
    assert!(took < Duration::from_secs(5), "{took:?}");

    drop(holder.stdin.take());
    holder.wait().expect("the lock holder exits");
    store
        .add_key("*", &z85(&keypair().public_key), &[])
        .unwrap();
}

/// A database locked exclusively by another process (`locking_mode = EXCLUSIVE`, which
/// it can take only while no store has the file open): a store cannot open it, and says
/// so within the busy timeout (bound: 2 s + 3 s), never a hang; it opens once the lock
/// is gone.
#[test]
fn an_exclusively_locked_database_is_an_error_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    drop(SqliteStore::open(&db).unwrap());
    let mut holder = lock_in_another_process(&db, true);
    let t = Instant::now();
    let opened = SqliteStore::open(&db);
    let took = t.elapsed();
    eprintln!(
        "exclusively locked database: open {:?} after {took:?}",
        opened.as_ref().map(|_| ()).map_err(|e| e.to_string())
    );
    assert!(opened.is_err());
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(holder.stdin.take());
    holder.wait().expect("the lock holder exits");
    SqliteStore::open(&db).unwrap();
}

/// Makes `path` read-only even for root: `chattr +i` where it works, else mode 0444.
/// Returns false when neither is possible.
fn make_read_only(path: &Path) -> bool {
    let chattr = Command::new("chattr")
        .arg("+i")
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if chattr {
        return true;
    }
    use std::os::unix::fs::PermissionsExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    !root && std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).is_ok()
}

fn undo_read_only(path: &Path) {
    let _ = Command::new("chattr")
        .arg("-i")
        .arg(path)
        .stderr(Stdio::null())
        .status();
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
}

/// A read-only database file: opening it is an error that says why (the schema cannot
/// be checked in), never a store that admits; a store already open keeps answering
/// what the file says.
#[test]
fn a_read_only_file_is_an_error_at_open() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let key = keypair().public_key;
    {
        let store = SqliteStore::open(&db).unwrap();
        store.add_key("*", &z85(&key), &[]).unwrap();
    }
    // Fold the WAL into the file (as a backup or a copy would be), so the file alone
    // is the database.
    fold_wal(&db);
    if !make_read_only(&db) {
        eprintln!("skipping: cannot make a file read-only here (root without chattr)");
        return;
    }
    let opened = SqliteStore::open(&db);
    undo_read_only(&db);
    let err = opened
        .expect_err("a read-only database is refused")
        .to_string();
    eprintln!("read-only file: {err}");
    assert!(err.contains("auth.db"), "names the file: {err}");
    // Writable again: it opens, and the key is there.
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.keys(None).unwrap().len(), 1);
}

/// The old file's write-ahead log, left beside the path when a file is renamed over a
/// live store, cannot be removed (`chattr +i`; root only): the store keeps answering
/// 300, since SQLite would apply that log (which holds the key) to the new file, and it
/// reads the new file as soon as the log can go.
#[test]
fn a_replaced_files_log_that_cannot_be_removed_keeps_the_store_refusing() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let wal = dir.path().join("auth.db-wal");
    let key = keypair().public_key;
    let (_store, mut auth) = sqlite_store_admitting(&db, &key);
    let req = curve_request(&key);

    let fresh = dir.path().join("auth.db.new");
    drop(SqliteStore::open(&fresh).unwrap());
    fold_wal(&fresh);
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if !root || !make_read_only(&wal) {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!(ci && root), "CI as root: chattr +i must work here");
        eprintln!("skipping: cannot make a file undeletable here (needs root and chattr)");
        return;
    }
    // Whatever happens below, the directory must be removable afterwards.
    struct Undo<'a>(&'a Path);
    impl Drop for Undo<'_> {
        fn drop(&mut self) {
            undo_read_only(self.0);
        }
    }
    let undo = Undo(&wal);
    std::fs::rename(&fresh, &db).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || auth
            .handle_zap_message(&req)
            .status_code()
            == 300),
        "the replaced file is not answered from"
    );
    // Twenty watch ticks: never admitted, never answered from the new file.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let got = auth.handle_zap_message(&req);
        assert_eq!(got.status_code(), 300, "{}", got.status_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(wal.exists(), "the log could not have been removed");
    drop(undo);
    assert!(
        eventually(Duration::from_secs(5), || auth
            .handle_zap_message(&req)
            .status_code()
            == 400),
        "the new file (without the key) is read once the old log is gone"
    );
}
