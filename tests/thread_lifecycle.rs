//! `ThreadAuthenticator` lifecycle over real libzmq sockets on TCP loopback: start,
//! stop, restart on the same context, configuration from other threads, the event
//! stream, and robustness of the ZAP socket itself.

mod common;

use std::sync::Arc;

use common::*;
use zmq_auth::{
    zmq, Error, Mechanism, StatusCode, ThreadAuthenticator, CURVE_ALLOW_ANY, ZAP_ENDPOINT,
};

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ThreadAuthenticator>();
};

/// §9: stop/drop must free the ZAP endpoint even with handshakes attached, so a new
/// authenticator starts on the same context. Each round proves its authenticator is
/// the one serving: the User-Id names the round, and a stranger is refused.
#[test]
fn restart_on_same_context_five_times() {
    let ctx = zmq::Context::new();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    for round in 0..5 {
        let auth = ThreadAuthenticator::start(&ctx)
            .unwrap_or_else(|e| panic!("round {round}: start failed: {e}"));
        assert!(auth.is_alive());
        let events = auth.events();
        let good = keypair();
        let good_z85 = z85(&good.public_key);
        auth.configure_curve_callback("*", move |_: &str, key: &str| key == good_z85)
            .unwrap();
        auth.set_curve_user_id(move |_: &[u8; 32]| format!("round-{round}"))
            .unwrap();

        let stranger =
            curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
        // Late handshakes of the previous round's pending clients may reach this
        // authenticator before it was configured ("Unknown domain"): skip those.
        assert_refused_skipping(&events, &server, &stranger, "Unknown key");

        let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &good);
        let mut msg = assert_connects(&server, &client);
        assert_eq!(
            user_id(&mut msg),
            Some(format!("round-{round}")),
            "round {round}: not served by this round's authenticator"
        );

        // Handshakes in flight while the authenticator goes away.
        let _pending: Vec<zmq::Socket> = (0..3)
            .map(|_| curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair()))
            .collect();
        if round % 2 == 0 {
            auth.stop().unwrap();
            assert!(!auth.is_alive());
        } else {
            drop(auth);
        }
    }
}

/// §9 and the crate docs: with no ZAP handler bound, libzmq admits CURVE clients with
/// any key (fail-open). This proves both halves: the running authenticator denies an
/// unknown key, and after `stop` it is really stopped (the same kind of client gets
/// in, with no User-Id from any handler).
#[test]
fn running_denies_stopped_fails_open() {
    let trusted = tempfile::tempdir().unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_curve("*", trusted.path()).unwrap(); // no certificate: nobody is known
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));

    let stranger = keypair();
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &stranger);
    assert_refused(&events, &server, &client, "Unknown key");
    drop(client);

    auth.stop().unwrap();
    assert!(!auth.is_alive());

    // libzmq's documented fail-open behaviour: this is why the authenticator must stay
    // running as long as the server socket.
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &stranger);
    let mut msg = assert_connects(&server, &client);
    let uid = user_id(&mut msg);
    assert!(
        uid.as_deref().unwrap_or("").is_empty(),
        "no handler should have granted a user id, got {uid:?}"
    );
    assert!(
        events.try_recv().is_err(),
        "a stopped authenticator decides nothing"
    );
}

/// The same fail-open for NULL with a ZAP domain: denied while running, admitted after
/// stop.
#[test]
fn null_domain_denied_while_running_admitted_after_stop() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["127.0.0.1"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_refused(&events, &server, &client, "Address denied");
    drop(client);
    auth.stop().unwrap();
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

#[test]
fn stop_twice_is_ok_and_configure_after_stop_is_not_running() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    assert!(auth.is_alive());
    auth.stop().unwrap();
    assert!(!auth.is_alive());
    auth.stop().unwrap();
    assert!(!auth.is_alive());

    let not_running = |r: zmq_auth::Result<()>, what: &str| {
        assert!(
            matches!(r, Err(Error::NotRunning)),
            "{what} after stop: expected NotRunning, got {r:?}"
        );
    };
    not_running(auth.allow(["127.0.0.1"]), "allow");
    not_running(auth.deny(["127.0.0.1"]), "deny");
    not_running(auth.clear_address_lists(), "clear_address_lists");
    not_running(auth.configure_plain("*", [("a", "b")]), "configure_plain");
    not_running(
        auth.configure_curve("*", CURVE_ALLOW_ANY),
        "configure_curve",
    );
    not_running(
        auth.configure_curve_callback("*", |_: &str, _: &str| true),
        "configure_curve_callback",
    );
    not_running(
        auth.set_curve_user_id(|_: &[u8; 32]| String::new()),
        "set_curve_user_id",
    );
    not_running(auth.configure(|_| Ok(())), "configure");
    // Dropping a stopped authenticator is fine too.
    drop(auth);
}

#[test]
fn second_start_on_same_context_is_already_running() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let second = ThreadAuthenticator::start(&ctx);
    assert!(
        matches!(second, Err(Error::AlreadyRunning)),
        "expected AlreadyRunning, got {:?}",
        second.as_ref().err()
    );
    // The refused start did not disturb the running one.
    assert!(auth.is_alive());
    let events = auth.events();
    auth.deny(["127.0.0.1"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_refused(&events, &server, &client, "Address denied");

    // Another context has its own ZAP endpoint.
    let other = zmq::Context::new();
    let elsewhere = ThreadAuthenticator::start(&other).unwrap();
    assert!(elsewhere.is_alive());

    auth.stop().unwrap();
    let again = ThreadAuthenticator::start(&ctx).unwrap();
    assert!(again.is_alive());
}

/// Configuration calls return only once applied: a connection made right after sees
/// the change, with no waiting in between.
#[test]
fn twenty_configure_then_connect_rounds() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let server = plain_server(&ctx, Some("global"));
    for round in 0..20 {
        let password = format!("password-{round}");
        auth.configure_plain("*", [("admin", password.as_str())])
            .unwrap();
        let client = plain_client(&ctx, &server.endpoint, "admin", &password);
        let mut msg = send_and_recv(&server, &client)
            .unwrap_or_else(|| panic!("round {round}: the new password was not in effect"));
        assert_eq!(user_id(&mut msg).as_deref(), Some("admin"));
    }
}

/// `events()` reports every decision with its domain, address, mechanism, status,
/// user id and reason: one event per decision, in order.
#[test]
fn events_report_each_decision() {
    fn check(
        ev: Option<zmq_auth::AuthEvent>,
        domain: &str,
        mechanism: Mechanism,
        status: StatusCode,
        user: &str,
        reason: &str,
    ) {
        let ev = ev.unwrap_or_else(|| panic!("no event for {mechanism:?} in {domain:?}"));
        assert_eq!(ev.domain, domain, "{ev:?}");
        assert_eq!(ev.address, "127.0.0.1", "{ev:?}");
        assert_eq!(ev.mechanism, mechanism, "{ev:?}");
        assert_eq!(ev.status, status, "{ev:?}");
        assert_eq!(ev.user_id, user, "{ev:?}");
        assert_eq!(ev.reason, reason, "{ev:?}");
    }
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain("plain-domain", [("admin", "correct-horse")])
        .unwrap();
    auth.configure_curve("curve-domain", CURVE_ALLOW_ANY)
        .unwrap();
    let null = null_server(&ctx, Some("null-domain"));
    let plain = plain_server(&ctx, Some("plain-domain"));
    let server_keys = keypair();
    let curve = curve_server(&ctx, &server_keys.secret_key, Some("curve-domain"));
    let no_policy = curve_server(&ctx, &server_keys.secret_key, Some("no-policy"));
    use Mechanism::*;
    use StatusCode::*;

    let c = null_client(&ctx, &null.endpoint);
    assert_connects(&null, &c);
    check(
        next_event(&events, STEP_MS),
        "null-domain",
        Null,
        Success,
        "anonymous",
        "OK",
    );

    let c = plain_client(&ctx, &plain.endpoint, "admin", "wrong");
    queue(&c, HELLO);
    let ev = next_event(&events, STEP_MS);
    assert!(recv_within(&plain.sock, QUIET_MS).is_none());
    check(
        ev,
        "plain-domain",
        Plain,
        AuthenticationFailure,
        "",
        "Invalid password",
    );

    let c = plain_client(&ctx, &plain.endpoint, "admin", "correct-horse");
    assert_connects(&plain, &c);
    check(
        next_event(&events, STEP_MS),
        "plain-domain",
        Plain,
        Success,
        "admin",
        "OK",
    );

    let client_keys = keypair();
    let key = z85(&client_keys.public_key);
    let c = curve_client_pair(&ctx, &curve.endpoint, &server_keys.public_key, &client_keys);
    assert_connects(&curve, &c);
    check(
        next_event(&events, STEP_MS),
        "curve-domain",
        Curve,
        Success,
        &key,
        "OK",
    );

    let c = curve_client_pair(
        &ctx,
        &no_policy.endpoint,
        &server_keys.public_key,
        &client_keys,
    );
    queue(&c, HELLO);
    let ev = next_event(&events, STEP_MS);
    assert!(recv_within(&no_policy.sock, QUIET_MS).is_none());
    check(
        ev,
        "no-policy",
        Curve,
        AuthenticationFailure,
        "",
        "Unknown domain",
    );

    assert!(events.try_recv().is_err(), "one event per decision");
    assert_eq!(auth.events_dropped(), 0);
}

/// The authenticator is `Send + Sync` (checked at compile time above) and can be
/// configured from other threads through an `Arc`, while connections are served.
#[test]
fn configure_from_other_threads_through_arc() {
    let ctx = zmq::Context::new();
    let auth = Arc::new(ThreadAuthenticator::start(&ctx).unwrap());
    let server = plain_server(&ctx, Some("global"));

    let workers: Vec<_> = (0..4)
        .map(|i| {
            let auth = Arc::clone(&auth);
            std::thread::spawn(move || {
                let domain = format!("domain-{i}");
                for round in 0..10 {
                    let pw = format!("pw-{i}-{round}");
                    auth.configure_plain(&domain, [("user", pw.as_str())])
                        .unwrap();
                }
                auth.configure_plain("global", [(format!("user-{i}"), format!("pw-{i}"))])
            })
        })
        .collect();
    for w in workers {
        w.join().expect("configuring thread").unwrap();
    }
    assert!(auth.is_alive());
    // The last `global` configuration wins; one of them was applied last.
    let events = auth.events();
    let mut admitted = 0;
    for i in 0..4 {
        let client = plain_client(
            &ctx,
            &server.endpoint,
            &format!("user-{i}"),
            &format!("pw-{i}"),
        );
        queue(&client, HELLO);
        let ev = next_event(&events, STEP_MS).expect("a decision");
        if ev.status == StatusCode::Success {
            let mut msg = recv_within(&server.sock, STEP_MS).expect("admitted");
            assert_eq!(user_id(&mut msg), Some(format!("user-{i}")));
            admitted += 1;
        } else {
            assert_eq!(ev.reason, "Invalid username");
        }
    }
    assert_eq!(
        admitted, 1,
        "exactly one of the racing configurations is in effect"
    );

    // A configuration made on another thread is visible to a connection made here.
    let auth2 = Arc::clone(&auth);
    std::thread::spawn(move || auth2.configure_plain("global", [("remote", "correct-horse")]))
        .join()
        .unwrap()
        .unwrap();
    let client = plain_client(&ctx, &server.endpoint, "remote", "correct-horse");
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("remote"));
}

#[test]
fn panicking_configuration_closure_is_an_error_and_thread_lives_on() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let r = auth.configure(|_| panic!("deliberate panic in a configure closure (expected)"));
    assert!(matches!(r, Err(Error::Panicked(_))), "got {r:?}");
    assert!(auth.is_alive());
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let server = plain_server(&ctx, None);
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_connects(&server, &client);
}

/// A batch of changes through `configure` applies atomically and its error comes back.
#[test]
fn configure_closure_applies_and_reports_errors() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure(|a| {
        a.allow(["127.0.0.1"])?;
        a.configure_plain("*", [("admin", "correct-horse")])
    })
    .unwrap();
    let r = auth.configure(|a| a.deny(["10.0.0.1"]));
    assert!(matches!(r, Err(Error::AllowDenyConflict)), "got {r:?}");
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_connects(&server, &client);
    let bad = plain_client(&ctx, &server.endpoint, "admin", "nope");
    assert_refused(&events, &server, &bad, "Invalid password");
}

/// pyzmq's REP-based handler stops for good after a one-frame request. Here malformed
/// requests on the ZAP endpoint get a 400 and real handshakes keep working.
#[test]
fn malformed_zap_requests_do_not_wedge_the_thread() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["192.0.2.1"]).unwrap();

    // REQ adds the empty delimiter, as libzmq's own ZAP client does.
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_linger(0).unwrap();
    req.connect(ZAP_ENDPOINT).unwrap();
    req.send("1.0", 0).unwrap();
    let reply = recv_multipart_within(&req, STEP_MS).expect("a reply to a one-frame request");
    assert_eq!(reply.len(), 6, "{reply:?}");
    assert_eq!(reply[0], b"1.0");
    assert_eq!(reply[2], b"400");
    assert_eq!(reply[3], b"Not enough frames");

    req.send_multipart(["2.0", "7", "", "127.0.0.1", "", "NULL"], 0)
        .unwrap();
    let reply = recv_multipart_within(&req, STEP_MS).expect("a reply to a bad version");
    assert_eq!(reply[1], b"7");
    assert_eq!(reply[2], b"400");
    assert_eq!(reply[3], b"Invalid version");

    req.send_multipart(["1.0", "8", "", "192.0.2.1", "", "NULL"], 0)
        .unwrap();
    let reply = recv_multipart_within(&req, STEP_MS).expect("a reply");
    assert_eq!(reply[1], b"8");
    assert_eq!(reply[2], b"400");
    assert_eq!(reply[3], b"Address denied");

    // DEALER, no delimiter.
    let dealer = ctx.socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.connect(ZAP_ENDPOINT).unwrap();
    dealer.send("garbage", 0).unwrap();
    let reply = recv_multipart_within(&dealer, STEP_MS).expect("a reply to garbage");
    assert!(reply.iter().any(|f| f == b"400"), "{reply:?}");
    dealer
        .send_multipart(["1.0", "9", "d", "127.0.0.1", "", "NULL"], 0)
        .unwrap();
    let reply = recv_multipart_within(&dealer, STEP_MS).expect("a reply");
    assert_eq!(reply.len(), 6, "{reply:?}");
    assert_eq!(reply[1], b"9");
    assert_eq!(reply[2], b"200");
    assert_eq!(reply[4], b"anonymous");

    // Well-formed requests were reported; malformed ones were not.
    let seen: Vec<_> = events.try_iter().collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].address, "192.0.2.1");
    assert_eq!(seen[0].reason, "Address denied");
    assert_eq!(seen[1].domain, "d");
    assert_eq!(seen[1].status, StatusCode::Success);

    // And libzmq's own requests are still served.
    assert!(auth.is_alive());
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
    assert_eq!(
        next_event(&events, STEP_MS).unwrap().status,
        StatusCode::Success
    );
}

fn recv_multipart_within(sock: &zmq::Socket, ms: i64) -> Option<Vec<Vec<u8>>> {
    let first = recv_within(sock, ms)?;
    let mut frames = vec![first.to_vec()];
    let mut more = first.get_more();
    while more {
        let m = recv_within(sock, ms)?;
        more = m.get_more();
        frames.push(m.to_vec());
    }
    Some(frames)
}

/// `stop` is bounded even when the thread is stuck in user code: it returns
/// `Error::Timeout`, configuration is refused from then on, a later `stop` waits again,
/// and once the callback returns the thread finishes and frees the ZAP endpoint.
#[test]
fn stop_is_immediate_when_a_callback_is_stuck() {
    use std::time::{Duration, Instant};
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    auth.configure_curve_callback("*", move |_: &str, _: &str| {
        let _ = entered_tx.try_send(());
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
        true
    })
    .unwrap();
    let server_keys = keypair();
    let server = curve_server(&ctx, &server_keys.secret_key, Some("global"));
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &keypair());
    queue(&client, HELLO);
    entered_rx
        .recv_timeout(Duration::from_millis(STEP_MS as u64))
        .expect("the callback was entered");

    // The callback runs on the engine's pool, never on the ZAP thread: stop returns at
    // once, the ZAP endpoint is free at once, and the stuck callback finishes later.
    let t = Instant::now();
    let r = auth.stop();
    assert!(r.is_ok(), "got {r:?}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(!auth.is_alive());
    assert!(matches!(auth.allow(["127.0.0.1"]), Err(Error::NotRunning)));
    assert!(auth.stop().is_ok(), "idempotent");
    let restarted = ThreadAuthenticator::start(&ctx).expect("the endpoint is free");
    release_tx.send(()).unwrap();
    assert!(!auth.is_alive());
    assert!(restarted.is_alive());
}

/// Why the tests queue their first message with `common::queue`: once a refusal has
/// reached a client, libzmq has ended its session (the server's ERROR is a protocol
/// error), and a `DONTWAIT` send finds no pipe: `EAGAIN`. A test that was descheduled
/// between `connect` and its send (a loaded machine) failed on exactly that.
#[test]
fn a_refused_client_has_no_pipe_once_the_refusal_arrived() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("global", [("admin", "correct-horse")])
        .unwrap();
    let events = auth.events();
    let server = plain_server(&ctx, Some("global"));
    let client = plain_client(&ctx, &server.endpoint, "mallory", "a-guess");
    let ev = next_event(&events, STEP_MS).expect("a decision");
    assert_eq!(ev.status, StatusCode::AuthenticationFailure);
    // The ERROR reaches the client just after the ZAP reply: poll until a send fails.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut outcome = client.send(HELLO, zmq::DONTWAIT);
    while outcome.is_ok() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(1));
        outcome = client.send(HELLO, zmq::DONTWAIT);
    }
    assert_eq!(outcome, Err(zmq::Error::EAGAIN));
    assert!(recv_within(&server.sock, QUIET_MS).is_none());
}
