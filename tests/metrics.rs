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
}
