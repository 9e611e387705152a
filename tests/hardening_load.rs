//! Hardening (issue #6): load and shutdown. 200 concurrent CURVE clients over TCP
//! loopback while the policy is reconfigured continuously; `stop()` with handshakes in
//! flight; context termination after the authenticator is gone. Every wait is bounded.

mod common;
mod hardening_common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hardening_common::{keypair, with_deadline, write_public_cert, zap_dealer, zap_roundtrip};
use zmq_auth::{zmq, AuthEvent, StatusCode, ThreadAuthenticator};

const CLIENTS: usize = 200;
const DEADLINE: Duration = Duration::from_secs(20);

struct Server {
    socket: zmq::Socket,
    endpoint: String,
    public: [u8; 32],
}

fn curve_server(ctx: &zmq::Context, kind: zmq::SocketType) -> Server {
    let pair = keypair();
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_curve_server(true).unwrap();
    socket.set_curve_secretkey(&pair.secret_key).unwrap();
    socket.set_rcvtimeo(100).unwrap();
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    Server {
        socket,
        endpoint,
        public: pair.public_key,
    }
}

/// A second server socket with the same key pair as `like`.
fn curve_server_with_key(ctx: &zmq::Context, kind: zmq::SocketType, like: &Server) -> Server {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_curve_server(true).unwrap();
    socket
        .set_curve_secretkey(&like.socket.get_curve_secretkey().unwrap())
        .unwrap();
    socket.set_rcvtimeo(0).unwrap();
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    Server {
        socket,
        endpoint,
        public: like.public,
    }
}

/// Waits up to 100 ms for messages on either server; returns (client index, User-Id).
fn receive(pull: &Server, router: &Server) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut items = [
        pull.socket.as_poll_item(zmq::POLLIN),
        router.socket.as_poll_item(zmq::POLLIN),
    ];
    if zmq::poll(&mut items, 100).unwrap_or(0) == 0 {
        return out;
    }
    let mut parse = |mut msg: zmq::Message| {
        let i: usize = msg.as_str().unwrap().parse().unwrap();
        let user = msg.gets("User-Id").unwrap_or("").to_string();
        out.push((i, user));
    };
    while let Ok(msg) = pull.socket.recv_msg(zmq::DONTWAIT) {
        parse(msg);
    }
    // ROUTER: routing id frame, then the payload.
    while let Ok(id) = router.socket.recv_msg(zmq::DONTWAIT) {
        assert!(id.get_more(), "ROUTER message without payload");
        let payload = router.socket.recv_msg(0).expect("ROUTER payload");
        assert!(!payload.get_more(), "ROUTER message shape");
        parse(payload);
    }
    out
}

fn curve_client(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    server: &Server,
    pair: &zmq::CurveKeyPair,
) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_curve_serverkey(&server.public).unwrap();
    s.set_curve_publickey(&pair.public_key).unwrap();
    s.set_curve_secretkey(&pair.secret_key).unwrap();
    s.connect(&server.endpoint).unwrap();
    s
}

/// Drops a context on a helper thread and fails if termination takes too long.
fn terminate(ctx: zmq::Context, what: &str) {
    let started = Instant::now();
    with_deadline(Duration::from_secs(5), move || drop(ctx))
        .unwrap_or_else(|| panic!("context termination hung ({what})"));
    eprintln!("context terminated in {:?} ({what})", started.elapsed());
}

#[test]
fn two_hundred_curve_clients_while_the_policy_changes() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let certs = tempfile::tempdir().unwrap();
    let pairs: Vec<zmq::CurveKeyPair> = (0..CLIENTS).map(|_| keypair()).collect();
    let trusted = CLIENTS / 2;
    for (i, p) in pairs.iter().enumerate().take(trusted) {
        write_public_cert(certs.path(), &format!("client{i:03}"), &p.public_key);
    }
    let trusted_ids: HashSet<String> = pairs[..trusted]
        .iter()
        .map(|p| zmq_auth::encode_z85_key(&p.public_key))
        .collect();
    let untrusted_ids: HashSet<String> = pairs[trusted..]
        .iter()
        .map(|p| zmq_auth::encode_z85_key(&p.public_key))
        .collect();
    auth.configure_curve("*", certs.path()).unwrap();
    // PUSH clients talk to a PULL server, DEALER clients to a ROUTER server.
    let pull = curve_server(&ctx, zmq::PULL);
    let router = curve_server_with_key(&ctx, zmq::ROUTER, &pull);

    let client_ctx = zmq::Context::new();
    let started = Instant::now();
    let stop_reconfiguring = AtomicBool::new(false);
    let reconfigurations = AtomicUsize::new(0);
    let mut received: HashSet<usize> = HashSet::new();
    let mut ok_users: HashSet<String> = HashSet::new();
    let mut unknown_key_events = 0usize;
    let mut all_events: Vec<AuthEvent> = Vec::new();

    let clients = std::thread::scope(|s| {
        // Changes that never change who is trusted.
        s.spawn(|| {
            let mut n = 0usize;
            while !stop_reconfiguring.load(Ordering::Relaxed) {
                auth.configure_curve("*", certs.path()).unwrap();
                auth.allow(["127.0.0.1", "::1"]).unwrap();
                auth.configure_plain("elsewhere", [("u", "p")]).unwrap();
                auth.clear_address_lists().unwrap();
                auth.deny(["192.0.2.0/24"]).unwrap();
                auth.clear_address_lists().unwrap();
                n += 1;
            }
            reconfigurations.store(n, Ordering::Relaxed);
        });

        // Half the clients are DEALERs, half PUSH; each sends its index once.
        let clients: Vec<zmq::Socket> = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (kind, server) = if i.is_multiple_of(2) {
                    (zmq::DEALER, &router)
                } else {
                    (zmq::PUSH, &pull)
                };
                let c = curve_client(&client_ctx, kind, server, p);
                common::queue(&c, i.to_string().as_bytes());
                c
            })
            .collect();

        while started.elapsed() < DEADLINE
            && (received.len() < trusted || unknown_key_events < CLIENTS - trusted)
        {
            for (i, user) in receive(&pull, &router) {
                assert!(i < trusted, "untrusted client {i} got in");
                assert_eq!(
                    user,
                    zmq_auth::encode_z85_key(&pairs[i].public_key),
                    "User-Id"
                );
                received.insert(i);
            }
            for ev in events.try_iter() {
                match ev.status {
                    StatusCode::Success => {
                        ok_users.insert(ev.user_id.clone());
                    }
                    _ if ev.reason == "Unknown key" => unknown_key_events += 1,
                    _ => {}
                }
                all_events.push(ev);
            }
        }
        // Watch a little longer: nothing from an untrusted client may arrive.
        let quiet = Instant::now();
        while quiet.elapsed() < Duration::from_millis(500) {
            for (i, _) in receive(&pull, &router) {
                assert!(i < trusted, "untrusted client {i} got in");
            }
        }
        stop_reconfiguring.store(true, Ordering::Relaxed);
        clients
    });
    let elapsed = started.elapsed();
    for ev in events.try_iter() {
        if ev.status == StatusCode::Success {
            ok_users.insert(ev.user_id.clone());
        }
        all_events.push(ev);
    }
    eprintln!(
        "{} trusted messages, {unknown_key_events} Unknown-key events, {} events, {} reconfigurations in {elapsed:?}; {} events dropped",
        received.len(),
        all_events.len(),
        reconfigurations.load(Ordering::Relaxed),
        auth.events_dropped()
    );
    assert_eq!(received.len(), trusted, "trusted clients admitted");
    assert!(
        ok_users.is_subset(&trusted_ids),
        "a 200 for an untrusted key"
    );
    assert!(ok_users.is_disjoint(&untrusted_ids));
    assert_eq!(ok_users.len(), trusted, "every trusted key got a 200 event");
    assert!(
        unknown_key_events >= CLIENTS - trusted,
        "every untrusted client was refused ({unknown_key_events} refusals)"
    );
    assert!(
        all_events
            .iter()
            .all(|e| matches!(e.status, StatusCode::Success)
                || (e.status == StatusCode::AuthenticationFailure && e.reason == "Unknown key")),
        "unexpected decisions: {:?}",
        all_events
            .iter()
            .filter(|e| e.reason != "OK" && e.reason != "Unknown key")
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(auth.is_alive());
    drop(clients);
    terminate(client_ctx, "clients");
    drop((pull, router));
    drop(auth);
    terminate(ctx, "server");
}

#[test]
fn stop_with_a_hundred_handshakes_in_flight_is_bounded() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    // A slow provider (2 ms a key) keeps ZAP requests queued behind each other.
    auth.configure_curve_callback("*", |_d: &str, _k: &str| {
        std::thread::sleep(Duration::from_millis(2));
        true
    })
    .unwrap();
    let events = auth.events();
    let server = curve_server(&ctx, zmq::PULL);
    let client_ctx = zmq::Context::new();
    let clients: Vec<zmq::Socket> = (0..100)
        .map(|i| {
            let c = curve_client(&client_ctx, zmq::PUSH, &server, &keypair());
            common::queue(&c, format!("{i}").as_bytes());
            c
        })
        .collect();
    // Handshakes are under way once the first decision is out.
    events
        .recv_timeout(Duration::from_secs(10))
        .expect("a first ZAP decision");
    let decided = 1 + events.try_iter().count();
    let t = Instant::now();
    let r = auth.stop();
    let took = t.elapsed();
    eprintln!(
        "stop() with handshakes in flight ({decided}/100 decided when called) took {took:?}: {r:?}"
    );
    assert!(r.is_ok(), "{r:?}");
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    assert!(!auth.is_alive());
    assert!(
        decided < 100,
        "all handshakes were done before stop(): not a real test"
    );

    // The endpoint is free at once, even with handshakes still attached (§9).
    let auth2 = ThreadAuthenticator::start(&ctx).expect("restart on the same context");
    auth2
        .configure_curve("*", zmq_auth::CURVE_ALLOW_ANY)
        .unwrap();
    drop(auth2);
    drop(auth);
    drop(clients);
    terminate(client_ctx, "clients");
    drop(server);
    terminate(ctx, "server after stop with handshakes in flight");
}

#[test]
fn context_terminates_after_the_authenticator_is_dropped() {
    // After traffic: a CURVE client admitted and a raw ZAP request answered.
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY)
        .unwrap();
    let server = curve_server(&ctx, zmq::PULL);
    let client = curve_client(&ctx, zmq::PUSH, &server, &keypair());
    client.send("hi", 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if server.socket.recv_msg(0).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "CURVE client not admitted");
    }
    let dealer = zap_dealer(&ctx);
    let r = zap_roundtrip(
        &dealer,
        &[b"1.0", b"1", b"", b"127.0.0.1", b"", b"NULL"],
        true,
    );
    assert_eq!(r[2], b"200");
    drop((dealer, client, server));
    drop(auth);
    terminate(ctx, "after traffic");

    // The caller drops its context handle first: the authenticator's sockets keep the
    // context alive, and dropping the authenticator then terminates it.
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.allow(["127.0.0.1"]).unwrap();
    drop(ctx);
    with_deadline(Duration::from_secs(5), move || drop(auth))
        .expect("dropping the authenticator (last context user) hung");

    // Raw requests in flight (replies never read) when the authenticator stops, and
    // one more sent after it stopped (no peer any more: it may only fail, not block).
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let dealer = zap_dealer(&ctx);
    for _ in 0..100 {
        dealer
            .send_multipart([&b""[..], b"1.0", b"1", b"", b"", b"", b"NULL"], 0)
            .unwrap();
    }
    auth.stop().unwrap();
    let _ = dealer.send_multipart(
        [&b""[..], b"1.0", b"2", b"", b"", b"", b"NULL"],
        zmq::DONTWAIT,
    );
    drop(dealer);
    drop(auth);
    terminate(ctx, "request sent after stop");
}

#[test]
fn stop_is_bounded_while_a_callback_is_stuck() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
    auth.configure_curve_callback("*", move |_d: &str, _k: &str| {
        let _ = entered_tx.try_send(());
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
        true
    })
    .unwrap();
    let dealer = zap_dealer(&ctx);
    dealer
        .send_multipart(
            [
                &b""[..],
                b"1.0",
                b"1",
                b"",
                b"127.0.0.1",
                b"",
                b"CURVE",
                &[1u8; 32],
            ],
            0,
        )
        .unwrap();
    entered_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("callback entered");
    let t = Instant::now();
    let r = auth.stop();
    let took = t.elapsed();
    eprintln!("stop() with a stuck callback took {took:?}: {r:?}");
    // The callback runs on the pool, not on the ZAP thread: stop does not wait for it.
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    assert!(r.is_ok(), "stop: {r:?}");
    assert!(!auth.is_alive());
    // The request that was waiting for the callback was told to come back later.
    dealer.set_rcvtimeo(5000).unwrap();
    let reply = dealer
        .recv_multipart(0)
        .expect("a reply to the waiting request");
    assert_eq!(
        reply.get(3).map(Vec::as_slice),
        Some(&b"300"[..]),
        "{reply:?}"
    );
    // Once the callback returns, its pool thread ends and the context terminates.
    release_tx.send(()).unwrap();
    drop(dealer);
    drop(auth);
    terminate(ctx, "after a stuck callback");
}
