//! The engine fails closed and never waits (DESIGN.md §5 "Fail closed"): one test per
//! finding of the engine issue that had no test elsewhere, over real libzmq sockets.
//! Requests go to the ZAP endpoint from a DEALER (as libzmq's own handshakes do) where
//! the exact reply matters, and through real PLAIN/CURVE/NULL handshakes otherwise.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use zmq_auth::{zmq, EngineOptions, Error, ThreadAuthenticator};

/// Finding 1: a password file line `admin=` (an unset template variable) must never
/// admit a stock client that sets only a username (libzmq sends an empty password).
#[test]
fn empty_password_file_entry_never_admits() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    // At configuration: an error naming the line, nothing applied.
    std::fs::write(&path, "alice=correct-horse\nadmin=\n").unwrap();
    let err = auth.configure_plain_file("*", &path).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 2, .. }), "{err:?}");
    // At a re-check: the line admits no one, the rest applies.
    std::fs::write(&path, "alice=correct-horse\n").unwrap();
    auth.configure_plain_file("*", &path).unwrap();
    std::fs::write(&path, "alice=battery-staple\nadmin=\n").unwrap();
    let dealer = zap_dealer(&ctx);
    assert!(
        eventually(Duration::from_secs(5), || plain_status(
            &dealer,
            "",
            "alice",
            "battery-staple"
        )
        .0 == "200"),
        "the re-check applied the good line"
    );
    assert_eq!(
        plain_status(&dealer, "", "admin", ""),
        ("400".into(), "Invalid username".into())
    );
    // And end to end: a stock client that sets only the username stays out.
    let events = auth.events();
    let server = plain_server(&ctx, Some("global"));
    let stock = client_with(&ctx, &server.endpoint, |s| {
        s.set_plain_username(Some("admin")).unwrap();
    });
    assert_refused(&events, &server, &stock, "Invalid username");
}

/// Finding 2: a `configure` closure that fails half way changes nothing.
#[test]
fn failed_configure_closure_changes_nothing() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.allow(["192.0.2.1"]).unwrap();
    let err = auth
        .configure(|a| {
            a.clear_address_lists();
            a.allow(["10.0.0.0/8", "192.168.1.0/33"])
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidAddress(_)), "{err:?}");
    // The allow list is still 192.0.2.1 only: 127.0.0.1 is refused.
    let dealer = zap_dealer(&ctx);
    send_request(&dealer, "1", "", "NULL", &[]);
    let (_, code, text, _) = recv_reply(&dealer).unwrap();
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("400", "Address not allowed")
    );
    // A panicking closure too.
    let r = auth.configure(|a| {
        a.clear_address_lists();
        panic!("deliberate test panic in a configure closure")
    });
    assert!(matches!(r, Err(Error::Panicked(_))), "{r:?}");
    send_request(&dealer, "2", "", "NULL", &[]);
    assert_eq!(recv_reply(&dealer).unwrap().1, "400");
}

/// Finding 3: an edit that removes a user and adds a line the format does not know
/// revokes the user; deleting the file revokes everyone in it (500 until it is back).
#[test]
fn password_file_edits_and_deletion_revoke() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "alice=correct-horse\nmallory=hunter2-hunter2\n").unwrap();
    auth.configure_plain_file("*", &path).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(
        plain_status(&dealer, "", "mallory", "hunter2-hunter2").0,
        "200"
    );

    std::fs::write(&path, "alice=correct-horse\n; mallory removed\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || plain_status(
            &dealer,
            "",
            "mallory",
            "hunter2-hunter2"
        )
        .0 == "400"),
        "mallory is revoked although the file has a line the format does not know"
    );
    assert_eq!(plain_status(&dealer, "", "alice", "correct-horse").0, "200");

    std::fs::remove_file(&path).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || plain_status(
            &dealer,
            "",
            "alice",
            "correct-horse"
        ) == (
            "500".into(),
            "Internal error".into()
        )),
        "deleting the file revokes its users"
    );
    std::fs::write(&path, "alice=correct-horse\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || plain_status(
            &dealer,
            "",
            "alice",
            "correct-horse"
        )
        .0 == "200"),
        "the file is back"
    );
}

/// Finding 4: a credentials callback that never returns must not stop anything else:
/// PLAIN and NULL are answered at once, the stuck CURVE requests get 300 at the
/// deadline, and a saturated pool answers 300 at once.
#[test]
fn a_stuck_callback_holds_up_nobody() {
    let ctx = zmq::Context::new();
    let options = EngineOptions::default()
        .pool_size(2)
        .deadline(Duration::from_millis(300));
    let auth = ThreadAuthenticator::start_with(&ctx, options).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
    let entered = Arc::new(AtomicUsize::new(0));
    let entered_cb = Arc::clone(&entered);
    // No annotations needed on the closure (finding 10).
    auth.configure_curve_callback("*", move |_domain, _key| {
        entered_cb.fetch_add(1, Ordering::SeqCst);
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
        true
    })
    .unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();

    let dealer = zap_dealer(&ctx);
    for i in 0..8 {
        send_request(&dealer, &format!("c{i}"), "", "CURVE", &[&[i as u8; 32]]);
    }
    assert!(eventually(Duration::from_secs(5), || entered
        .load(Ordering::SeqCst)
        == 2));
    // Both pool threads are stuck; PLAIN and NULL are still answered, in order of
    // arrival, before any of the CURVE requests.
    send_request(&dealer, "plain", "", "PLAIN", &[b"admin", b"correct-horse"]);
    send_request(&dealer, "null", "", "NULL", &[]);
    let first = recv_reply(&dealer).unwrap();
    assert_eq!(
        (first.0.as_str(), first.1.as_str(), first.3.as_str()),
        ("plain", "200", "admin")
    );
    let second = recv_reply(&dealer).unwrap();
    assert_eq!((second.0.as_str(), second.1.as_str()), ("null", "200"));
    // Then every CURVE request is answered 300 when its deadline passes.
    let mut late = Vec::new();
    for _ in 0..8 {
        let (id, code, text, uid) = recv_reply(&dealer).expect("a 300 at the deadline");
        assert_eq!(
            (code.as_str(), text.as_str(), uid.as_str()),
            ("300", "Try later", ""),
            "{id}"
        );
        late.push(id);
    }
    late.sort();
    assert_eq!(late, (0..8).map(|i| format!("c{i}")).collect::<Vec<_>>());

    // Saturation: 2 stuck threads + 2 × 16 queued; the rest is answered 300 at once.
    let auth_sat = {
        drop(auth);
        let ctx2 = zmq::Context::new();
        let options = EngineOptions::default()
            .pool_size(2)
            .deadline(Duration::from_secs(60));
        let a = ThreadAuthenticator::start_with(&ctx2, options).unwrap();
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        a.configure_curve_callback("*", move |_, _| {
            rx.recv_timeout(Duration::from_secs(30)).is_ok()
        })
        .unwrap();
        let dealer = zap_dealer(&ctx2);
        for i in 0..40u8 {
            send_request(&dealer, &format!("s{i}"), "", "CURVE", &[&[i; 32]]);
        }
        // With a 60 s deadline, only saturation can produce these replies in time.
        for _ in 0..(40 - 2 - 32) {
            let (_, code, text, _) = recv_reply(&dealer).expect("an immediate 300");
            assert_eq!((code.as_str(), text.as_str()), ("300", "Try later"));
        }
        drop(tx);
        (a, ctx2, dealer)
    };
    drop(release_tx);
    drop(auth_sat);
}

/// Finding 6: `stop` is bounded however many configuration calls are queued, and the
/// stop request cannot be lost.
#[test]
fn stop_is_bounded_with_many_configuration_calls_queued() {
    let ctx = zmq::Context::new();
    let auth = Arc::new(ThreadAuthenticator::start(&ctx).unwrap());
    let started = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..80)
        .map(|_| {
            let (auth, started) = (Arc::clone(&auth), Arc::clone(&started));
            std::thread::spawn(move || {
                auth.configure(|a| {
                    started.fetch_add(1, Ordering::SeqCst);
                    // A slow change (think: loading a big directory).
                    std::thread::sleep(Duration::from_millis(200));
                    a.allow(["127.0.0.1"])
                })
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || started
        .load(Ordering::SeqCst)
        >= 1));
    let t = Instant::now();
    auth.stop().unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    assert!(!auth.is_alive());
    // The ZAP endpoint is free at once.
    let again = ThreadAuthenticator::start(&ctx).expect("restart on the same context");
    // Queued calls are refused, not applied after the stop; at most the one running
    // when stop was called (and the one that got the lock next) completed.
    let results: Vec<_> = callers.into_iter().map(|h| h.join().unwrap()).collect();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(Error::NotRunning)))
        .count();
    assert!(refused >= 78, "{refused} of 80 refused: {results:?}");
    drop(again);
}

/// Finding 7: `allow([])` / `deny([])` are refused (an empty allow list meant "allow
/// everyone").
#[test]
fn empty_address_lists_are_refused() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let none: [&str; 0] = [];
    assert!(matches!(auth.allow(none), Err(Error::InvalidConfig(_))));
    assert!(matches!(auth.deny(none), Err(Error::InvalidConfig(_))));
    auth.allow(["192.0.2.1"]).unwrap();
    assert!(auth.allow(none).is_err());
    let dealer = zap_dealer(&ctx);
    send_request(&dealer, "1", "", "NULL", &[]);
    assert_eq!(recv_reply(&dealer).unwrap().2, "Address not allowed");
}

/// DESIGN §5 rule 5: a certificate rewritten in place (same inode, same size, mtime put
/// back) stops admitting within two re-check intervals.
#[test]
fn certificate_rewritten_in_place_with_old_mtime_is_revoked() {
    if !zmq_auth::curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = keypair();
    let b = keypair();
    let path = dir.path().join("client.key");
    let cert = |k: &[u8; 32]| format!("curve\n    public-key = \"{}\"\n", z85(k));
    std::fs::write(&path, cert(&a.public_key)).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    auth.configure_curve("*", dir.path()).unwrap();
    let dealer = zap_dealer(&ctx);
    let curve_status = |key: &[u8]| {
        send_request(&dealer, "k", "", "CURVE", &[key]);
        recv_reply(&dealer).unwrap().1
    };
    assert_eq!(curve_status(&a.public_key), "200");
    let ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&path).unwrap().ino()
    };
    // In place: same inode, same size (both keys are 40 characters), old mtime.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(cert(&b.public_key).as_bytes())?;
            f.set_modified(mtime)
        })
        .unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!((m.ino(), m.modified().unwrap()), (ino, mtime));
    }
    assert!(
        eventually(Duration::from_secs(5), || curve_status(&a.public_key)
            == "400"),
        "the old key is revoked"
    );
    assert_eq!(curve_status(&b.public_key), "200");
}

/// Found by review: guesses already on the pool when a ban starts were still checked,
/// and a right password among them was admitted after the ban.
#[test]
fn guesses_in_flight_when_a_ban_starts_admit_no_one() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let phc = zmq_auth::hash_password("correct-horse").unwrap();
    auth.configure_plain("*", [("admin", phc.as_str())])
        .unwrap();
    auth.limit_failures(3, Duration::from_secs(60), Duration::from_secs(600))
        .unwrap();
    let dealer = zap_dealer(&ctx);
    for i in 0..30 {
        send_request_from(
            &dealer,
            &format!("{i}"),
            "",
            "192.0.2.1",
            "PLAIN",
            &[b"admin", "a-guess".as_bytes()],
        );
    }
    send_request_from(
        &dealer,
        "right",
        "",
        "192.0.2.1",
        "PLAIN",
        &[b"admin", "correct-horse".as_bytes()],
    );
    let (mut wrong, mut admitted) = (0, false);
    for _ in 0..31 {
        let (_, code, text, _) = recv_reply(&dealer).expect("a reply");
        wrong += usize::from(text == "Invalid password");
        admitted |= code == "200";
    }
    assert!(wrong <= 3 && !admitted, "wrong={wrong} admitted={admitted}");
}

/// Found by review: `EngineOptions::deadline(Duration::MAX)` ("no deadline") overflowed
/// an Instant and killed the ZAP thread at the first slow request.
#[test]
fn a_huge_deadline_does_not_kill_the_zap_thread() {
    let ctx = zmq::Context::new();
    let auth =
        ThreadAuthenticator::start_with(&ctx, EngineOptions::default().deadline(Duration::MAX))
            .unwrap();
    let phc = zmq_auth::hash_password("correct-horse").unwrap();
    auth.configure_plain("*", [("admin", phc.as_str())])
        .unwrap();
    let dealer = zap_dealer(&ctx);
    send_request_from(
        &dealer,
        "1",
        "",
        "192.0.2.1",
        "PLAIN",
        &[b"admin", "correct-horse".as_bytes()],
    );
    let reply = recv_reply(&dealer).expect("a reply");
    assert_eq!(reply.1, "200");
    assert!(auth.is_alive());
}
