//! Unknown domains (issue 21, item 4): a server domain with no policy of its own falls
//! back to `"*"` with one warning naming it, and under `strict_domains(true)` is refused
//! (400 `Unknown domain`). Real libzmq sockets over TCP loopback; the domain is the
//! server socket's `ZMQ_ZAP_DOMAIN`, so `"A"` and `"a\0"` are what a misspelt or
//! badly built server configuration really sends when only `"a"` is configured.

mod common;
mod log_capture;

use common::*;
use log_capture::{install_logger, records};
use zmq_auth::{zmq, Mechanism, ThreadAuthenticator, CURVE_ALLOW_ANY};

/// Warnings (captured records at WARN) that contain `text`.
fn warnings_naming(text: &str) -> usize {
    records()
        .iter()
        .filter(|r| r.starts_with("WARN ") && r.contains(text))
        .count()
}

/// Users `alice` of domain `a` (password `pw-of-a`) and of `*` (password `pw-of-star`).
fn plain_a_and_star(auth: &ThreadAuthenticator) {
    auth.configure_plain("a", [("alice", "pw-of-a")]).unwrap();
    auth.configure_plain("*", [("alice", "pw-of-star")])
        .unwrap();
}

#[test]
fn unknown_domain_falls_back_to_star_with_one_warning() {
    install_logger();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    plain_a_and_star(&auth);
    // A name no other test uses, so that only this test's warnings are counted.
    let domain = "A-fallback-warning";
    let server = plain_server(&ctx, Some(domain));
    for _ in 0..3 {
        let client = plain_client(&ctx, &server.endpoint, "alice", "pw-of-star");
        let mut msg = assert_connects(&server, &client);
        assert_eq!(user_id(&mut msg).as_deref(), Some("alice"));
    }
    assert_eq!(
        warnings_naming(domain),
        1,
        "one warning naming the domain; records:\n{}",
        records().join("\n")
    );
    // A configured domain and the empty domain are not fallbacks: no warning.
    let configured = plain_server(&ctx, Some("a"));
    let client = plain_client(&ctx, &configured.endpoint, "alice", "pw-of-a");
    assert_connects(&configured, &client);
    let none = plain_server(&ctx, None);
    let client = plain_client(&ctx, &none.endpoint, "alice", "pw-of-star");
    assert_connects(&none, &client);
    assert_eq!(
        warnings_naming("\"a\""),
        0,
        "records:\n{}",
        records().join("\n")
    );
    assert_eq!(warnings_naming("\"\""), 0);
}

#[test]
fn domain_with_a_nul_falls_back_with_a_warning_that_shows_the_nul() {
    install_logger();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    plain_a_and_star(&auth);
    let server = plain_server(&ctx, Some("nul-domain\0"));
    let client = plain_client(&ctx, &server.endpoint, "alice", "pw-of-star");
    assert_connects(&server, &client);
    // Debug-escaped, so the NUL is visible in the log.
    assert_eq!(
        warnings_naming("nul-domain\\0"),
        1,
        "records:\n{}",
        records().join("\n")
    );
}

#[test]
fn strict_domains_refuse_unconfigured_plain_domains() {
    install_logger();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    plain_a_and_star(&auth);
    auth.strict_domains(true).unwrap();
    for domain in ["A", "a\0", "strict-plain-b"] {
        let server = plain_server(&ctx, Some(domain));
        // The "*" password would open it without strict domains.
        let client = plain_client(&ctx, &server.endpoint, "alice", "pw-of-star");
        let ev = assert_refused_skipping(&events, &server, &client, "Unknown domain");
        assert_eq!(ev.domain, domain);
        assert_eq!(ev.mechanism, Mechanism::Plain);
    }
    assert_eq!(warnings_naming("strict-plain-b"), 1);
    // The configured domain, and the empty domain (which means "*"), still work.
    let configured = plain_server(&ctx, Some("a"));
    let client = plain_client(&ctx, &configured.endpoint, "alice", "pw-of-a");
    assert_connects(&configured, &client);
    let none = plain_server(&ctx, None);
    let client = plain_client(&ctx, &none.endpoint, "alice", "pw-of-star");
    assert_connects(&none, &client);
    // Turned off again: "A" falls back to "*".
    auth.strict_domains(false).unwrap();
    let server = plain_server(&ctx, Some("A"));
    let client = plain_client(&ctx, &server.endpoint, "alice", "pw-of-star");
    assert_connects(&server, &client);
}

#[test]
fn strict_domains_refuse_unconfigured_curve_domains() {
    if !zmq::has("curve").unwrap_or(false) {
        return;
    }
    install_logger();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let certs = tempfile::tempdir().unwrap();
    let known = make_cert(certs.path(), "known", &[]);
    // Domain "a" trusts one certificate; "*" admits anyone (encryption only).
    auth.configure_curve("a", certs.path()).unwrap();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    let server_keys = keypair();
    let stranger = keypair();

    // Without strict domains, a misspelt server domain fails open: allow-any.
    let misspelt = curve_server(&ctx, &server_keys.secret_key, Some("A"));
    let client = curve_client_pair(&ctx, &misspelt.endpoint, &server_keys.public_key, &stranger);
    assert_connects(&misspelt, &client);
    drop(client);

    auth.strict_domains(true).unwrap();
    for domain in ["A", "a\0"] {
        let server = curve_server(&ctx, &server_keys.secret_key, Some(domain));
        let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &stranger);
        let ev = assert_refused_skipping(&events, &server, &client, "Unknown domain");
        assert_eq!(ev.domain, domain);
        assert_eq!(ev.mechanism, Mechanism::Curve);
    }
    // Domain "a" decides by its own certificates.
    let server = curve_server(&ctx, &server_keys.secret_key, Some("a"));
    let client = curve_client(
        &ctx,
        &server.endpoint,
        &server_keys.public_key,
        &known.public,
        &known.secret,
    );
    assert_connects(&server, &client);
    let client = curve_client_pair(&ctx, &server.endpoint, &server_keys.public_key, &stranger);
    assert_refused_skipping(&events, &server, &client, "Unknown key");
}

/// One request through `Authenticator::handle_zap_message`: (status code, status text).
fn decide(
    auth: &mut zmq_auth::Authenticator,
    domain: &[u8],
    mechanism: &str,
    creds: &[&[u8]],
) -> (u16, String) {
    let mut frames: Vec<&[u8]> = vec![
        b"1.0",
        b"1",
        domain,
        b"127.0.0.1",
        b"",
        mechanism.as_bytes(),
    ];
    frames.extend_from_slice(creds);
    let reply = auth.handle_zap_message(&frames);
    (reply.status_code(), reply.status_text().to_string())
}

#[test]
fn strict_domains_cover_gssapi_and_still_admits() {
    install_logger();
    let mut auth = zmq_auth::Authenticator::new();
    auth.configure_plain("a", [("alice", "pw-of-a")]).unwrap();
    auth.configure_plain("*", [("alice", "pw-of-star")])
        .unwrap();
    let gssapi = auth.configure_gssapi("*").is_ok() && auth.configure_gssapi("a").is_ok();
    assert!(auth.still_admits("A", Mechanism::Plain, "alice"));
    auth.strict_domains(true);
    assert!(!auth.still_admits("A", Mechanism::Plain, "alice"));
    assert!(auth.still_admits("a", Mechanism::Plain, "alice"));
    assert!(auth.still_admits("", Mechanism::Plain, "alice"));
    let unknown = (400, "Unknown domain".to_string());
    // Not UTF-8: never a configured domain.
    assert_eq!(
        decide(&mut auth, b"a\xff", "PLAIN", &[b"alice", b"pw-of-star"]),
        unknown
    );
    if gssapi {
        assert_eq!(decide(&mut auth, b"A", "GSSAPI", &[b"alice@R"]), unknown);
        assert_eq!(decide(&mut auth, b"a", "GSSAPI", &[b"alice@R"]).0, 200);
        assert_eq!(decide(&mut auth, b"", "GSSAPI", &[b"alice@R"]).0, 200);
        assert!(!auth.still_admits("A", Mechanism::Gssapi, "alice@R"));
    }
    auth.strict_domains(false);
    if gssapi {
        assert_eq!(decide(&mut auth, b"A", "GSSAPI", &[b"alice@R"]).0, 200);
    }
}

/// The server socket, not the peer, chooses the domain: a refusal for an unknown domain
/// is the server's configuration mistake and must not lock the peer out.
#[test]
fn unknown_domain_refusals_do_not_lock_peers_out() {
    install_logger();
    let mut auth = zmq_auth::Authenticator::new();
    auth.configure_plain("a", [("alice", "pw-of-a")]).unwrap();
    auth.strict_domains(true);
    auth.limit_failures(
        2,
        std::time::Duration::from_secs(600),
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            decide(&mut auth, b"A", "PLAIN", &[b"alice", b"pw-of-a"]),
            (400, "Unknown domain".to_string())
        );
    }
    assert_eq!(
        decide(&mut auth, b"a", "PLAIN", &[b"alice", b"pw-of-a"]),
        (200, "OK".to_string())
    );
    // Wrong passwords still count.
    for _ in 0..2 {
        assert_eq!(
            decide(&mut auth, b"a", "PLAIN", &[b"alice", b"guess"]).1,
            "Invalid password"
        );
    }
    assert_eq!(
        decide(&mut auth, b"a", "PLAIN", &[b"alice", b"pw-of-a"]).1,
        "Too many failures"
    );
}
