//! Issue 21 item 6: user ids are clean. A User-Id with a NUL byte reads as something
//! else through `zmq_msg_gets` (C strings), and an empty one identifies nobody: a
//! GSSAPI principal with NUL is refused (400), a `set_curve_user_id` result with NUL or
//! empty is an error of the function (500), never an admission.

mod common;

use common::*;
use zmq_auth::{zmq, ThreadAuthenticator};

#[test]
fn a_curve_user_id_with_nul_or_empty_is_500_never_an_admission() {
    if !zmq_auth::curve_available() {
        return;
    }
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY)
        .unwrap();
    // The first key byte picks what the function returns.
    auth.set_curve_user_id(|key| match key[0] % 3 {
        0 => "admin\0@EVIL".to_string(),
        1 => String::new(),
        _ => format!("client-{:02x}", key[0]),
    })
    .unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(
        curve_status(&dealer, "global", &[3u8; 32]),
        ("500".into(), "Internal error".into()),
        "a user id with NUL"
    );
    assert_eq!(
        curve_status(&dealer, "global", &[4u8; 32]),
        ("500".into(), "Internal error".into()),
        "an empty user id"
    );
    assert_eq!(curve_status(&dealer, "global", &[5u8; 32]).0, "200");

    // Over a real handshake: a client whose user id would carry NUL does not get in.
    let server_pair = keypair();
    let server = curve_server(&ctx, &server_pair.secret_key, Some("global"));
    let mut pair = keypair();
    while !pair.public_key[0].is_multiple_of(3) {
        pair = keypair();
    }
    let c = curve_client_pair(&ctx, &server.endpoint, &server_pair.public_key, &pair);
    assert!(
        send_and_recv(&server, &c).is_none(),
        "no admission with a NUL user id"
    );
    let mut pair = keypair();
    while pair.public_key[0] % 3 != 2 {
        pair = keypair();
    }
    let c = curve_client_pair(&ctx, &server.endpoint, &server_pair.public_key, &pair);
    let mut msg = assert_connects(&server, &c);
    assert_eq!(
        user_id(&mut msg).unwrap(),
        format!("client-{:02x}", pair.public_key[0])
    );
}

#[test]
fn a_gssapi_principal_with_nul_is_refused() {
    if !zmq::has("gssapi").unwrap_or(false) {
        eprintln!("skipped: libzmq without GSSAPI");
        return;
    }
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_gssapi("*").unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(
        zap_status_from(&dealer, "global", "127.0.0.1", "GSSAPI", &[b"admin\0@EVIL"]),
        ("400".into(), "Invalid principal".into())
    );
    assert_eq!(
        zap_status_from(
            &dealer,
            "global",
            "127.0.0.1",
            "GSSAPI",
            &[b"alice@EXAMPLE"]
        )
        .0,
        "200"
    );
}
