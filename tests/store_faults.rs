//! Fault injection between a `PostgresStore` and a real PostgreSQL (issue 18): a TCP
//! proxy (tests/support/proxy.rs) freezes, delays, closes and half-closes the store's
//! connections, and a real PgBouncer (tests/support/pgbouncer.rs) pools them in session
//! and transaction mode. Each test states the answer it expects and the bound on how
//! long it takes. A server restart is covered by `store_postgres::postgres_store_end_to_end`.
#![cfg(feature = "postgres")]

mod common;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/pgbouncer.rs"]
mod pgbouncer;
#[path = "support/proxy.rs"]
mod proxy;

use std::time::{Duration, Instant};

use common::*;
use proxy::{Mode, Proxy};
use zmq_auth::store::PostgresStore;
use zmq_auth::{zmq, EngineOptions, ThreadAuthenticator};

const DEADLINE: Duration = Duration::from_millis(500);

struct Rig {
    pg: pg::Pg,
    proxy: Proxy,
    /// The store under test, through the proxy.
    store: PostgresStore,
    /// Another server's handle, straight to PostgreSQL (never faulted).
    admin: PostgresStore,
    ctx: zmq::Context,
    auth: ThreadAuthenticator,
    dealer: zmq::Socket,
}

/// PostgreSQL, the proxy, a store through it serving CURVE in `*` and PLAIN in `maps`
/// from a map (which must keep answering whatever the store does).
fn rig() -> Option<Rig> {
    if !zmq_auth::curve_available() {
        return None;
    }
    let pg = pg::Pg::start_or_skip()?;
    let proxy = Proxy::start(([127, 0, 0, 1], pg.port).into());
    let store = PostgresStore::connect(&format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        proxy.port
    ))
    .expect("connect through the proxy");
    store.set_query_timeout(DEADLINE);
    let admin = PostgresStore::connect(&pg.conninfo()).expect("connect");
    let ctx = zmq::Context::new();
    let auth =
        ThreadAuthenticator::start_with(&ctx, EngineOptions::default().deadline(DEADLINE)).unwrap();
    auth.configure_curve_store("*", store.clone()).unwrap();
    auth.configure_plain("maps", [("carol", "Pw-faults-map-5b1e")])
        .unwrap();
    let dealer = zap_dealer(&ctx);
    Some(Rig {
        pg,
        proxy,
        store,
        admin,
        ctx,
        auth,
        dealer,
    })
}

impl Rig {
    fn curve(&self, key: &[u8; 32]) -> String {
        curve_status(&self.dealer, "", key).0
    }

    /// A key in the store, admitted from the cache (so the feed is up and trusted).
    fn cached_key(&self) -> [u8; 32] {
        let key = keypair().public_key;
        self.admin.add_key("*", &z85(&key), &[]).unwrap();
        assert!(
            eventually(Duration::from_secs(10), || {
                let before = self.store.cache_hits();
                self.curve(&key) == "200" && self.store.cache_hits() > before
            }),
            "the key is admitted from the cache"
        );
        key
    }

    fn map_answers_at_once(&self) {
        let t = Instant::now();
        assert_eq!(
            plain_status(&self.dealer, "maps", "carol", "Pw-faults-map-5b1e").0,
            "200"
        );
        eprintln!("  PLAIN from a map meanwhile: 200 after {:?}", t.elapsed());
    }
}

/// Silent change feed (connections open, nothing delivered): the cache stops answering
/// within about 1 s of the last heartbeat, so a key revoked meanwhile is refused within
/// 2 s of its revocation (400 from the database). Before: admitted for as long as the
/// silence lasted.
#[test]
fn silent_change_feed_never_admits_a_revoked_key_past_two_seconds() {
    let Some(r) = rig() else { return };
    let key = r.cached_key();
    // Connections 1 and 2 are the feed and its heartbeat (0 is the first look-up/admin
    // connection, later ones are look-ups): only the feed goes silent.
    r.proxy.set_some(|i| i == 1 || i == 2, Mode::Freeze);
    let revoked = Instant::now();
    assert!(r.admin.revoke_key("*", &z85(&key)).unwrap().removed);
    let mut last_admitted = None;
    let mut refused_at = None;
    while revoked.elapsed() < Duration::from_secs(4) {
        match r.curve(&key).as_str() {
            "200" => last_admitted = Some(revoked.elapsed()),
            "400" if refused_at.is_none() => refused_at = Some(revoked.elapsed()),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("silent feed: last admitted {last_admitted:?}, first refused {refused_at:?} after the revocation");
    assert!(refused_at.is_some(), "refused from the database");
    if let Some(t) = last_admitted {
        assert!(
            t < Duration::from_secs(2),
            "admitted {t:?} after its revocation"
        );
    }
    r.map_answers_at_once();
    // The feed comes back: the cache is emptied and trusted again.
    r.proxy.set_all(Mode::Pass);
    let again = r.cached_key();
    assert!(r.admin.revoke_key("*", &z85(&again)).unwrap().removed);
    assert!(eventually(Duration::from_secs(5), || r.curve(&again) == "400"));
}

/// Silent query: every connection frozen. 300 within the deadline (bound: deadline +
/// 1.5 s), other domains meanwhile at once; 200 again once the network is back.
#[test]
fn silent_query_is_300_within_the_deadline() {
    let Some(r) = rig() else { return };
    let key = r.cached_key();
    r.proxy.set_all(Mode::Freeze);
    // Let the cache lapse (no heartbeat comes back).
    assert!(eventually(Duration::from_secs(5), || {
        let t = Instant::now();
        let s = r.curve(&key);
        s == "300" && t.elapsed() >= DEADLINE / 2
    }));
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(r.curve(&keypair().public_key), "300");
        let took = t.elapsed();
        eprintln!("silent query: 300 after {took:?}");
        assert!(took < DEADLINE + Duration::from_millis(1500), "{took:?}");
    }
    r.map_answers_at_once();
    r.proxy.set_all(Mode::Pass);
    assert!(eventually(Duration::from_secs(10), || r.curve(&key) == "200"));
}

/// Answers at 1.5 × the deadline: 300 (never a late 200), the look-up connection is
/// abandoned at the store's client-side deadline, and 200 once answers are fast again.
#[test]
fn answers_at_one_and_a_half_deadlines_are_300() {
    let Some(r) = rig() else { return };
    let key = r.cached_key();
    r.proxy.set_all(Mode::Delay(DEADLINE * 3 / 2));
    assert!(eventually(Duration::from_secs(5), || r.curve(&key) == "300"));
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(r.curve(&keypair().public_key), "300");
        let took = t.elapsed();
        eprintln!("late answers: 300 after {took:?}");
        assert!(took < DEADLINE + Duration::from_millis(1500), "{took:?}");
    }
    r.map_answers_at_once();
    r.proxy.set_all(Mode::Pass);
    assert!(eventually(Duration::from_secs(10), || r.curve(&key) == "200"));
}

/// Connections reset (TCP RST, see `the_proxys_reset_is_a_tcp_rst`) in the middle of a
/// query: that request is 300 (the retry meets a frozen network), and the store
/// reconnects by itself: 200 once the network is back.
/// Half-closed connections (end-of-file to the store): the store reconnects, 200.
#[test]
fn reset_and_half_closed_connections_reconnect() {
    let Some(r) = rig() else { return };
    let key = r.cached_key();
    let fresh = keypair().public_key;
    r.admin.add_key("*", &z85(&fresh), &[]).unwrap();
    r.proxy.set_all(Mode::Delay(Duration::from_millis(200)));
    send_request(&r.dealer, "mid", "", "CURVE", &[&fresh]);
    std::thread::sleep(Duration::from_millis(100)); // the query is under way
    r.proxy.set_all(Mode::Freeze);
    let t = Instant::now();
    r.proxy.reset_all();
    let (_, code, _, _) = recv_reply(&r.dealer).expect("a reply");
    eprintln!("reset mid-query: {code} after {:?}", t.elapsed());
    assert_eq!(code, "300");
    r.proxy.set_all(Mode::Pass);
    assert!(eventually(Duration::from_secs(10), || r.curve(&fresh) == "200"));
    assert!(eventually(Duration::from_secs(10), || r.curve(&key) == "200"));

    r.proxy.half_close_all();
    let t = Instant::now();
    assert!(eventually(Duration::from_secs(10), || r
        .curve(&keypair().public_key)
        == "400"));
    eprintln!("half-closed: answering again after {:?}", t.elapsed());
    assert!(eventually(Duration::from_secs(10), || r.curve(&key) == "200"));
}

/// A store dropped while its queries hang: dropping the last handles returns at once
/// (bound: 1 s), the ZAP thread keeps answering other domains, and the hung requests get
/// 300 within the deadline.
#[test]
fn a_store_dropped_while_queries_hang_blocks_nothing() {
    let Some(r) = rig() else { return };
    let _ = r.cached_key();
    r.proxy.set_all(Mode::Freeze);
    for i in 0..4 {
        send_request(
            &r.dealer,
            &format!("hung{i}"),
            "",
            "CURVE",
            &[&keypair().public_key],
        );
    }
    std::thread::sleep(Duration::from_millis(50)); // the look-ups are under way
                                                   // The domain is given an (empty) certificate directory instead: the store's last
                                                   // handles are the hung look-ups' and the user's.
    let empty = tempfile::tempdir().unwrap();
    let t = Instant::now();
    r.auth.configure_curve("*", empty.path()).unwrap();
    let Rig {
        store,
        dealer,
        auth,
        proxy,
        admin,
        ctx,
        pg,
    } = r;
    drop(store);
    let took = t.elapsed();
    eprintln!("store replaced and dropped while its queries hang: {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    for _ in 0..4 {
        let (id, code, _, _) = recv_reply(&dealer).expect("a reply");
        assert!(id.starts_with("hung"), "{id}");
        // 300 (late), or 400 when the engine re-decided it under the new policy.
        assert!(code == "300" || code == "400", "{code}");
    }
    let t = Instant::now();
    assert_eq!(
        plain_status(&dealer, "maps", "carol", "Pw-faults-map-5b1e").0,
        "200"
    );
    assert_eq!(curve_status(&dealer, "", &keypair().public_key).0, "400");
    eprintln!("ZAP thread answers after the drop: {:?}", t.elapsed());
    drop((auth, dealer, admin));
    drop(ctx);
    drop(proxy);
    drop(pg);
}

/// PgBouncer in session pooling: LISTEN works, revocations arrive.
#[test]
fn pgbouncer_session_pooling_follows_revocations() {
    if !zmq_auth::curve_available() {
        return;
    }
    let Some(pg) = pg::Pg::start_or_skip() else {
        return;
    };
    let Some(bouncer) = pgbouncer::PgBouncer::start_or_skip(pg.port, "session") else {
        return;
    };
    let store = PostgresStore::connect(&bouncer.conninfo()).expect("session pooling works");
    let admin = PostgresStore::connect(&pg.conninfo()).expect("connect");
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve_store("*", store.clone()).unwrap();
    let dealer = zap_dealer(&ctx);
    let key = keypair().public_key;
    admin.add_key("*", &z85(&key), &[]).unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        let before = store.cache_hits();
        curve_status(&dealer, "", &key).0 == "200" && store.cache_hits() > before
    }));
    let t = Instant::now();
    assert!(admin.revoke_key("*", &z85(&key)).unwrap().removed);
    assert!(eventually(Duration::from_secs(5), || curve_status(
        &dealer, "", &key
    )
    .0 == "400"));
    eprintln!(
        "pgbouncer session pooling: revocation seen after {:?}",
        t.elapsed()
    );
}

/// PgBouncer in transaction pooling: LISTEN cannot deliver (measured before: a revoked
/// key admitted 5 s later). The store refuses to start, naming the pooling mode and the
/// fix.
#[test]
fn pgbouncer_transaction_pooling_is_refused_with_the_fix() {
    let Some(pg) = pg::Pg::start_or_skip() else {
        return;
    };
    let Some(bouncer) = pgbouncer::PgBouncer::start_or_skip(pg.port, "transaction") else {
        return;
    };
    let t = Instant::now();
    let err = PostgresStore::connect(&bouncer.conninfo())
        .expect_err("a feed that cannot deliver is refused")
        .to_string();
    eprintln!(
        "pgbouncer transaction pooling: refused after {:?}: {err}",
        t.elapsed()
    );
    assert!(err.contains("transaction"), "{err}");
    assert!(err.contains("session"), "{err}");
    assert!(err.contains("directly"), "{err}");
}

/// The proxy's reset is a real TCP reset: the store's side reads `ECONNRESET`, not an
/// orderly end-of-file (which is what `half_close_all` gives).
#[test]
fn the_proxys_reset_is_a_tcp_rst() {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(upstream.local_addr().unwrap());
    let mut client = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    let (mut server, _) = upstream.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    proxy.reset_all();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let got = client.read(&mut buf).map_err(|e| e.kind());
    assert_eq!(
        got,
        Err(ErrorKind::ConnectionReset),
        "the client got {got:?}"
    );
}
