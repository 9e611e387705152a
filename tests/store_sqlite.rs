//! `SqliteStore` through `ThreadAuthenticator`, on real SQLite files: admit with
//! metadata, refuse, hashed passwords only, revocation from another connection (and
//! from a hand edit, as `sqlite3` would make it) with its latency printed.
#![cfg(feature = "sqlite")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use zmq_auth::store::SqliteStore;
use zmq_auth::{zmq, ThreadAuthenticator};

#[test]
fn curve_keys_admit_with_metadata_and_revocation_reaches_every_handle() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let store = SqliteStore::open(&db).unwrap();
    let certs = curve_certs(&[]);
    store
        .add_key(
            "*",
            &certs.client.public_z85,
            &[("name", "Alice"), ("team", "blue")],
        )
        .unwrap();

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve_store("*", store.clone()).unwrap();

    // A real handshake: admitted, User-Id = the key, metadata as message properties.
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(
        user_id(&mut msg).as_deref(),
        Some(certs.client.public_z85.as_str())
    );
    assert_eq!(msg.gets("name"), Some("Alice"));
    assert_eq!(msg.gets("team"), Some("blue"));

    let dealer = zap_dealer(&ctx);
    let stranger = keypair().public_key;
    assert_eq!(curve_status(&dealer, "global", &stranger).1, "Unknown key");
    // Cached now (positive and negative): the second answers come from the cache.
    let hits = store.cache_hits();
    assert_eq!(
        curve_status(&dealer, "global", &certs.client.public).0,
        "200"
    );
    assert_eq!(curve_status(&dealer, "global", &stranger).1, "Unknown key");
    assert!(store.cache_hits() >= hits + 2, "answers were cached");

    // Revoked through another handle on the same file (another connection, as another
    // process or the zmq-auth tool would be): refused within a second.
    let admin = SqliteStore::open(&db).unwrap();
    let t = Instant::now();
    assert!(
        admin
            .revoke_key("*", &certs.client.public_z85)
            .unwrap()
            .removed
    );
    assert!(
        eventually(Duration::from_secs(5), || curve_status(
            &dealer,
            "global",
            &certs.client.public
        )
        .1 == "Unknown key"),
        "the revocation was seen"
    );
    let latency = t.elapsed();
    eprintln!("sqlite revocation through another connection seen after {latency:?}");
    assert!(
        latency < Duration::from_secs(1),
        "target: under 1 s, took {latency:?}"
    );

    // Added back, then deleted by hand with plain SQL (as the sqlite3 shell would).
    admin.add_key("*", &certs.client.public_z85, &[]).unwrap();
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer,
        "global",
        &certs.client.public
    )
    .0 == "200"));
    {
        let raw = rusqlite_free_connection(&db);
        raw.execute_batch(&format!(
            "DELETE FROM zmq_auth_keys WHERE public_key = '{}';",
            certs.client.public_z85
        ))
        .unwrap();
    }
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || curve_status(
            &dealer,
            "global",
            &certs.client.public
        )
        .1 == "Unknown key"),
        "a hand edit is seen"
    );
    eprintln!("sqlite hand edit seen after {:?}", t.elapsed());
}

/// A connection that is not the crate's (what `sqlite3` would be).
fn rusqlite_free_connection(db: &std::path::Path) -> SqlShell {
    SqlShell(db.to_path_buf())
}

struct SqlShell(std::path::PathBuf);

impl SqlShell {
    /// Runs SQL through Python's sqlite3 module in another process: never through
    /// this crate (as an operator's `sqlite3` shell would).
    fn execute_batch(&self, sql: &str) -> Result<(), String> {
        let py = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()";
        let out = std::process::Command::new("python3")
            .args(["-c", py])
            .arg(&self.0)
            .arg(sql)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

#[test]
fn plain_users_are_hashed_and_removable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let store = SqliteStore::open(&db).unwrap();
    let password = "Pw-sqlite-store-4e1b9a";
    store.set_password("*", "alice", password).unwrap();
    store
        .set_password("ops", "bob", "Pw-sqlite-store-ops-77c2")
        .unwrap();
    assert!(store.set_password("*", "empty", "").is_err());

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain_store("*", store.clone()).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(
        plain_status(&dealer, "", "alice", password),
        ("200".into(), "OK".into())
    );
    assert_eq!(
        plain_status(&dealer, "", "alice", "wrong-guess"),
        ("400".into(), "Invalid password".into())
    );
    assert_eq!(
        plain_status(&dealer, "", "alice", ""),
        ("400".into(), "Invalid password".into())
    );
    assert_eq!(
        plain_status(&dealer, "", "mallory", "x-guess"),
        ("400".into(), "Invalid username".into())
    );
    // Domains: a domain with users of its own uses only those (issue 21: `*` users are
    // not admitted in `ops`, as in memory); one without uses `*`.
    assert_eq!(
        plain_status(&dealer, "ops", "bob", "Pw-sqlite-store-ops-77c2").0,
        "200"
    );
    assert_eq!(
        plain_status(&dealer, "ops", "alice", password).1,
        "Invalid username"
    );
    assert_eq!(
        plain_status(&dealer, "other", "bob", "Pw-sqlite-store-ops-77c2").1,
        "Invalid username"
    );
    // A real PLAIN handshake too.
    let events = auth.events();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "alice", password);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("alice"));
    let client = plain_client(&ctx, &server.endpoint, "alice", "wrong-guess");
    assert_refused(&events, &server, &client, "Invalid password");

    // Nothing in the database file (or its WAL) is the password.
    drop(client);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "plaintext password in the database files"
        );
    }

    assert!(store.remove_user("*", "alice").unwrap());
    assert!(!store.remove_user("*", "alice").unwrap());
    assert_eq!(
        plain_status(&dealer, "", "alice", password).1,
        "Invalid username"
    );
}

#[test]
fn bad_arguments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
    let key = zmq_auth::encode_z85_key(&[3; 32]);
    assert!(store.add_key("*", "not-a-key", &[]).is_err());
    assert!(
        store.add_key("*", &key, &[("User-Id", "x")]).is_err(),
        "reserved name"
    );
    assert!(store.add_key("*", &key, &[("bad name", "x")]).is_err());
    store.add_key("", &key, &[("name", "n")]).unwrap();
    let keys = store.keys(None).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].domain, "*", "the empty domain is `*`");
    assert_eq!(
        keys[0].metadata,
        vec![("name".to_string(), "n".to_string())]
    );
    // A file that is not a database.
    std::fs::write(dir.path().join("junk.db"), b"not a database at all, really").unwrap();
    assert!(SqliteStore::open(dir.path().join("junk.db")).is_err());
}

/// Found by review: a database file replaced by rename (a restore, a deploy) or deleted
/// kept being read through the old inode, so its revoked keys stayed admitted.
#[test]
fn database_file_replaced_or_deleted_is_followed() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let key = [5u8; 32];
    let (_store, mut auth) = sqlite_store_admitting(&path, &key);
    let req = curve_request(&key);
    // Replaced atomically by a database without the key: a complete file (its log folded
    // in), as a restore from a backup would bring. The live file's own write-ahead log,
    // which holds the key, stays behind at `auth.db-wal`; SQLite would apply it to the new
    // file (the key would come back) unless the store removes it.
    let fresh = dir.path().join("auth.db.new");
    drop(SqliteStore::open(&fresh).unwrap());
    fold_wal(&fresh);
    assert!(dir.path().join("auth.db-wal").exists());
    std::fs::rename(&fresh, &path).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || auth
            .handle_zap_message(&req)
            .status_code()
            == 400),
        "the replaced file is read"
    );
    // Put back with the key, then deleted: refused (300: the store cannot answer).
    let other = SqliteStore::open(&path).unwrap();
    other
        .add_key("*", &zmq_auth::encode_z85_key(&key), &[])
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || auth
        .handle_zap_message(&req)
        .status_code()
        == 200));
    drop(other);
    std::fs::remove_file(&path).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || auth
            .handle_zap_message(&req)
            .status_code()
            == 300),
        "a deleted database admits no one"
    );
}

/// A new, empty database made at the path of a deleted one does not inherit the
/// deleted file's rows, although the deleted file's write-ahead log (which holds the key)
/// was left beside the path. (This one passed before the fix too: SQLite discards a log
/// it finds beside an empty file, and the watcher now removes it first. A non-empty file
/// put there is the replacement case above, which did fail.)
#[test]
fn a_database_made_where_one_was_deleted_starts_empty() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let key = [6u8; 32];
    let (_store, mut auth) = sqlite_store_admitting(&path, &key);
    let req = curve_request(&key);
    std::fs::remove_file(&path).unwrap();
    assert!(eventually(Duration::from_secs(5), || auth
        .handle_zap_message(&req)
        .status_code()
        == 300));
    let _again = SqliteStore::open(&path).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || auth
            .handle_zap_message(&req)
            .status_code()
            == 400),
        "the new file is read, without the deleted file's rows"
    );
}

/// Issue 21 item 1: a domain's own rows of a kind override `*` (as in memory); `*`
/// applies only to a domain without rows of that kind. Before: a `*` key and a `*` user
/// were admitted in `admin` although `admin` had its own.
#[test]
fn a_domain_with_its_own_rows_never_consults_star() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
    let (star_key, admin_key) = (keypair().public_key, keypair().public_key);
    store.add_key("*", &z85(&star_key), &[]).unwrap();
    store.add_key("admin", &z85(&admin_key), &[]).unwrap();
    store
        .set_password("*", "anyone", "Pw-star-user-81f2")
        .unwrap();
    store
        .set_password("admin", "root", "Pw-admin-user-2ac9")
        .unwrap();

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    for d in ["*", "admin"] {
        auth.configure_curve_store(d, store.clone()).unwrap();
        auth.configure_plain_store(d, store.clone()).unwrap();
    }
    let dealer = zap_dealer(&ctx);
    assert_eq!(curve_status(&dealer, "admin", &star_key).1, "Unknown key");
    assert_eq!(curve_status(&dealer, "admin", &admin_key).0, "200");
    assert_eq!(curve_status(&dealer, "other", &star_key).0, "200");
    assert_eq!(curve_status(&dealer, "other", &admin_key).1, "Unknown key");
    assert_eq!(
        plain_status(&dealer, "admin", "anyone", "Pw-star-user-81f2").1,
        "Invalid username"
    );
    assert_eq!(
        plain_status(&dealer, "admin", "root", "Pw-admin-user-2ac9").0,
        "200"
    );
    assert_eq!(
        plain_status(&dealer, "other", "anyone", "Pw-star-user-81f2").0,
        "200"
    );

    // Revocation says when the key stays admitted through `*`.
    store.add_key("*", &z85(&admin_key), &[]).unwrap();
    let r = store.revoke_key("admin", &z85(&admin_key)).unwrap();
    assert!(r.removed);
    assert!(
        r.still_admitted_through_wildcard,
        "admin has no keys left: `*` applies to it again"
    );
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer, "admin", &admin_key
    )
    .0 == "200"));
    store.add_key("admin", &z85(&star_key), &[]).unwrap();
    let r = store.revoke_key("admin", &z85(&admin_key)).unwrap();
    assert!(!r.removed && r.is_refused(), "admin has a key of its own");
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer, "admin", &admin_key
    )
    .1 == "Unknown key"));
    let r = store.revoke_key("*", &z85(&admin_key)).unwrap();
    assert!(r.removed && r.is_refused());
}
