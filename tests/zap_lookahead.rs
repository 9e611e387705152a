//! The ZAP loop receives each request one ahead of the one it answers (to fetch the
//! next CURVE key's table line meanwhile). Whatever the mix, every request is answered
//! once, as its own: across batch ends (the request held ahead is served too),
//! malformed requests, unknown domains and keys, and the zero key.

mod common;

use std::collections::HashMap;

use common::*;
use zmq_auth::zmq;

/// What request `i` of the stream is, and the (status, User-Id) it must get.
fn request(i: usize, trusted: &[[u8; 32]]) -> (String, Vec<Vec<u8>>, &'static str, String) {
    let key = trusted[i % trusted.len()];
    match i % 8 {
        0 | 1 => ("CURVE".into(), vec![key.to_vec()], "200", z85(&key)),
        2 => {
            let mut other = key;
            other[31] ^= 1;
            ("CURVE".into(), vec![other.to_vec()], "400", String::new())
        }
        3 => ("CURVE".into(), vec![vec![0u8; 32]], "400", String::new()),
        4 => ("CURVE".into(), vec![key[..31].to_vec()], "400", String::new()),
        5 => (
            "PLAIN".into(),
            vec![b"alice".to_vec(), b"correct-horse".to_vec()],
            "200",
            "alice".into(),
        ),
        6 => (
            "PLAIN".into(),
            vec![b"alice".to_vec(), b"wrong".to_vec()],
            "400",
            String::new(),
        ),
        _ => ("NULL".into(), Vec::new(), "200", "anonymous".into()),
    }
}

#[test]
fn a_long_mixed_stream_is_answered_each_as_its_own() {
    let ctx = zmq::Context::new();
    let keys = tempfile::tempdir().unwrap();
    let trusted_dir = tempfile::tempdir().unwrap();
    let trusted: Vec<[u8; 32]> = (0..16)
        .map(|i| {
            let c = make_cert(keys.path(), &format!("c{i}"), &[]);
            copy_into(&c.public_path, trusted_dir.path());
            c.public
        })
        .collect();
    let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("global", trusted_dir.path()).unwrap();
    auth.configure_plain("global", [("alice", "correct-horse")])
        .unwrap();
    let dealer = zap_dealer(&ctx);
    dealer.set_sndhwm(0).unwrap();
    dealer.set_rcvhwm(0).unwrap();

    // Several batches' worth (a batch is 256), all queued before the loop wakes, and a
    // few to a domain nobody configured.
    let n = 3 * 256 + 7;
    let mut want = HashMap::new();
    for i in 0..n {
        let (mechanism, creds, status, user) = request(i, &trusted);
        let domain = if i % 50 == 49 { "nowhere" } else { "global" };
        let (status, user) = if domain == "nowhere" && mechanism != "NULL" {
            ("400", String::new())
        } else {
            (status, user)
        };
        let creds: Vec<&[u8]> = creds.iter().map(Vec::as_slice).collect();
        send_request(&dealer, &i.to_string(), domain, &mechanism, &creds);
        want.insert(i.to_string(), (status.to_string(), user));
    }
    let mut got = HashMap::new();
    for _ in 0..n {
        let (id, status, _text, user) = recv_reply(&dealer).expect("every request answered");
        assert!(
            got.insert(id.clone(), (status, user)).is_none(),
            "request {id} answered twice"
        );
    }
    assert_eq!(got.len(), n);
    for (id, w) in &want {
        assert_eq!(got.get(id), Some(w), "request {id}");
    }
    // And nothing more comes.
    dealer.set_rcvtimeo(200).unwrap();
    assert!(dealer.recv_multipart(0).is_err(), "no extra reply");
    auth.stop().unwrap();
}
