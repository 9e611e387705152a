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
        4 => (
            "CURVE".into(),
            vec![key[..31].to_vec()],
            "400",
            String::new(),
        ),
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

/// Writes `n` public certificates (pyzmq's format) of keys made from `seed` into `dir`.
fn large_dir(dir: &std::path::Path, n: u32, seed: u8) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            let mut key = [seed; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            let text = format!(
                "metadata\ncurve\n    public-key = \"{}\"\n",
                zmq_auth::encode_z85_key(&key)
            );
            std::fs::write(dir.join(format!("k{i}.key")), text).unwrap();
            key
        })
        .collect()
}

/// Sends CURVE requests for `keys` (ids are their indexes) to `domain`, all queued at
/// once; the (status, User-Id) of each, by index.
fn ask_all(dealer: &zmq::Socket, domain: &str, keys: &[[u8; 32]]) -> Vec<(String, String)> {
    for (i, k) in keys.iter().enumerate() {
        send_request(dealer, &i.to_string(), domain, "CURVE", &[k]);
    }
    let mut got = vec![(String::new(), String::new()); keys.len()];
    for _ in keys {
        let (id, status, _, user) = recv_reply(dealer).expect("every request answered");
        let i: usize = id.parse().unwrap();
        assert!(got[i].0.is_empty(), "request {i} answered twice");
        got[i] = (status, user);
    }
    got
}

/// Tables large enough to be hinted ahead (over 13,107 keys: 1 MiB of slots), in two
/// domains (so the request's domain picks the table): answers stay exact, for keys of
/// the domain, of the other domain, near misses and the zero key.
#[test]
fn large_tables_in_two_domains_answer_exactly() {
    let ctx = zmq::Context::new();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let keys_a = large_dir(a.path(), 14_000, 1);
    let keys_b = large_dir(b.path(), 14_000, 2);
    let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("a", a.path()).unwrap();
    auth.configure_curve("b", b.path()).unwrap();
    let dealer = zap_dealer(&ctx);
    dealer.set_sndhwm(0).unwrap();
    dealer.set_rcvhwm(0).unwrap();

    let mut asked: Vec<[u8; 32]> = Vec::new();
    let mut want: Vec<(String, String)> = Vec::new();
    for i in (0..14_000).step_by(7) {
        asked.push(keys_a[i]);
        want.push(("200".into(), z85(&keys_a[i])));
        asked.push(keys_b[i]); // trusted in "b" only
        want.push(("400".into(), String::new()));
        let mut near = keys_a[i];
        near[31] ^= 0x80;
        asked.push(near);
        want.push(("400".into(), String::new()));
    }
    asked.push([0; 32]);
    want.push(("400".into(), String::new()));
    assert_eq!(ask_all(&dealer, "a", &asked), want);
    // The same stream in "b": its own keys admitted, "a"'s refused.
    let want_b: Vec<(String, String)> = asked
        .iter()
        .map(|k| {
            if keys_b.contains(k) {
                ("200".into(), z85(k))
            } else {
                ("400".into(), String::new())
            }
        })
        .collect();
    assert_eq!(ask_all(&dealer, "b", &asked), want_b);
    auth.stop().unwrap();
}

/// A store whose cache holds a large table (hinted ahead): cached answers stay exact,
/// and a key revoked after it was cached is refused.
#[cfg(feature = "sqlite")]
#[test]
fn a_large_store_cache_answers_exactly() {
    let ctx = zmq::Context::new();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("keys.db");
    // Opened once for its schema, filled, then opened for the test: a store that saw
    // the fill would empty its cache when its watcher next looks.
    drop(zmq_auth::store::SqliteStore::open(&path).unwrap());
    let keys: Vec<[u8; 32]> = (0..14_000u32)
        .map(|i| {
            let mut key = [3u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            key
        })
        .collect();
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        let tx = conn.transaction().unwrap();
        for k in &keys {
            tx.execute(
                "INSERT INTO zmq_auth_keys (domain, public_key) VALUES ('*', ?1)",
                [zmq_auth::encode_z85_key(k)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let store = zmq_auth::store::SqliteStore::open(&path).unwrap();
    let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve_store("*", store.clone()).unwrap();
    let dealer = zap_dealer(&ctx);
    dealer.set_sndhwm(0).unwrap();
    dealer.set_rcvhwm(0).unwrap();
    dealer.set_rcvtimeo(30_000).unwrap();
    // Cache every key (through the pool, 500 in flight at a time), until a pass is
    // answered from the cache alone (the first one, unless something emptied it).
    let all_200 = |got: &[(String, String)]| got.iter().all(|(s, _)| s == "200");
    let mut cached = false;
    for _ in 0..5 {
        let before = store.cache_hits();
        let mut ok = true;
        for chunk in keys.chunks(500) {
            ok &= all_200(&ask_all(&dealer, "", chunk));
        }
        if ok && store.cache_hits() - before == keys.len() as u64 {
            cached = true;
            break;
        }
    }
    assert!(cached, "a pass answered from the cache alone");
    // Now with near misses among them (each asks the store: unknown).
    let mut asked = Vec::new();
    let mut want = Vec::new();
    for (i, k) in keys.iter().enumerate().step_by(11) {
        asked.push(*k);
        want.push(("200".to_string(), z85(k)));
        let mut near = *k;
        near[31] ^= 1;
        asked.push(near);
        want.push(("400".to_string(), String::new()));
        if i % 5 == 0 {
            asked.push([0; 32]);
            want.push(("400".to_string(), String::new()));
        }
    }
    for (a, w) in asked.chunks(300).zip(want.chunks(300)) {
        assert_eq!(ask_all(&dealer, "", a), w);
    }
    // Revoked after it was cached: refused.
    let revoked = store
        .revoke_key("*", &zmq_auth::encode_z85_key(&keys[7]))
        .unwrap();
    assert!(revoked.removed);
    assert!(
        eventually(std::time::Duration::from_secs(5), || {
            ask_all(&dealer, "", &keys[7..8])[0].0 == "400"
        }),
        "a revoked key is refused"
    );
    auth.stop().unwrap();
}
