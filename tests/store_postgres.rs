//! `PostgresStore` through `ThreadAuthenticator`, against a real PostgreSQL server
//! started for the test (tests/support/pg.rs): admit with metadata, refuse, hashed
//! passwords only (checked in `pg_dump`), revocation from another connection and from
//! plain SQL (with latency printed), an outage (300 within the deadline while PLAIN
//! from a map still answers at once) and recovery after a restart.
#![cfg(feature = "postgres")]

mod common;
#[path = "support/pg.rs"]
mod pg;

use std::time::{Duration, Instant};

use common::*;
use zmq_auth::store::PostgresStore;
use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};

#[test]
fn postgres_store_end_to_end() {
    if !zmq_auth::curve_available() {
        return;
    }
    let Some(pg) = pg::Pg::start_or_skip() else {
        return;
    };
    let store = PostgresStore::connect(&pg.conninfo()).expect("connect");
    // A second server of the fleet connecting at the same time: the schema is created
    // once (advisory lock), both work.
    let other = PostgresStore::connect(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        pg.port
    ))
    .expect("connect with a URL");

    let certs = curve_certs(&[]);
    store
        .add_key("*", &certs.client.public_z85, &[("name", "Alice")])
        .unwrap();
    let password = "Pw-postgres-store-5d8e21";
    store.set_password("*", "alice", password).unwrap();

    let ctx = zmq::Context::new();
    let deadline = Duration::from_millis(500);
    let auth =
        ThreadAuthenticator::start_with(&ctx, EngineOptions::default().deadline(deadline)).unwrap();
    auth.configure_curve_store("*", store.clone()).unwrap();
    auth.configure_plain_store("*", store.clone()).unwrap();
    auth.configure_plain("maps", [("carol", "Pw-postgres-map-0c3f")])
        .unwrap();

    // Admit with metadata over a real handshake.
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(
        user_id(&mut msg).as_deref(),
        Some(certs.client.public_z85.as_str())
    );
    assert_eq!(msg.gets("name"), Some("Alice"));

    let dealer = zap_dealer(&ctx);
    assert_eq!(
        curve_status(&dealer, "", &keypair().public_key).1,
        "Unknown key"
    );
    assert_eq!(plain_status(&dealer, "", "alice", password).0, "200");
    assert_eq!(
        plain_status(&dealer, "", "alice", "wrong-guess").1,
        "Invalid password"
    );
    assert_eq!(
        plain_status(&dealer, "", "nobody", "x-guess").1,
        "Invalid username"
    );

    // No plaintext password anywhere in a dump of the database.
    let dump = pg.tool("pg_dump", &["-d", "postgres"]);
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("$argon2id$"), "the hash is stored");
    assert!(!dump.contains(password), "plaintext password in pg_dump");

    // Revocation through another connection: every server's cache is told at once.
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer,
        "",
        &certs.client.public
    )
    .0 == "200"));
    let t = Instant::now();
    assert!(other.revoke_key("*", &certs.client.public_z85).unwrap());
    assert!(
        eventually(Duration::from_secs(5), || curve_status(
            &dealer,
            "",
            &certs.client.public
        )
        .1 == "Unknown key"),
        "the revocation was seen"
    );
    let latency = t.elapsed();
    eprintln!("postgres revocation (LISTEN/NOTIFY) seen after {latency:?}");
    assert!(
        latency < Duration::from_millis(500),
        "target: well under 500 ms, took {latency:?}"
    );

    // A change made with plain SQL (psql) notifies too, through the trigger.
    other.add_key("*", &certs.client.public_z85, &[]).unwrap();
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer,
        "",
        &certs.client.public
    )
    .0 == "200"));
    let sql = format!(
        "DELETE FROM zmq_auth_keys WHERE public_key = '{}'",
        certs.client.public_z85
    );
    let out = pg.tool("psql", &["-d", "postgres", "-c", &sql]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || curve_status(
            &dealer,
            "",
            &certs.client.public
        )
        .1 == "Unknown key"),
        "the psql edit was seen"
    );
    eprintln!("postgres psql edit seen after {:?}", t.elapsed());
    other.add_key("*", &certs.client.public_z85, &[]).unwrap();
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer,
        "",
        &certs.client.public
    )
    .0 == "200"));

    // Outage: the server stops. Store answers become 300 within the deadline (never 200,
    // even for a key that was cached: no change feed, no cache), while PLAIN from a map
    // answers at once.
    pg.stop();
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(2), || curve_status(
            &dealer,
            "",
            &certs.client.public
        )
        .0 == "300"),
        "the store answers 300 once the server is gone"
    );
    eprintln!("postgres down: noticed after {:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(
        curve_status(&dealer, "", &certs.client.public),
        ("300".into(), "Try later".into())
    );
    let took = t.elapsed();
    eprintln!("postgres down: CURVE answered 300 after {took:?}");
    assert!(took < deadline + Duration::from_secs(1), "{took:?}");
    assert_eq!(
        plain_status(&dealer, "", "alice", password),
        ("300".into(), "Try later".into())
    );
    let t = Instant::now();
    assert_eq!(
        plain_status(&dealer, "maps", "carol", "Pw-postgres-map-0c3f").0,
        "200"
    );
    eprintln!(
        "postgres down: PLAIN from a map answered 200 after {:?}",
        t.elapsed()
    );

    // Recovery: the store reconnects by itself.
    pg.restart();
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || curve_status(
            &dealer,
            "",
            &certs.client.public
        )
        .0 == "200"),
        "the store recovered"
    );
    eprintln!("postgres restarted: admitted again after {:?}", t.elapsed());
    assert_eq!(plain_status(&dealer, "", "alice", password).0, "200");
    // And revocations are followed again.
    assert!(eventually(Duration::from_secs(5), || {
        // wait until the change feed is back (a cached answer proves it)
        let before = store.cache_hits();
        curve_status(&dealer, "", &certs.client.public);
        store.cache_hits() > before
    }));
    other.revoke_key("*", &certs.client.public_z85).unwrap();
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer,
        "",
        &certs.client.public
    )
    .1 == "Unknown key"));
    drop(auth);
}
