//! Abuse control and revocation of established peers (DESIGN.md §13), over real
//! sockets: `limit_failures` locks out a guessing address (and only it) without checking
//! its credentials, stays bounded under an address sweep, and `still_admits` follows the
//! current policy for peers admitted earlier.

mod common;

use std::time::Duration;

use common::*;
use zmq_auth::{zmq, Mechanism, ThreadAuthenticator};

#[test]
fn guessing_address_is_locked_out_and_only_it() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    auth.limit_failures(3, Duration::from_secs(60), Duration::from_secs(600))
        .unwrap();
    let dealer = zap_dealer(&ctx);
    for _ in 0..3 {
        assert_eq!(
            plain_status_from(&dealer, "", "192.0.2.1", "admin", "guess-1").1,
            "Invalid password"
        );
    }
    // Locked out: the right password is not even checked.
    assert_eq!(
        plain_status_from(&dealer, "", "192.0.2.1", "admin", "correct-horse"),
        ("400".into(), "Too many failures".into())
    );
    assert_eq!(
        plain_status_from(&dealer, "", "::ffff:192.0.2.1", "admin", "correct-horse").1,
        "Too many failures"
    );
    // Other addresses are unaffected.
    assert_eq!(
        plain_status_from(&dealer, "", "192.0.2.2", "admin", "correct-horse").0,
        "200"
    );
    // IPv6: each address counts, and its /64 too, with a limit 16 times higher (one
    // guessing host does not lock out its neighbours, one rotating through its /64 is
    // still stopped).
    for _ in 0..3 {
        plain_status_from(&dealer, "", "2001:db8::1", "admin", "guess-2");
    }
    assert_eq!(
        plain_status_from(&dealer, "", "2001:db8::1", "admin", "correct-horse").1,
        "Too many failures"
    );
    assert_eq!(
        plain_status_from(&dealer, "", "2001:db8::99", "admin", "correct-horse").0,
        "200"
    );
    for i in 0..45 {
        let a = format!("2001:db8::2:{i:x}");
        plain_status_from(&dealer, "", &a, "admin", "guess-2");
    }
    assert_eq!(
        plain_status_from(&dealer, "", "2001:db8::99", "admin", "correct-horse").1,
        "Too many failures"
    );
    assert_eq!(
        plain_status_from(&dealer, "", "2001:db8:0:1::1", "admin", "correct-horse").0,
        "200"
    );

    // An address sweep (more addresses than the table holds) does not lift the ban.
    // (In batches: a DEALER's queues hold about 1,000 messages.)
    for batch in 0..140u32 {
        for i in 0..500 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + batch * 500 + i).to_string();
            send_request_from(&dealer, "1", "", &a, "PLAIN", &[b"admin", b"sweep-guess"]);
        }
        for _ in 0..500 {
            recv_reply(&dealer).expect("a reply");
        }
    }
    assert_eq!(
        plain_status_from(&dealer, "", "192.0.2.1", "admin", "correct-horse").1,
        "Too many failures"
    );

    // Turning it off lifts the bans.
    auth.clear_failure_limit().unwrap();
    assert_eq!(
        plain_status_from(&dealer, "", "192.0.2.1", "admin", "correct-horse").0,
        "200"
    );
}

#[test]
fn lockout_over_real_handshakes() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    auth.limit_failures(2, Duration::from_secs(60), Duration::from_secs(600))
        .unwrap();
    let events = auth.events();
    let server = plain_server(&ctx, Some("global"));
    for _ in 0..2 {
        let c = plain_client(&ctx, &server.endpoint, "admin", "guess-3");
        assert_refused_skipping(&events, &server, &c, "Invalid password");
    }
    let c = plain_client(&ctx, &server.endpoint, "admin", "correct-horse");
    assert_refused_skipping(&events, &server, &c, "Too many failures");
}

#[test]
fn still_admits_follows_the_policy() {
    if !zmq_auth::curve_available() {
        return;
    }
    let certs = curve_certs(&[]);
    let trusted = copy_into(&certs.client.public_path, certs.trusted.path());
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    auth.configure_curve("*", certs.trusted.path()).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();

    // A peer admitted over a real handshake...
    let server = curve_server(&ctx, &certs.server.secret, Some("global"));
    let client = curve_client_cert(&ctx, &server.endpoint, &certs.server.public, &certs.client);
    let mut msg = assert_connects(&server, &client);
    let uid = user_id(&mut msg).unwrap();
    assert!(auth.still_admits("global", Mechanism::Curve, &uid));
    assert!(auth.still_admits_key("global", &certs.client.public));
    // ...is no longer admitted once its certificate is removed.
    std::fs::remove_file(&trusted).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || !auth.still_admits(
            "global",
            Mechanism::Curve,
            &uid
        )),
        "revocation seen by still_admits"
    );
    // (The open connection itself is not closed by libzmq: that is what the check is for.)
    assert!(!auth.still_admits("global", Mechanism::Curve, "not a key"));
    assert!(auth.still_admits("global", Mechanism::Plain, "admin"));
    assert!(!auth.still_admits("global", Mechanism::Plain, "mallory"));
    assert!(auth.still_admits("global", Mechanism::Null, "anonymous"));
    assert!(!auth.still_admits("global", Mechanism::Gssapi, "alice@R"));
}

/// Issue 18 finding 9: a changed password revokes sessions opened with the old one. A
/// PLAIN admission carries `Credential-Version`; `still_admits_version` compares it
/// with the current entry (in a map, a password file and with a hashed password).
#[test]
fn a_changed_password_revokes_sessions_opened_with_the_old_one() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.set_reload_interval(Duration::from_millis(20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    let hashed = zmq_auth::hash_password("Pw-version-hashed-51aa").unwrap();
    std::fs::write(&file, format!("carol={hashed}\n")).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    auth.configure_plain_file("files", &file).unwrap();
    let server = plain_server(&ctx, Some("global"));
    let files = plain_server(&ctx, Some("files"));

    let session = |server: &Server, user: &str, pw: &str| {
        let c = plain_client(&ctx, &server.endpoint, user, pw);
        let mut msg = assert_connects(server, &c);
        let uid = user_id(&mut msg).unwrap();
        let version = msg
            .gets("Credential-Version")
            .expect("a PLAIN admission carries its credential version")
            .to_string();
        (c, uid, version)
    };
    let (_c1, uid, old) = session(&server, "admin", "correct-horse");
    assert_eq!(uid, "admin");
    assert_eq!(old.len(), 10);
    assert!(auth.still_admits_version("global", Mechanism::Plain, "admin", &old));
    // The same password again: the same version.
    let (_c2, _, again) = session(&server, "admin", "correct-horse");
    assert_eq!(again, old);

    // The password changes: sessions opened with the old one are revoked.
    auth.configure_plain("*", [("admin", "battery-staple")])
        .unwrap();
    assert!(!auth.still_admits_version("global", Mechanism::Plain, "admin", &old));
    // (`still_admits` alone only asks whether the user exists.)
    assert!(auth.still_admits("global", Mechanism::Plain, "admin"));
    let (_c3, _, new) = session(&server, "admin", "battery-staple");
    assert_ne!(new, old);
    assert!(auth.still_admits_version("global", Mechanism::Plain, "admin", &new));

    // A hashed password in a file, rewritten with a new hash.
    let (_c4, _, carol) = session(&files, "carol", "Pw-version-hashed-51aa");
    assert!(auth.still_admits_version("files", Mechanism::Plain, "carol", &carol));
    let rehashed = zmq_auth::hash_password("Pw-version-hashed-77bb").unwrap();
    std::fs::write(&file, format!("carol={rehashed}\n")).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || !auth.still_admits_version(
            "files",
            Mechanism::Plain,
            "carol",
            &carol
        )),
        "the rewritten file revokes carol's old session"
    );
}
