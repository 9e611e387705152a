//! `ThreadAuthenticator` with the NULL mechanism and IP address lists, over real
//! libzmq sockets on TCP loopback (ports pyzmq's `test_null`, `test_blacklist`,
//! `test_whitelist` and CZMQ zauth's selftest).

mod common;

use common::*;
use zmq_auth::{zmq, Error, Mechanism, StatusCode, ThreadAuthenticator};

#[test]
fn null_without_domain_connects() {
    let ctx = zmq::Context::new();
    let _auth = ThreadAuthenticator::start(&ctx).unwrap();
    let server = null_server(&ctx, None);
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

#[test]
fn null_with_domain_connects_and_is_reported() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("anonymous"));
    let ev = next_event(&events, STEP_MS).expect("a NULL decision with a domain");
    assert_eq!(ev.domain, "global");
    assert_eq!(ev.address, "127.0.0.1");
    assert_eq!(ev.mechanism, Mechanism::Null);
    assert_eq!(ev.status, StatusCode::Success);
    assert_eq!(ev.user_id, "anonymous");
    assert_eq!(ev.reason, "OK");
}

#[test]
fn deny_blocks() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["127.0.0.1"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    let ev = assert_refused(&events, &server, &client, "Address denied");
    assert_eq!(ev.address, "127.0.0.1");
    assert_eq!(ev.domain, "global");
    assert_eq!(ev.mechanism, Mechanism::Null);
}

#[test]
fn deny_other_address_passes() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.deny(["192.0.2.1", "10.0.0.0/8"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

#[test]
fn deny_cidr_blocks() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["127.0.0.0/8"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_refused(&events, &server, &client, "Address denied");
}

#[test]
fn allow_passes() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.allow(["127.0.0.1"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("anonymous"));
    let ev = next_event(&events, STEP_MS).unwrap();
    assert_eq!(ev.status, StatusCode::Success);
}

#[test]
fn allow_list_miss_is_refused() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.allow(["192.0.2.1", "10.0.0.0/8"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_refused(&events, &server, &client, "Address not allowed");
}

#[test]
fn allow_cidr_passes() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.allow(["127.0.0.0/8"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

#[test]
fn allow_then_deny_is_an_error_and_changes_nothing() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.allow(["127.0.0.1"]).unwrap();
    let err = auth.deny(["127.0.0.1"]).unwrap_err();
    assert!(matches!(err, Error::AllowDenyConflict), "got {err:?}");
    // The allow list still rules and the failed deny added nothing.
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
    assert_eq!(
        next_event(&events, STEP_MS).unwrap().status,
        StatusCode::Success
    );
}

#[test]
fn deny_then_allow_is_an_error_and_changes_nothing() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["127.0.0.1"]).unwrap();
    let err = auth.allow(["127.0.0.1"]).unwrap_err();
    assert!(matches!(err, Error::AllowDenyConflict), "got {err:?}");
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_refused(&events, &server, &client, "Address denied");
}

#[test]
fn invalid_address_entry_is_an_error_and_adds_nothing() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let err = auth.deny(["127.0.0.1", "not-an-address"]).unwrap_err();
    assert!(matches!(err, Error::InvalidAddress(_)), "got {err:?}");
    // Nothing was applied: 127.0.0.1 is not denied.
    let server = null_server(&ctx, Some("global"));
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

#[test]
fn clear_address_lists_readmits() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["127.0.0.1"]).unwrap();
    let server = null_server(&ctx, Some("global"));
    let refused = null_client(&ctx, &server.endpoint);
    assert_refused(&events, &server, &refused, "Address denied");
    drop(refused);
    auth.clear_address_lists().unwrap();
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
}

/// An IPv6 server sees an IPv4 client as `::ffff:127.0.0.1`; the entry `127.0.0.1`
/// must still match it.
#[test]
fn ipv6_server_matches_v4_mapped_client() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.allow(["127.0.0.1"]).unwrap();

    let server = {
        let sock = ctx.socket(zmq::PULL).unwrap();
        sock.set_linger(0).unwrap();
        sock.set_ipv6(true).unwrap();
        sock.set_zap_domain("global").unwrap();
        sock.bind("tcp://*:*").unwrap();
        let endpoint = sock.get_last_endpoint().unwrap().unwrap();
        Server { sock, endpoint }
    };
    let v4 = format!("tcp://127.0.0.1:{}", server.port());
    let client = null_client(&ctx, &v4);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("anonymous"));
    let ev = next_event(&events, STEP_MS).unwrap();
    assert_eq!(ev.status, StatusCode::Success, "event: {ev:?}");
    assert_eq!(
        ev.address, "::ffff:127.0.0.1",
        "the server should be dual-stack; event: {ev:?}"
    );
    drop(client);

    // And the other way round: a deny entry `127.0.0.1` blocks the v4-mapped peer.
    auth.clear_address_lists().unwrap();
    auth.deny(["127.0.0.1"]).unwrap();
    let client = null_client(&ctx, &v4);
    assert_refused(&events, &server, &client, "Address denied");
}

/// libzmq only asks the ZAP handler about NULL peers when the server socket has a ZAP
/// domain (pyzmq's `test_null`): without one, even a deny list does not apply.
#[test]
fn null_without_domain_bypasses_zap() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.deny(["127.0.0.1"]).unwrap();
    let server = null_server(&ctx, None);
    let client = null_client(&ctx, &server.endpoint);
    assert_connects(&server, &client);
    assert!(
        events.try_recv().is_err(),
        "no ZAP request expected for NULL without a domain"
    );
}
