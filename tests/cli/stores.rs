//! `key ...` and `user ... --store`: SQLite and PostgreSQL credential stores.

use super::*;

// ------------------------------------------------------------------------ stores

#[test]
fn key_add_list_revoke_in_an_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (alice_pub, alice_secret) =
        create_certificates(&keys, "alice", &[("name", "Alice"), ("team", "ops")]).unwrap();
    let (bob_pub, _) = create_certificates(&keys, "bob", &[]).unwrap();
    let alice = load_certificate(&alice_pub).unwrap();
    let bob = load_certificate(&bob_pub).unwrap();
    let db = dir.path().join("db").join("auth.db");
    std::fs::create_dir(db.parent().unwrap()).unwrap();
    let url = format!("sqlite:{}", p(&db));

    let out = tool(["key", "add", p(&alice_pub), "--store", &url]).expect(0);
    assert!(out.stdout.contains(alice.public_key()), "{out:?}");
    tool([
        "key",
        "add",
        p(&bob_pub),
        "--store",
        &url,
        "--domain",
        "global",
    ])
    .expect(0);
    // A secret certificate is refused (its public half is what a store trusts).
    let out = tool(["key", "add", p(&alice_secret), "--store", &url]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("alice.key_secret"), "{out:?}");
    let secret = load_certificate(&alice_secret).unwrap();
    assert!(!out.all().contains(secret.secret_key().unwrap()));

    // The library sees the keys, with the certificate's metadata.
    let store = SqliteStore::open(&db).unwrap();
    let stored = store.keys(Some("*")).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].public_key, alice.public_key());
    let mut meta = stored[0].metadata.clone();
    meta.sort();
    assert_eq!(
        meta,
        [
            ("name".to_string(), "Alice".to_string()),
            ("team".to_string(), "ops".to_string())
        ]
    );
    let stored = store.keys(Some("global")).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].public_key, bob.public_key());

    if zmq_auth::curve_available() {
        let mut auth = Authenticator::new();
        auth.configure_curve_store("*", store.clone()).unwrap();
        assert_eq!(curve_status(&mut auth, "", alice.public_key_bytes()), 200);
        assert_eq!(curve_status(&mut auth, "", bob.public_key_bytes()), 400);
        assert_eq!(
            curve_status(&mut auth, "global", bob.public_key_bytes()),
            200
        );
    }

    // list: text, then JSON; with --domain only that domain.
    let out = tool(["key", "list", "--store", &url]).expect(0);
    assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(alice.public_key()))
        .unwrap();
    assert!(line.starts_with("* "), "{line}");
    assert!(line.contains("name=\"Alice\""), "{line}");
    assert!(line.contains("expires never"), "{line}");
    let out = tool(["key", "list", "--store", &url, "--domain", "global"]).expect(0);
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stdout.contains(bob.public_key()), "{out:?}");
    let out = tool(["key", "list", "--store", &url, "--json"]).expect(0);
    let text = out.stdout.trim();
    assert!(text.starts_with('[') && text.ends_with(']'), "{out:?}");
    assert!(
        text.contains(&format!(
            "\"domain\":\"*\",\"public_key\":\"{}\",\"metadata\":{{\"name\":\"Alice\",\"team\":\"ops\"}}",
            alice.public_key()
        )),
        "{out:?}"
    );
    assert!(text.contains("\"expires\":null"), "{out:?}");
    assert!(
        text.contains(&format!(
            "\"domain\":\"global\",\"public_key\":\"{}\",\"metadata\":{{}}",
            bob.public_key()
        )),
        "{out:?}"
    );

    // revoke: by file, then by key in its domain; a second time finds nothing (exit 1).
    let out = tool(["key", "revoke", p(&alice_pub), "--store", &url]).expect(0);
    assert!(out.stdout.starts_with("revoked"), "{out:?}");
    tool(["key", "revoke", p(&alice_pub), "--store", &url]).expect(1);
    // Bob is in "global", not "*".
    tool(["key", "revoke", bob.public_key(), "--store", &url]).expect(1);
    tool([
        "key",
        "revoke",
        bob.public_key(),
        "--store",
        &url,
        "--domain",
        "global",
    ])
    .expect(0);
    assert!(store.keys(None).unwrap().is_empty());
    let out = tool(["key", "list", "--store", &url, "--json"]).expect(0);
    assert_eq!(out.stdout.split_whitespace().collect::<String>(), "[]");

    // Errors: one line naming the argument; a missing store is not created by list.
    let missing = dir.path().join("missing.db");
    let out = tool(["key", "list", "--store", &format!("sqlite:{}", p(&missing))]).expect(2);
    assert!(out.stderr.contains("--store"), "{out:?}");
    assert!(!missing.exists());
    let out = tool(["key", "list", "--store", "mysql://u:hunter2@h/db"]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("--store"), "{out:?}");
    assert!(!out.stderr.contains("hunter2"), "{out:?}");
    let out = tool(["key", "revoke", "tooshort", "--store", &url]).expect(2);
    assert!(out.stderr.contains("KEY_OR_FILE"), "{out:?}");
}

#[test]
fn user_add_and_remove_in_an_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let url = format!("sqlite:{}", p(&db));
    let password = "Store-pw-cli-91f3e";

    let out = tool_with_stdin(
        ["user", "add", "admin", "--store", &url],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    assert!(!out.all().contains(password), "printed the password");
    tool_with_stdin(
        ["user", "add", "ops", "--store", &url, "--domain", "other"],
        Some("Other-pw-cli-2b7a\n"),
    )
    .expect(0);
    // No password on stdin: a usage error, nothing stored.
    let out = tool(["user", "add", "nobody", "--store", &url]).expect(2);
    assert!(out.stderr.contains("empty password"), "{out:?}");

    let store = SqliteStore::open(&db).unwrap();
    let mut auth = Authenticator::new();
    auth.configure_plain_store("*", store.clone()).unwrap();
    assert_eq!(
        plain_status(&mut auth, "admin", password),
        (200, "admin".to_string())
    );
    assert_eq!(plain_status(&mut auth, "admin", "wrong-password").0, 400);
    assert_eq!(plain_status(&mut auth, "nobody", "x").0, 400);
    // Only hashes reach the file.
    let bytes = all_bytes(dir.path());
    assert!(
        !contains(&bytes, password),
        "the database holds the password"
    );
    assert!(contains(&bytes, "$argon2id$"), "no hash in the database");

    // remove: wrong domain finds nothing (1); right one removes (0); again (1).
    tool(["user", "remove", "ops", "--store", &url]).expect(1);
    tool([
        "user", "remove", "ops", "--store", &url, "--domain", "other",
    ])
    .expect(0);
    let out = tool(["user", "remove", "admin", "--store", &url]).expect(0);
    assert!(out.stdout.contains("removed"), "{out:?}");
    tool(["user", "remove", "admin", "--store", &url]).expect(1);
    // Another process's change reaches this store's cache through its watch (~100 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    while plain_status(&mut auth, "admin", password).0 != 400 {
        assert!(Instant::now() < deadline, "the removal was never seen");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Exactly one of --store and --file; a password never comes from an argument.
    let f = dir.path().join("pw");
    for args in [
        vec!["user", "add", "x"],
        vec!["user", "add", "x", "--store", &url, "--file", p(&f)],
    ] {
        let out = tool_with_stdin(&args, Some("Pw-never-used-1\n")).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains("--store"), "{args:?}: {out:?}");
    }
    tool(["user", "add", "x", "--store", &url, "--password", "p"]).expect(2);
}

#[cfg(feature = "postgres")]
#[test]
fn store_commands_against_postgresql() {
    let Some(pg) = pg::Pg::start_or_skip() else {
        return;
    };
    let conninfo = pg.conninfo();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, _) = create_certificates(dir.path(), "alice", &[("name", "Alice")]).unwrap();
    let alice = load_certificate(&alice_pub).unwrap();

    // key add through a URL, list and revoke through a conninfo string.
    tool(["key", "add", p(&alice_pub), "--store", &url]).expect(0);
    let store = PostgresStore::connect(&conninfo).unwrap();
    let stored = store.keys(None).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].public_key, alice.public_key());
    assert_eq!(
        stored[0].metadata,
        [("name".to_string(), "Alice".to_string())]
    );
    let out = tool(["key", "list", "--store", &conninfo]).expect(0);
    assert!(out.stdout.contains(alice.public_key()), "{out:?}");
    assert!(out.stdout.contains("name=\"Alice\""), "{out:?}");
    let out = tool(["key", "list", "--store", &conninfo, "--json"]).expect(0);
    assert!(
        out.stdout.contains("\"metadata\":{\"name\":\"Alice\"}"),
        "{out:?}"
    );
    tool(["key", "revoke", alice.public_key(), "--store", &conninfo]).expect(0);
    tool(["key", "revoke", alice.public_key(), "--store", &conninfo]).expect(1);
    assert!(store.keys(None).unwrap().is_empty());

    // user add: the library admits the user; the database holds only a hash.
    let password = "Pg-pw-cli-4e2a9";
    let pg_url = url.replacen("postgres://", "postgresql://", 1);
    tool_with_stdin(
        ["user", "add", "admin", "--store", &pg_url],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    let mut auth = Authenticator::new();
    auth.configure_plain_store("*", store.clone()).unwrap();
    assert_eq!(
        plain_status(&mut auth, "admin", password),
        (200, "admin".to_string())
    );
    let dump = pg.tool("pg_dump", &["-d", "postgres", "--data-only"]);
    assert!(dump.status.success());
    assert!(
        !contains(&dump.stdout, password),
        "pg_dump shows the password"
    );
    let out = tool(["user", "list", "--store", &conninfo]).expect(0);
    assert_eq!(out.stdout, "*  admin\n", "{out:?}");
    tool(["user", "remove", "admin", "--store", &conninfo]).expect(0);
    tool(["user", "remove", "admin", "--store", &conninfo]).expect(1);

    // A server that does not answer: exit 2, one line, no password from the URL.
    let dead = format!("postgres://postgres:Hidden-pw-9@127.0.0.1:{}/postgres", {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    let out = tool(["key", "list", "--store", &dead]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(!out.stderr.contains("Hidden-pw-9"), "{out:?}");
}

#[test]
fn key_revoke_never_echoes_a_key_that_may_be_secret() {
    if !zmq_auth::curve_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, alice_secret) = create_certificates(dir.path(), "alice", &[]).unwrap();
    let alice = load_certificate(&alice_secret).unwrap();
    let secret = alice.secret_key().unwrap();
    let url = format!("sqlite:{}", p(&dir.path().join("auth.db")));
    tool(["key", "add", p(&alice_pub), "--store", &url]).expect(0);

    // The secret key pasted by mistake: named for what it is, never printed, nothing
    // revoked.
    let out = tool(["key", "revoke", secret, "--store", &url]).expect(2);
    assert!(
        !out.all().contains(secret),
        "echoed the secret key: {out:?}"
    );
    assert!(out.stderr.contains("secret key"), "{out:?}");
    assert!(out.stderr.contains(".key"), "{out:?}");
    let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
    assert_eq!(store.keys(None).unwrap().len(), 1, "revoked anyway");

    // A key the store does not have may be anyone's secret: not repeated either.
    let unknown = zmq_auth::encode_z85_key(&[9; 32]);
    let out = tool(["key", "revoke", &unknown, "--store", &url]).expect(1);
    assert!(out.stdout.contains("nothing to revoke"), "{out:?}");
    assert!(!out.all().contains(&unknown), "echoed the key: {out:?}");
    let out = tool([
        "key", "revoke", &unknown, "--store", &url, "--domain", "other",
    ])
    .expect(1);
    assert!(!out.all().contains(&unknown), "echoed the key: {out:?}");

    // The public key itself: revoked, and named (it is public).
    let out = tool(["key", "revoke", alice.public_key(), "--store", &url]).expect(0);
    assert!(out.stdout.contains(alice.public_key()), "{out:?}");
    assert!(!out.all().contains(secret), "{out:?}");
}

#[test]
fn user_list_of_a_store_prints_domains_and_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let url = format!("sqlite:{}", p(&db));
    let out = tool(["user", "list", "--store", &url]).expect(2);
    assert!(out.stderr.contains("--store"), "{out:?}");
    for (name, domain, pw) in [
        ("admin", "*", "List-pw-1a"),
        ("ops", "other", "List-pw-2b"),
        ("bob", "*", "List-pw-3c"),
    ] {
        tool_with_stdin(
            ["user", "add", name, "--store", &url, "--domain", domain],
            Some(&format!("{pw}\n")),
        )
        .expect(0);
    }
    let out = tool(["user", "list", "--store", &url]).expect(0);
    assert_eq!(out.stdout, "*  admin\n*  bob\nother  ops\n", "{out:?}");
    assert!(!out.all().contains("argon2"), "printed a hash: {out:?}");
    let out = tool(["user", "list", "--store", &url, "--domain", "other"]).expect(0);
    assert_eq!(out.stdout, "other  ops\n", "{out:?}");
    let out = tool(["user", "list", "--store", &url, "--domain", "none"]).expect(0);
    assert!(out.stdout.contains("no users"), "{out:?}");
}

#[test]
fn store_takes_a_bare_sqlite_path() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, _) = create_certificates(dir.path(), "alice", &[]).unwrap();
    let alice = load_certificate(&alice_pub).unwrap();
    // A relative path, as `--store auth.db` in the current directory, and an absolute one.
    let run_in = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run_in(&["key", "add", "alice.key", "--store", "auth.db"]);
    assert_eq!(code, 0, "{err}");
    let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
    assert_eq!(store.keys(None).unwrap()[0].public_key, alice.public_key());
    let abs = dir.path().join("auth.db");
    let out = tool(["key", "list", "--store", p(&abs)]).expect(0);
    assert!(out.stdout.contains(alice.public_key()), "{out:?}");
    // A missing bare path is not created by a command that only reads.
    let missing = dir.path().join("missing.db");
    let out = tool(["key", "list", "--store", p(&missing)]).expect(2);
    assert!(out.stderr.contains("missing.db"), "{out:?}");
    assert!(!missing.exists());
    // Another scheme is still refused, its password never printed.
    let out = tool(["key", "list", "--store", "mysql://u:Hidden-pw-5@h/db"]).expect(2);
    assert!(!out.all().contains("Hidden-pw-5"), "{out:?}");
}

#[test]
fn an_empty_password_is_refused_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", p(&dir.path().join("auth.db")));
    let out = tool_with_stdin(["user", "add", "admin", "--store", &url], Some("\n")).expect(2);
    assert!(out.stderr.contains("empty password"), "{out:?}");
    // The README: libzmq clients that set only a username do send an empty password,
    // which is why it is never accepted.
    assert!(out.stderr.contains("never accepted"), "{out:?}");
    assert!(!out.stderr.contains("does not send"), "{out:?}");
}

/// Built without PostgreSQL (feature `cli` alone): a PostgreSQL store is named as such,
/// with the feature that brings it.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgresql_store_needs_the_cli_postgres_feature() {
    for spec in [
        "postgres://auth:Hidden-pw-7@db.internal/auth",
        "host=db.internal user=auth password=Hidden-pw-7",
    ] {
        let out = tool(["key", "list", "--store", spec]).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(out.stderr.contains("cli-postgres"), "{out:?}");
        assert!(!out.all().contains("Hidden-pw-7"), "{out:?}");
    }
}

#[test]
fn key_revoke_says_when_the_key_stays_admitted_through_star() {
    let dir = tempfile::tempdir().unwrap();
    let (k_pub, _) = create_certificates(dir.path(), "k", &[]).unwrap();
    let k = load_certificate(&k_pub).unwrap();
    let db = dir.path().join("auth.db");
    let url = format!("sqlite:{}", p(&db));
    // K in `admin` (its only key) and in `*`.
    tool([
        "key",
        "add",
        p(&k_pub),
        "--store",
        &url,
        "--domain",
        "admin",
    ])
    .expect(0);
    tool(["key", "add", p(&k_pub), "--store", &url]).expect(0);

    // Revoked in `admin`, but `admin` has no keys left, so `*` applies there again: the
    // tool says so, and exits 1 (the key is not refused).
    let out = tool([
        "key",
        "revoke",
        k.public_key(),
        "--store",
        &url,
        "--domain",
        "admin",
    ])
    .expect(1);
    assert!(out.stdout.contains("still admitted"), "{out:?}");
    assert!(out.stdout.contains("--domain '*'"), "{out:?}");
    if zmq_auth::curve_available() {
        let mut auth = Authenticator::new();
        auth.configure_curve_store("admin", SqliteStore::open(&db).unwrap())
            .unwrap();
        assert_eq!(
            curve_status(&mut auth, "admin", k.public_key_bytes()),
            200,
            "the note is true"
        );
    }
    // Nothing left to remove in `admin`, and still admitted there: said again.
    let out = tool([
        "key",
        "revoke",
        k.public_key(),
        "--store",
        &url,
        "--domain",
        "admin",
    ])
    .expect(1);
    assert!(out.stdout.contains("still admitted"), "{out:?}");
    // Revoked in `*` too: refused everywhere, no note.
    let out = tool(["key", "revoke", k.public_key(), "--store", &url]).expect(0);
    assert!(!out.stdout.contains("still admitted"), "{out:?}");
    if zmq_auth::curve_available() {
        let mut auth = Authenticator::new();
        auth.configure_curve_store("admin", SqliteStore::open(&db).unwrap())
            .unwrap();
        assert_eq!(curve_status(&mut auth, "admin", k.public_key_bytes()), 400);
    }
}
