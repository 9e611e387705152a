//! Metrics (feature `metrics`): with a recorder installed, decisions, lock-outs, slow
//! answers and re-checks are counted, and no label carries peer-chosen text.
#![cfg(feature = "metrics")]

mod common;

use std::time::Duration;

use common::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use zmq_auth::{zmq, ThreadAuthenticator};

#[test]
fn counters_move_and_labels_are_fixed_words() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    auth.limit_failures(3, Duration::from_secs(60), Duration::from_secs(60))
        .unwrap();
    auth.configure_curve_callback("*", |_, key| key.starts_with('a'))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "ops=battery-staple\n").unwrap();
    auth.set_reload_interval(Duration::from_millis(10)).unwrap();
    auth.configure_plain_file("files", &path).unwrap();

    let dealer = zap_dealer(&ctx);
    let peer_text = "secret-user-name-7f3a";
    send_request(&dealer, "2", "global", "CURVE", &[&[0u8; 32]]);
    recv_reply(&dealer).unwrap();
    // (All requests come from 127.0.0.1: the unknown key and two bad users make three
    // failures, and the address is locked out.)
    for (user, pw) in [
        ("admin", "correct-horse"),
        (peer_text, "guess-x"),
        (peer_text, "guess-y"),
        ("admin", "correct-horse"),
    ] {
        send_request(
            &dealer,
            "1",
            "global",
            "PLAIN",
            &[user.as_bytes(), pw.as_bytes()],
        );
        recv_reply(&dealer).unwrap();
    }
    // The watcher re-checks the password file (every 10 ms).
    assert!(eventually(Duration::from_secs(5), || handle
        .render()
        .contains(
            r#"zmq_auth_rechecks_total{source="password_file",result="ok"}"#
        )));

    // Where passwords are hashed, an unknown user costs a hash check too (on the pool:
    // counted as a slow answer of kind "hash"), so timing does not tell which names exist.
    let phc = zmq_auth::hash_password("Pw-metrics-hashed-3c9d").unwrap();
    auth.configure_plain("hashed", [("carol", phc.as_str())])
        .unwrap();
    let frames: Vec<&[u8]> = vec![
        b"",
        b"1.0",
        b"3",
        b"hashed",
        b"192.0.2.44",
        b"",
        b"PLAIN",
        b"nobody",
        b"guess-z",
    ];
    dealer.send_multipart(frames, 0).unwrap();
    assert_eq!(recv_reply(&dealer).unwrap().2, "Invalid username");

    let text = handle.render();
    assert!(
        text.contains(r#"zmq_auth_slow_answer_seconds_count{kind="hash"} 1"#),
        "{text}"
    );
    eprintln!("{text}");
    assert!(
        text.contains(r#"zmq_auth_decisions_total{mechanism="PLAIN",status="200",reason="OK"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"zmq_auth_decisions_total{mechanism="PLAIN",status="400",reason="Invalid username"} 3"#), "{text}"); // two from 127.0.0.1, one from 192.0.2.44
    assert!(text.contains(r#"zmq_auth_decisions_total{mechanism="PLAIN",status="400",reason="Too many failures"} 1"#), "{text}");
    assert!(text.contains("zmq_auth_lockouts_total 1"), "{text}");
    assert!(
        text.contains(r#"zmq_auth_slow_answer_seconds_count{kind="callback"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"zmq_auth_rechecks_total{source="password_file",result="ok"}"#),
        "{text}"
    );
    assert!(!text.contains(peer_text), "peer-chosen text in a label");
    assert!(!text.contains("127.0.0.1"), "an address in a label");

    #[cfg(feature = "sqlite")]
    cache_hits_are_counted_by_the_time_the_reply_arrives(&auth, &dealer, &handle);
}

/// Answers from a store's cache are counted, known and unknown keys alike, and the count
/// is there as soon as the reply is (the ZAP thread counts a hit with its decision).
#[cfg(feature = "sqlite")]
fn cache_hits_are_counted_by_the_time_the_reply_arrives(
    auth: &ThreadAuthenticator,
    dealer: &zmq::Socket,
    handle: &metrics_exporter_prometheus::PrometheusHandle,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = zmq_auth::store::SqliteStore::open(dir.path().join("auth.db")).unwrap();
    let known = [7u8; 32];
    let unknown = [9u8; 32];
    store
        .add_key("stored", &zmq_auth::encode_z85_key(&known), &[])
        .unwrap();
    auth.configure_curve_store("stored", store.clone()).unwrap();
    let key_hits = || {
        let text = handle.render();
        text.lines()
            .find_map(|l| l.strip_prefix(r#"zmq_auth_store_cache_hits_total{table="keys"} "#))
            .map_or(0, |v| v.trim().parse::<u64>().unwrap())
    };
    // (key, status, hits counted once its reply is in): a first ask goes to the
    // database, the same ask again is answered from the cache.
    let steps = [
        (known, "200", 0),
        (known, "200", 1),
        (unknown, "400", 1),
        (unknown, "400", 2),
        (known, "200", 3),
    ];
    for (i, (key, status, hits)) in steps.into_iter().enumerate() {
        // (From an address of its own: 127.0.0.1 is locked out by now.)
        let id = i.to_string();
        send_request_from(dealer, &id, "stored", "192.0.2.77", "CURVE", &[&key]);
        assert_eq!(recv_reply(dealer).unwrap().1, status, "step {i}");
        assert_eq!(key_hits(), hits, "step {i}");
    }
    assert_eq!(store.cache_hits(), 3);
}
