//! The decision of `Authenticator::handle_zap_message`, checked against every rule of
//! DESIGN.md §4 (the reply) and §5 (domains and policies). No sockets: frames in,
//! reply out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use zmq_auth::{
    create_certificates, decode_metadata, encode_metadata, encode_z85_key, load_certificate,
    Authenticator, CredentialsProvider, CurveDecision, Error, StatusCode, ZapReply,
    CURVE_ALLOW_ANY,
};

// ---------------------------------------------------------------------------------
// helpers

/// Silences the default panic message for the panics these tests cause on purpose.
fn quiet_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains("deliberate test panic") {
                previous(info);
            }
        }));
    });
}

/// Sends `frames` and checks what every reply must satisfy (§4.1, §4.4): six frames
/// starting with `1.0`, the request id echoed (empty when there is none), a known
/// status, and an empty user id and empty metadata on every non-200 reply.
fn call(auth: &mut Authenticator, frames: &[&[u8]]) -> ZapReply {
    let reply = auth.handle_zap_message(frames);
    let expected_id: &[u8] = frames.get(1).copied().unwrap_or(b"");
    assert_eq!(reply.request_id(), expected_id, "request id not echoed");
    let wire = reply.to_frames();
    assert_eq!(wire.len(), 6, "a reply is always six frames");
    assert_eq!(wire[0], b"1.0");
    assert_eq!(wire[1], expected_id);
    assert_eq!(wire[2], reply.status_code().to_string().as_bytes());
    assert_eq!(wire[3], reply.status_text().as_bytes());
    assert_eq!(wire[4], reply.user_id().as_bytes());
    assert_eq!(wire[5], reply.metadata());
    assert_eq!(reply.status().as_u16(), reply.status_code());
    assert!(
        [200, 300, 400, 500].contains(&reply.status_code()),
        "status {}",
        reply.status_code()
    );
    if reply.status_code() != 200 {
        assert_eq!(reply.user_id(), "", "user id on a non-200 reply: {reply:?}");
        assert!(
            reply.metadata().is_empty(),
            "metadata on a non-200 reply: {reply:?}"
        );
    }
    reply
}

/// A fresh request id for every request, so echoing is really checked.
fn next_id() -> Vec<u8> {
    static N: AtomicU64 = AtomicU64::new(1);
    format!("req-{}", N.fetch_add(1, Ordering::Relaxed)).into_bytes()
}

/// Builds a well-formed request and sends it through [`call`].
fn ask(
    auth: &mut Authenticator,
    domain: &str,
    address: &str,
    mechanism: &str,
    credentials: &[&[u8]],
) -> ZapReply {
    let id = next_id();
    let mut frames: Vec<&[u8]> = vec![
        b"1.0",
        &id,
        domain.as_bytes(),
        address.as_bytes(),
        b"identity",
        mechanism.as_bytes(),
    ];
    frames.extend_from_slice(credentials);
    call(auth, &frames)
}

fn null(auth: &mut Authenticator, address: &str) -> ZapReply {
    ask(auth, "", address, "NULL", &[])
}

fn plain(auth: &mut Authenticator, domain: &str, user: &str, password: &str) -> ZapReply {
    ask(
        auth,
        domain,
        "127.0.0.1",
        "PLAIN",
        &[user.as_bytes(), password.as_bytes()],
    )
}

fn curve(auth: &mut Authenticator, domain: &str, key: &[u8; 32]) -> ZapReply {
    ask(auth, domain, "127.0.0.1", "CURVE", &[key])
}

fn gssapi(auth: &mut Authenticator, domain: &str, principal: &[u8]) -> ZapReply {
    ask(auth, domain, "127.0.0.1", "GSSAPI", &[principal])
}

#[track_caller]
fn assert_reply(reply: &ZapReply, status: u16, text: &str, user_id: &str) {
    assert_eq!(
        (reply.status_code(), reply.status_text(), reply.user_id()),
        (status, text, user_id),
        "{reply:?}"
    );
}

#[track_caller]
fn assert_ok(reply: &ZapReply, user_id: &str) {
    assert_eq!(reply.status_code(), 200, "{reply:?}");
    assert_eq!(reply.status(), StatusCode::Success);
    assert_eq!(reply.user_id(), user_id, "{reply:?}");
}

#[track_caller]
fn assert_denied(reply: &ZapReply, text: &str) {
    assert_reply(reply, 400, text, "");
    assert_eq!(reply.status(), StatusCode::AuthenticationFailure);
}

/// A key no certificate or callback knows.
const STRANGER: [u8; 32] = [0x5a; 32];
/// The key the table's callback admits.
const FRIEND: [u8; 32] = [0x07; 32];

fn friend_callback(_domain: &str, key: &str) -> bool {
    key == encode_z85_key(&FRIEND)
}

fn public_key_of(path: &Path) -> [u8; 32] {
    *load_certificate(path).unwrap().public_key_bytes()
}

fn gssapi_available() -> bool {
    zmq_auth::zmq::has("gssapi").unwrap_or(false)
}

// ---------------------------------------------------------------------------------
// 1. the table: every row of DESIGN.md §4

struct Row {
    name: &'static str,
    setup: fn(&mut Authenticator),
    frames: Vec<Vec<u8>>,
    status: u16,
    text: &'static str,
    user_id: &'static str,
}

fn frames(id: &str, domain: &[u8], addr: &str, mech: &str, creds: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut f = vec![
        b"1.0".to_vec(),
        id.as_bytes().to_vec(),
        domain.to_vec(),
        addr.as_bytes().to_vec(),
        b"routing-id".to_vec(),
        mech.as_bytes().to_vec(),
    ];
    f.extend(creds.iter().map(|c| c.to_vec()));
    f
}

fn raw(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|f| f.to_vec()).collect()
}

fn no_setup(_: &mut Authenticator) {}

fn setup_plain(a: &mut Authenticator) {
    a.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
}

fn setup_plain_dom_only(a: &mut Authenticator) {
    a.configure_plain("dom", [("admin", "correct-horse")])
        .unwrap();
}

fn setup_curve_any(a: &mut Authenticator) {
    a.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
}

fn setup_curve_callback(a: &mut Authenticator) {
    a.configure_curve_callback("*", friend_callback).unwrap();
}

fn setup_curve_dom_only(a: &mut Authenticator) {
    a.configure_curve("dom", CURVE_ALLOW_ANY).unwrap();
}

fn setup_gssapi(a: &mut Authenticator) {
    a.configure_gssapi("*").unwrap();
}

fn setup_allow(a: &mut Authenticator) {
    a.allow(["127.0.0.1"]).unwrap();
    setup_plain(a);
}

fn setup_deny(a: &mut Authenticator) {
    a.deny(["10.0.0.0/8"]).unwrap();
    setup_plain(a);
}

fn table() -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |name, setup, frames, status, text, user_id| {
        rows.push(Row {
            name,
            setup,
            frames,
            status,
            text,
            user_id,
        })
    };
    let k32 = FRIEND.to_vec();
    let k31 = vec![7u8; 31];
    let k33 = vec![7u8; 33];
    let lh = "127.0.0.1";
    let friend_z85: &'static str = Box::leak(encode_z85_key(&FRIEND).into_boxed_str());

    // §4.1 framing
    row("0 frames", no_setup, vec![], 400, "Not enough frames", "");
    row(
        "1 frame",
        no_setup,
        raw(&[b"1.0"]),
        400,
        "Not enough frames",
        "",
    );
    row(
        "1 empty frame",
        no_setup,
        raw(&[b""]),
        400,
        "Not enough frames",
        "",
    );
    row(
        "2 frames",
        no_setup,
        raw(&[b"1.0", b"id-2"]),
        400,
        "Not enough frames",
        "",
    );
    row(
        "5 frames",
        no_setup,
        raw(&[b"1.0", b"id-5", b"", b"127.0.0.1", b""]),
        400,
        "Not enough frames",
        "",
    );
    row(
        "5 frames, wrong version",
        no_setup,
        raw(&[b"9.9", b"id-5v", b"", b"127.0.0.1", b""]),
        400,
        "Not enough frames",
        "",
    );
    for version in [&b"2.0"[..], b"", b"1.0\0", b"1.00", b" 1.0", b"1"] {
        let mut f = frames("id-v", b"", lh, "NULL", &[]);
        f[0] = version.to_vec();
        row("wrong version", no_setup, f, 400, "Invalid version", "");
    }
    row(
        "wrong version, 7 frames",
        setup_plain,
        {
            let mut f = frames("id-v7", b"", lh, "PLAIN", &[b"admin", b"correct-horse"]);
            f[0] = b"0.9".to_vec();
            f
        },
        400,
        "Invalid version",
        "",
    );
    row(
        "empty request id",
        no_setup,
        frames("", b"", lh, "NULL", &[]),
        200,
        "OK",
        "anonymous",
    );

    // §4.3 NULL and unknown mechanisms
    row(
        "NULL",
        no_setup,
        frames("1", b"", lh, "NULL", &[]),
        200,
        "OK",
        "anonymous",
    );
    row(
        "NULL with a domain",
        no_setup,
        frames("1", b"global", lh, "NULL", &[]),
        200,
        "OK",
        "anonymous",
    );
    row(
        "NULL from IPC",
        no_setup,
        frames("1", b"", "", "NULL", &[]),
        200,
        "OK",
        "anonymous",
    );
    for mech in ["FOO", "", "null", "Plain", "CURVE ", "NULL\0"] {
        row(
            "unknown mechanism",
            setup_plain,
            frames("1", b"", lh, mech, &[]),
            400,
            "Unsupported mechanism",
            "",
        );
    }

    // §4.3 PLAIN
    let plain = |user: &'static [u8], pw: &'static [u8]| -> Vec<&'static [u8]> { vec![user, pw] };
    row(
        "PLAIN no passwords",
        no_setup,
        frames("1", b"", lh, "PLAIN", &plain(b"admin", b"correct-horse")),
        400,
        "No passwords defined",
        "",
    );
    row(
        "PLAIN right",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"admin", b"correct-horse")),
        200,
        "OK",
        "admin",
    );
    row(
        "PLAIN right, any domain via *",
        setup_plain,
        frames(
            "1",
            b"somewhere",
            lh,
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        200,
        "OK",
        "admin",
    );
    row(
        "PLAIN wrong password",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"admin", b"Correct-horse")),
        400,
        "Invalid password",
        "",
    );
    row(
        "PLAIN password prefix",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"admin", b"correct-hors")),
        400,
        "Invalid password",
        "",
    );
    row(
        "PLAIN password longer",
        setup_plain,
        frames(
            "1",
            b"",
            lh,
            "PLAIN",
            &plain(b"admin", b"correct-horsecorrect-horse"),
        ),
        400,
        "Invalid password",
        "",
    );
    row(
        "PLAIN empty password for a user with one",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"admin", b"")),
        400,
        "Invalid password",
        "",
    );
    row(
        "PLAIN unknown user",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"root", b"correct-horse")),
        400,
        "Invalid username",
        "",
    );
    row(
        "PLAIN unknown user, empty password",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"root", b"")),
        400,
        "Invalid username",
        "",
    );
    row(
        "PLAIN empty user, empty password",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &plain(b"", b"")),
        400,
        "Invalid username",
        "",
    );
    row(
        "PLAIN non-UTF-8 user",
        setup_plain,
        frames(
            "1",
            b"",
            lh,
            "PLAIN",
            &plain(b"\xffadmin", b"correct-horse"),
        ),
        400,
        "Invalid username",
        "",
    );
    row(
        "PLAIN 0 credentials",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &[]),
        400,
        "Invalid credentials",
        "",
    );
    row(
        "PLAIN 1 credential",
        setup_plain,
        frames("1", b"", lh, "PLAIN", &[b"admin"]),
        400,
        "Invalid credentials",
        "",
    );
    row(
        "PLAIN 3 credentials",
        setup_plain,
        frames(
            "1",
            b"",
            lh,
            "PLAIN",
            &[b"admin", b"correct-horse", b"correct-horse"],
        ),
        400,
        "Invalid credentials",
        "",
    );
    row(
        "PLAIN wrong credential count, no passwords",
        no_setup,
        frames("1", b"", lh, "PLAIN", &[b"admin"]),
        400,
        "Invalid credentials",
        "",
    );
    row(
        "PLAIN non-UTF-8 domain uses *",
        setup_plain,
        frames(
            "1",
            b"\xffdom",
            lh,
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        200,
        "OK",
        "admin",
    );
    row(
        "PLAIN domain without entry and no *",
        setup_plain_dom_only,
        frames(
            "1",
            b"other",
            lh,
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        400,
        "Unknown domain",
        "",
    );
    row(
        "PLAIN empty domain, no *",
        setup_plain_dom_only,
        frames("1", b"", lh, "PLAIN", &plain(b"admin", b"correct-horse")),
        400,
        "Unknown domain",
        "",
    );
    row(
        "PLAIN exact domain",
        setup_plain_dom_only,
        frames("1", b"dom", lh, "PLAIN", &plain(b"admin", b"correct-horse")),
        200,
        "OK",
        "admin",
    );

    // §4.3 CURVE
    row(
        "CURVE no policy",
        no_setup,
        frames("1", b"", lh, "CURVE", &[&k32]),
        400,
        "Unknown domain",
        "",
    );
    row(
        "CURVE domain without entry and no *",
        setup_curve_dom_only,
        frames("1", b"other", lh, "CURVE", &[&k32]),
        400,
        "Unknown domain",
        "",
    );
    row(
        "CURVE empty domain, no *",
        setup_curve_dom_only,
        frames("1", b"", lh, "CURVE", &[&k32]),
        400,
        "Unknown domain",
        "",
    );
    for (name, creds) in [
        ("CURVE 31-byte key", vec![k31.as_slice()]),
        ("CURVE 33-byte key", vec![k33.as_slice()]),
        ("CURVE empty key", vec![&b""[..]]),
        ("CURVE 0 credentials", vec![]),
        ("CURVE 2 credentials", vec![k32.as_slice(), k32.as_slice()]),
        (
            "CURVE Z85 text instead of bytes",
            vec![&b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"[..]],
        ),
    ] {
        row(
            name,
            setup_curve_any,
            frames("1", b"", lh, "CURVE", &creds),
            400,
            "Invalid credentials",
            "",
        );
    }
    row(
        "CURVE 31-byte key, no policy",
        no_setup,
        frames("1", b"", lh, "CURVE", &[&k31]),
        400,
        "Invalid credentials",
        "",
    );
    row(
        "CURVE allow any",
        setup_curve_any,
        frames("1", b"", lh, "CURVE", &[&k32]),
        200,
        "OK",
        friend_z85,
    );
    row(
        "CURVE callback yes",
        setup_curve_callback,
        frames("1", b"x", lh, "CURVE", &[&k32]),
        200,
        "OK",
        friend_z85,
    );
    row(
        "CURVE callback no",
        setup_curve_callback,
        frames("1", b"x", lh, "CURVE", &[&STRANGER]),
        400,
        "Unknown key",
        "",
    );

    // §4.3 GSSAPI
    row(
        "GSSAPI not configured",
        no_setup,
        frames("1", b"", lh, "GSSAPI", &[b"alice@EXAMPLE.ORG"]),
        400,
        "Unknown domain",
        "",
    );
    if gssapi_available() {
        row(
            "GSSAPI configured",
            setup_gssapi,
            frames("1", b"any", lh, "GSSAPI", &[b"alice@EXAMPLE.ORG"]),
            200,
            "OK",
            "alice@EXAMPLE.ORG",
        );
        row(
            "GSSAPI non-UTF-8 principal",
            setup_gssapi,
            frames("1", b"", lh, "GSSAPI", &[b"al\xffice"]),
            400,
            "Invalid principal",
            "",
        );
        row(
            "GSSAPI 0 credentials",
            setup_gssapi,
            frames("1", b"", lh, "GSSAPI", &[]),
            400,
            "Invalid credentials",
            "",
        );
        row(
            "GSSAPI 2 credentials",
            setup_gssapi,
            frames("1", b"", lh, "GSSAPI", &[b"a", b"b"]),
            400,
            "Invalid credentials",
            "",
        );
    }

    // §4.2 address lists, checked before the mechanism
    row(
        "allow hit",
        setup_allow,
        frames(
            "1",
            b"",
            "127.0.0.1",
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        200,
        "OK",
        "admin",
    );
    row(
        "allow miss",
        setup_allow,
        frames(
            "1",
            b"",
            "127.0.0.2",
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        400,
        "Address not allowed",
        "",
    );
    row(
        "allow miss, NULL",
        setup_allow,
        frames("1", b"", "10.0.0.1", "NULL", &[]),
        400,
        "Address not allowed",
        "",
    );
    row(
        "allow miss, unknown mechanism",
        setup_allow,
        frames("1", b"", "10.0.0.1", "FOO", &[]),
        400,
        "Address not allowed",
        "",
    );
    row(
        "allow, IPC empty address",
        setup_allow,
        frames("1", b"", "", "NULL", &[]),
        400,
        "Address not allowed",
        "",
    );
    row(
        "allow, IPC uid:gid:pid",
        setup_allow,
        frames("1", b"", ":1000:1000:42", "NULL", &[]),
        400,
        "Address not allowed",
        "",
    );
    row(
        "deny hit",
        setup_deny,
        frames(
            "1",
            b"",
            "10.1.2.3",
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        400,
        "Address denied",
        "",
    );
    row(
        "deny hit, NULL",
        setup_deny,
        frames("1", b"", "10.1.2.3", "NULL", &[]),
        400,
        "Address denied",
        "",
    );
    row(
        "deny miss",
        setup_deny,
        frames(
            "1",
            b"",
            "11.1.2.3",
            "PLAIN",
            &plain(b"admin", b"correct-horse"),
        ),
        200,
        "OK",
        "admin",
    );
    row(
        "deny miss, wrong password still refused",
        setup_deny,
        frames("1", b"", "11.1.2.3", "PLAIN", &plain(b"admin", b"nope")),
        400,
        "Invalid password",
        "",
    );
    row(
        "deny, IPC address never denied",
        setup_deny,
        frames("1", b"", ":1000:1000:42", "NULL", &[]),
        200,
        "OK",
        "anonymous",
    );
    rows
}

#[test]
fn table_over_design_section_4() {
    let rows = table();
    assert!(rows.len() > 60);
    for row in rows {
        let mut auth = Authenticator::new();
        (row.setup)(&mut auth);
        let refs: Vec<&[u8]> = row.frames.iter().map(Vec::as_slice).collect();
        let reply = call(&mut auth, &refs);
        assert_eq!(
            (reply.status_code(), reply.status_text(), reply.user_id()),
            (row.status, row.text, row.user_id),
            "row {:?}: {reply:?}",
            row.name
        );
        // Empty, except that a PLAIN admission carries the version of its credential
        // (issue 18 finding 9), and only that.
        let meta = decode_metadata(reply.metadata()).unwrap();
        let plain_ok =
            row.frames.get(5).is_some_and(|m| m == b"PLAIN") && reply.status_code() == 200;
        match meta.as_slice() {
            [] => {}
            [(name, value)] if plain_ok => {
                assert_eq!(name, "Credential-Version", "row {:?}", row.name);
                // 10 characters of URL-safe base64, so the frame fits a libzmq
                // message without a heap block (33 bytes).
                assert!(
                    value.len() == 10
                        && value
                            .iter()
                            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
                );
                assert_eq!(reply.metadata().len(), 33, "row {:?}", row.name);
            }
            other => panic!("row {:?}: unexpected metadata {other:?}", row.name),
        }
        // Asking again gives the same answer (no hidden state on these paths).
        let again = call(&mut auth, &refs);
        assert_eq!(again, reply, "row {:?} not repeatable", row.name);
    }
}

#[test]
fn to_frames_spells_status_codes_and_request_ids() {
    let mut auth = Authenticator::new();
    auth.configure_curve_provider("*", TryLaterProvider)
        .unwrap();
    let id: &[u8] = b"\x00\xff binary id";
    let r = call(&mut auth, &[b"1.0", id, b"", b"::1", b"", b"NULL"]);
    assert_eq!(
        r.to_frames(),
        vec![
            b"1.0".to_vec(),
            id.to_vec(),
            b"200".to_vec(),
            b"OK".to_vec(),
            b"anonymous".to_vec(),
            vec![]
        ]
    );
    let r = call(&mut auth, &[b"1.0", id, b"", b"::1", b"", b"FOO"]);
    assert_eq!(r.to_frames()[2], b"400");
    let r = call(
        &mut auth,
        &[b"1.0", id, b"", b"::1", b"", b"CURVE", &FRIEND],
    );
    assert_eq!(r.to_frames()[2], b"300");
    // A request id as long as a frame can be is echoed untouched.
    let long = vec![b'x'; 100_000];
    let r = call(&mut auth, &[b"1.0", &long, b"", b"", b"", b"NULL"]);
    assert_eq!(r.request_id(), long.as_slice());
}

// ---------------------------------------------------------------------------------
// 2. address lists (§4.2)

#[test]
fn allow_list_ipv4_ipv6_cidr() {
    let mut auth = Authenticator::new();
    auth.allow(["192.168.1.10", "10.0.0.0/8", "2001:db8::/32", "::1"])
        .unwrap();
    for ok in [
        "192.168.1.10",
        "10.0.0.1",
        "10.255.255.255",
        "::ffff:10.9.8.7",
        "2001:db8::1",
        "2001:db8:ffff::42",
        "::1",
        "[::1]",
    ] {
        assert_ok(&null(&mut auth, ok), "anonymous");
    }
    for miss in [
        "192.168.1.11",
        "11.0.0.1",
        "2001:db9::1",
        "::2",
        "fe80::1",
        "",
        ":1000:1000:42",
        "localhost",
        "not an address",
        "192.168.1.10:5555",
    ] {
        assert_denied(&null(&mut auth, miss), "Address not allowed");
    }
    // Non-UTF-8 garbage in the address frame matches nothing.
    let r = call(&mut auth, &[b"1.0", b"1", b"", b"\xff\xfe", b"", b"NULL"]);
    assert_denied(&r, "Address not allowed");
}

#[test]
fn v4_mapped_addresses_match_both_ways() {
    // Entry IPv4, peer v4-mapped.
    let mut auth = Authenticator::new();
    auth.allow(["127.0.0.1"]).unwrap();
    assert_ok(&null(&mut auth, "::ffff:127.0.0.1"), "anonymous");
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");
    assert_denied(&null(&mut auth, "::ffff:127.0.0.2"), "Address not allowed");

    // Entry v4-mapped, peer IPv4.
    let mut auth = Authenticator::new();
    auth.allow(["::ffff:127.0.0.1"]).unwrap();
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");
    assert_ok(&null(&mut auth, "::ffff:127.0.0.1"), "anonymous");
    assert_denied(&null(&mut auth, "127.0.0.2"), "Address not allowed");

    // The same on a deny list.
    let mut auth = Authenticator::new();
    auth.deny(["127.0.0.1"]).unwrap();
    assert_denied(&null(&mut auth, "::ffff:127.0.0.1"), "Address denied");
    let mut auth = Authenticator::new();
    auth.deny(["::ffff:127.0.0.1"]).unwrap();
    assert_denied(&null(&mut auth, "127.0.0.1"), "Address denied");
    assert_ok(&null(&mut auth, "127.0.0.2"), "anonymous");

    // CIDR ranges too.
    let mut auth = Authenticator::new();
    auth.deny(["10.0.0.0/8"]).unwrap();
    assert_denied(&null(&mut auth, "::ffff:10.1.1.1"), "Address denied");
    assert_ok(&null(&mut auth, "::ffff:11.1.1.1"), "anonymous");
}

#[test]
fn ipc_addresses_never_match_an_entry() {
    // Even the widest allow list does not admit an address that does not parse.
    let mut auth = Authenticator::new();
    auth.allow(["0.0.0.0/0", "::/0"]).unwrap();
    assert_ok(&null(&mut auth, "203.0.113.9"), "anonymous");
    assert_ok(&null(&mut auth, "2001:db8::9"), "anonymous");
    for ipc in ["", ":1000:1000:42", ":0:0:1"] {
        assert_denied(&null(&mut auth, ipc), "Address not allowed");
    }
    // And the widest deny list does not refuse it.
    let mut auth = Authenticator::new();
    auth.deny(["0.0.0.0/0", "::/0"]).unwrap();
    assert_denied(&null(&mut auth, "203.0.113.9"), "Address denied");
    for ipc in ["", ":1000:1000:42"] {
        assert_ok(&null(&mut auth, ipc), "anonymous");
    }
}

#[test]
fn allow_then_deny_is_a_conflict_and_changes_nothing() {
    let mut auth = Authenticator::new();
    auth.allow(["127.0.0.1"]).unwrap();
    let err = auth.deny(["10.0.0.1"]).unwrap_err();
    assert!(matches!(err, Error::AllowDenyConflict), "{err:?}");
    // Even an invalid entry reports the conflict, not a parse error... either is an error.
    assert!(auth.deny(["bogus"]).is_err());
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");
    // 10.0.0.1 is refused because the allow list misses it, not because it was denied.
    assert_denied(&null(&mut auth, "10.0.0.1"), "Address not allowed");
    // The allow list still grows.
    auth.allow(["10.0.0.1"]).unwrap();
    assert_ok(&null(&mut auth, "10.0.0.1"), "anonymous");
}

#[test]
fn deny_then_allow_is_a_conflict_and_changes_nothing() {
    let mut auth = Authenticator::new();
    auth.deny(["10.0.0.1"]).unwrap();
    let err = auth.allow(["127.0.0.1"]).unwrap_err();
    assert!(matches!(err, Error::AllowDenyConflict), "{err:?}");
    assert_denied(&null(&mut auth, "10.0.0.1"), "Address denied");
    // Had the allow list been applied, this address would be "Address not allowed".
    assert_ok(&null(&mut auth, "10.0.0.2"), "anonymous");
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");
    auth.deny(["10.0.0.2"]).unwrap();
    assert_denied(&null(&mut auth, "10.0.0.2"), "Address denied");
}

#[test]
fn invalid_entries_are_errors_and_add_nothing() {
    let bad_entries = [
        "bogus",
        "",
        "localhost",
        "10.0.0.0/33",
        "10.1.2.3/8",
        "1.2.3.4/",
        "1.2.3.4/x",
        "::/129",
        "1.2.3",
        "256.0.0.1",
    ];
    for bad in bad_entries {
        // Empty allow list: a partially applied call would make 10.0.0.2 "not allowed".
        let mut auth = Authenticator::new();
        let err = auth.allow(["10.0.0.1", bad]).unwrap_err();
        assert!(matches!(err, Error::InvalidAddress(_)), "{bad:?}: {err:?}");
        assert_ok(&null(&mut auth, "10.0.0.2"), "anonymous");
        // Nothing was added, so a deny list may still be created.
        auth.deny(["10.0.0.3"]).unwrap();

        // Existing allow list: the valid entry in the failed call is not added.
        let mut auth = Authenticator::new();
        auth.allow(["127.0.0.1"]).unwrap();
        let err = auth.allow([bad, "10.0.0.1"]).unwrap_err();
        assert!(matches!(err, Error::InvalidAddress(_)), "{bad:?}: {err:?}");
        assert_denied(&null(&mut auth, "10.0.0.1"), "Address not allowed");
        assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");

        // Same for deny.
        let mut auth = Authenticator::new();
        let err = auth.deny(["10.0.0.1", bad]).unwrap_err();
        assert!(matches!(err, Error::InvalidAddress(_)), "{bad:?}: {err:?}");
        assert_ok(&null(&mut auth, "10.0.0.1"), "anonymous");
        auth.allow(["127.0.0.1"]).unwrap();
    }
}

// ---------------------------------------------------------------------------------
// 3. domains (§5)

#[test]
fn plain_domain_lookup_exact_then_star() {
    let mut auth = Authenticator::new();
    auth.configure_plain("*", [("alice", "star")]).unwrap();
    auth.configure_plain("dom", [("alice", "dom-pw"), ("bob", "b")])
        .unwrap();
    // Exact domain first, and only it (no merging with "*").
    assert_ok(&plain(&mut auth, "dom", "alice", "dom-pw"), "alice");
    assert_denied(
        &plain(&mut auth, "dom", "alice", "star"),
        "Invalid password",
    );
    // Another domain falls back to "*".
    assert_ok(&plain(&mut auth, "other", "alice", "star"), "alice");
    assert_denied(&plain(&mut auth, "other", "bob", "b"), "Invalid username");
    // The empty domain uses "*".
    assert_ok(&plain(&mut auth, "", "alice", "star"), "alice");
    // Configuring "" is configuring "*".
    auth.configure_plain("", [("carol", "c")]).unwrap();
    assert_ok(&plain(&mut auth, "other", "carol", "c"), "carol");
    assert_denied(
        &plain(&mut auth, "other", "alice", "star"),
        "Invalid username",
    );
    assert_ok(&plain(&mut auth, "dom", "alice", "dom-pw"), "alice");
    // A later configure_plain for a domain replaces its passwords.
    auth.configure_plain("dom", [("dave", "d")]).unwrap();
    assert_denied(
        &plain(&mut auth, "dom", "alice", "dom-pw"),
        "Invalid username",
    );
    assert_ok(&plain(&mut auth, "dom", "dave", "d"), "dave");
}

#[test]
fn plain_domain_without_entry_and_without_star() {
    let mut auth = Authenticator::new();
    auth.configure_plain("dom", [("alice", "pw")]).unwrap();
    assert_denied(&plain(&mut auth, "other", "alice", "pw"), "Unknown domain");
    assert_denied(&plain(&mut auth, "", "alice", "pw"), "Unknown domain");
    assert_denied(&plain(&mut auth, "DOM", "alice", "pw"), "Unknown domain");
    let r = ask(&mut auth, "", "127.0.0.1", "PLAIN", &[b"alice", b"pw"]);
    assert_denied(&r, "Unknown domain");
    assert_ok(&plain(&mut auth, "dom", "alice", "pw"), "alice");
}

#[test]
fn plain_unknown_user_with_empty_password_is_never_admitted() {
    let mut auth = Authenticator::new();
    auth.configure_plain("*", [("alice", "pw")]).unwrap();
    assert_denied(&plain(&mut auth, "", "mallory", ""), "Invalid username");
    assert_denied(&plain(&mut auth, "", "", ""), "Invalid username");
    // Even when the domain has no users at all.
    auth.configure_plain("empty", Vec::<(String, String)>::new())
        .unwrap();
    assert_denied(
        &plain(&mut auth, "empty", "mallory", ""),
        "Invalid username",
    );
    assert_denied(&plain(&mut auth, "empty", "", ""), "Invalid username");
}

#[test]
fn curve_domain_lookup_exact_then_star() {
    let mut auth = Authenticator::new();
    auth.configure_curve("dom", CURVE_ALLOW_ANY).unwrap();
    assert_denied(&curve(&mut auth, "other", &STRANGER), "Unknown domain");
    assert_denied(&curve(&mut auth, "", &STRANGER), "Unknown domain");
    assert_ok(
        &curve(&mut auth, "dom", &STRANGER),
        &encode_z85_key(&STRANGER),
    );
    auth.configure_curve_callback("*", friend_callback).unwrap();
    // "dom" keeps its own policy; others use "*".
    assert_ok(
        &curve(&mut auth, "dom", &STRANGER),
        &encode_z85_key(&STRANGER),
    );
    assert_denied(&curve(&mut auth, "other", &STRANGER), "Unknown key");
    assert_denied(&curve(&mut auth, "", &STRANGER), "Unknown key");
    assert_ok(&curve(&mut auth, "", &FRIEND), &encode_z85_key(&FRIEND));
}

#[test]
fn curve_callback_sees_the_request_domain_and_z85_key() {
    let seen = Arc::new(parking_lot_free::Log::default());
    let log = seen.clone();
    let mut auth = Authenticator::new();
    auth.configure_curve_callback("*", move |domain: &str, key: &str| {
        log.push(format!("{domain}|{key}"));
        true
    })
    .unwrap();
    curve(&mut auth, "some-domain", &FRIEND);
    assert_eq!(
        seen.take(),
        vec![format!("some-domain|{}", encode_z85_key(&FRIEND))]
    );
}

/// A tiny shared log for callbacks, without extra dev-dependencies.
mod parking_lot_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub(crate) struct Log(Mutex<Vec<String>>);

    impl Log {
        pub(crate) fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
        pub(crate) fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}

// ---------------------------------------------------------------------------------
// 4. CURVE policies (§4.3, §5)

fn cert_dir(names: &[&str]) -> (tempfile::TempDir, HashMap<String, [u8; 32]>) {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = HashMap::new();
    for name in names {
        let (public, _) = create_certificates(dir.path(), name, &[]).unwrap();
        keys.insert(name.to_string(), public_key_of(&public));
    }
    (dir, keys)
}

#[test]
fn curve_policy_last_configure_call_wins() {
    let (dir, keys) = cert_dir(&["alice"]);
    let alice = keys["alice"];
    let mut auth = Authenticator::new();

    // allow-any, then a directory → the directory.
    auth.configure_curve("dom", CURVE_ALLOW_ANY).unwrap();
    assert_ok(
        &curve(&mut auth, "dom", &STRANGER),
        &encode_z85_key(&STRANGER),
    );
    auth.configure_curve("dom", dir.path()).unwrap();
    assert_denied(&curve(&mut auth, "dom", &STRANGER), "Unknown key");
    assert_ok(&curve(&mut auth, "dom", &alice), &encode_z85_key(&alice));

    // directory, then a callback → the callback (even against a listed key).
    auth.configure_curve_callback("dom", friend_callback)
        .unwrap();
    assert_denied(&curve(&mut auth, "dom", &alice), "Unknown key");
    assert_ok(&curve(&mut auth, "dom", &FRIEND), &encode_z85_key(&FRIEND));

    // callback, then allow-any → allow-any.
    auth.configure_curve("dom", CURVE_ALLOW_ANY).unwrap();
    assert_ok(&curve(&mut auth, "dom", &alice), &encode_z85_key(&alice));
    assert_ok(
        &curve(&mut auth, "dom", &STRANGER),
        &encode_z85_key(&STRANGER),
    );

    // A failed configure_curve (missing directory) is an error and keeps allow-any.
    let missing = dir.path().join("does-not-exist");
    let err = auth.configure_curve("dom", &missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_ok(
        &curve(&mut auth, "dom", &STRANGER),
        &encode_z85_key(&STRANGER),
    );

    // ... and keeps a directory policy too.
    auth.configure_curve("dom", dir.path()).unwrap();
    assert!(auth.configure_curve("dom", &missing).is_err());
    assert_denied(&curve(&mut auth, "dom", &STRANGER), "Unknown key");
    assert_ok(&curve(&mut auth, "dom", &alice), &encode_z85_key(&alice));

    // ... and a callback.
    auth.configure_curve_callback("dom", friend_callback)
        .unwrap();
    assert!(auth.configure_curve("dom", &missing).is_err());
    assert_denied(&curve(&mut auth, "dom", &alice), "Unknown key");
    assert_ok(&curve(&mut auth, "dom", &FRIEND), &encode_z85_key(&FRIEND));

    // A file is not a directory: also an error, policy kept.
    let file = dir.path().join("alice.key");
    assert!(auth.configure_curve("dom", &file).is_err());
    assert_ok(&curve(&mut auth, "dom", &FRIEND), &encode_z85_key(&FRIEND));

    // A failed configure for a new domain creates no policy for it.
    assert!(auth.configure_curve("fresh", &missing).is_err());
    assert_denied(&curve(&mut auth, "fresh", &alice), "Unknown domain");
}

#[test]
fn curve_policies_are_per_domain() {
    let (dir, keys) = cert_dir(&["alice"]);
    let alice = keys["alice"];
    let mut auth = Authenticator::new();
    auth.configure_curve("open", CURVE_ALLOW_ANY).unwrap();
    auth.configure_curve("closed", dir.path()).unwrap();
    auth.configure_curve_callback("cb", friend_callback)
        .unwrap();
    assert_ok(
        &curve(&mut auth, "open", &STRANGER),
        &encode_z85_key(&STRANGER),
    );
    assert_denied(&curve(&mut auth, "closed", &STRANGER), "Unknown key");
    assert_ok(&curve(&mut auth, "closed", &alice), &encode_z85_key(&alice));
    assert_denied(&curve(&mut auth, "cb", &alice), "Unknown key");
    assert_ok(&curve(&mut auth, "cb", &FRIEND), &encode_z85_key(&FRIEND));
    assert_denied(&curve(&mut auth, "", &FRIEND), "Unknown domain");
    // A callback on one domain does not silence another domain's directory.
    auth.configure_curve_callback("*", |_: &str, _: &str| true)
        .unwrap();
    assert_denied(&curve(&mut auth, "closed", &STRANGER), "Unknown key");
    assert_ok(&curve(&mut auth, "", &STRANGER), &encode_z85_key(&STRANGER));
    // Allow-any on "*" does not open a domain with its own directory.
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    assert_denied(&curve(&mut auth, "closed", &STRANGER), "Unknown key");
}

#[test]
fn curve_certificate_directory_user_id_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, _) = create_certificates(
        dir.path(),
        "alice",
        &[
            ("name", "Alice Liddell"),
            ("email", "alice@example.org"),
            ("Socket-Type", "ROUTER"),
            ("Identity", "spoofed-identity"),
            ("User-Id", "root"),
            ("role", ""),
        ],
    )
    .unwrap();
    let (bob_pub, _) = create_certificates(dir.path(), "bob", &[]).unwrap();
    let (carol_pub, _) = create_certificates(
        dir.path(),
        "carol",
        &[("Socket-Type", "PUB"), ("identity", "x"), ("USER-ID", "y")],
    )
    .unwrap();
    let alice_cert = load_certificate(&alice_pub).unwrap();
    let alice = *alice_cert.public_key_bytes();
    let bob = public_key_of(&bob_pub);
    let carol = public_key_of(&carol_pub);

    let mut auth = Authenticator::new();
    auth.configure_curve("*", dir.path()).unwrap();

    let r = curve(&mut auth, "", &alice);
    assert_ok(&r, alice_cert.public_key());
    assert_eq!(r.user_id(), encode_z85_key(&alice));
    let expected: Vec<(String, Vec<u8>)> = vec![
        ("name".into(), b"Alice Liddell".to_vec()),
        ("email".into(), b"alice@example.org".to_vec()),
        ("role".into(), b"".to_vec()),
    ];
    assert_eq!(decode_metadata(r.metadata()).unwrap(), expected);
    // Exactly the ZMTP encoding of the certificate's (non-reserved) metadata.
    let filtered: Vec<(&str, &str)> = alice_cert
        .metadata()
        .iter()
        .filter(|(n, _)| !["Socket-Type", "Identity", "User-Id"].contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(r.metadata(), encode_metadata(&filtered).unwrap().as_slice());
    assert_eq!(r.to_frames()[5], r.metadata());
    for (name, _) in decode_metadata(r.metadata()).unwrap() {
        assert!(
            !["socket-type", "identity", "user-id"].contains(&name.to_ascii_lowercase().as_str()),
            "reserved property {name} passed on"
        );
    }

    // A certificate without metadata gives empty metadata.
    let r = curve(&mut auth, "", &bob);
    assert_ok(&r, &encode_z85_key(&bob));
    assert!(r.metadata().is_empty());

    // Only reserved names (any case): nothing passed on.
    let r = curve(&mut auth, "", &carol);
    assert_ok(&r, &encode_z85_key(&carol));
    assert!(
        r.metadata().is_empty(),
        "{:?}",
        decode_metadata(r.metadata())
    );

    // An unknown key.
    assert_denied(&curve(&mut auth, "", &STRANGER), "Unknown key");

    // Allow-any and callbacks carry no metadata.
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    let r = curve(&mut auth, "", &alice);
    assert_ok(&r, &encode_z85_key(&alice));
    assert!(r.metadata().is_empty());
}

#[test]
fn set_curve_user_id_changes_the_user_id() {
    let (dir, keys) = cert_dir(&["alice"]);
    let alice = keys["alice"];
    let mut auth = Authenticator::new();
    auth.configure_curve("certs", dir.path()).unwrap();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    auth.set_curve_user_id(|key: &[u8; 32]| format!("client-{:02x}{:02x}", key[0], key[1]));
    let r = curve(&mut auth, "", &FRIEND);
    assert_ok(&r, "client-0707");
    let r = curve(&mut auth, "certs", &alice);
    assert_ok(&r, &format!("client-{:02x}{:02x}", alice[0], alice[1]));
    // Only CURVE user ids change.
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");
    auth.configure_plain("*", [("u", "p")]).unwrap();
    assert_ok(&plain(&mut auth, "", "u", "p"), "u");
    // A refused key still gets no user id.
    assert_denied(&curve(&mut auth, "certs", &STRANGER), "Unknown key");
    // Replacing it takes effect.
    auth.set_curve_user_id(|_: &[u8; 32]| "fixed".to_string());
    assert_ok(&curve(&mut auth, "", &FRIEND), "fixed");
}

#[test]
fn panicking_callback_gives_500_and_the_handler_keeps_serving() {
    quiet_deliberate_panics();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mut auth = Authenticator::new();
    auth.configure_curve_callback("*", move |_: &str, _: &str| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("deliberate test panic in a callback");
        }
        true
    })
    .unwrap();
    let r = curve(&mut auth, "", &FRIEND);
    assert_reply(&r, 500, "Internal error", "");
    assert_eq!(r.status(), StatusCode::InternalError);
    // The same provider is asked again, and answers.
    assert_ok(&curve(&mut auth, "", &FRIEND), &encode_z85_key(&FRIEND));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Other mechanisms were never affected.
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");

    // A callback that always panics: 500 every time, and the rest still works.
    auth.configure_curve_callback("boom", |_: &str, _: &str| -> bool {
        panic!("deliberate test panic, always")
    })
    .unwrap();
    for _ in 0..3 {
        assert_reply(
            &curve(&mut auth, "boom", &FRIEND),
            500,
            "Internal error",
            "",
        );
    }
    assert_ok(&curve(&mut auth, "", &FRIEND), &encode_z85_key(&FRIEND));
}

#[test]
fn panicking_user_id_fn_gives_500() {
    quiet_deliberate_panics();
    let mut auth = Authenticator::new();
    auth.configure_curve("*", CURVE_ALLOW_ANY).unwrap();
    auth.set_curve_user_id(|key: &[u8; 32]| {
        if key[0] == 0x07 {
            panic!("deliberate test panic in a user-id fn");
        }
        "ok-user".to_string()
    });
    assert_reply(&curve(&mut auth, "", &FRIEND), 500, "Internal error", "");
    assert_ok(&curve(&mut auth, "", &STRANGER), "ok-user");
    assert_reply(&curve(&mut auth, "", &FRIEND), 500, "Internal error", "");
    assert_ok(&null(&mut auth, "::1"), "anonymous");
}

struct TryLaterProvider;

impl CredentialsProvider for TryLaterProvider {
    fn callback(&self, _domain: &str, _key: &str) -> bool {
        true // never used: decide() answers
    }
    fn decide(&self, _domain: &str, _key: &str) -> CurveDecision {
        CurveDecision::TryLater
    }
}

/// Answers by the key's first byte: a provider with all three answers.
struct ByFirstByte;

impl CredentialsProvider for ByFirstByte {
    fn callback(&self, _domain: &str, _key: &str) -> bool {
        false
    }
    fn decide(&self, _domain: &str, key: &str) -> CurveDecision {
        let bytes = zmq_auth::decode_z85_key(key).unwrap();
        match bytes[0] {
            1 => CurveDecision::Allow,
            2 => CurveDecision::TryLater,
            _ => CurveDecision::Deny,
        }
    }
}

#[test]
fn provider_try_later_gives_300() {
    let mut auth = Authenticator::new();
    auth.configure_curve_provider("*", TryLaterProvider)
        .unwrap();
    let r = curve(&mut auth, "", &FRIEND);
    assert_eq!(r.status_code(), 300, "{r:?}");
    assert_eq!(r.status(), StatusCode::TemporaryError);
    assert_eq!(r.user_id(), "");
    assert!(r.metadata().is_empty());

    auth.configure_curve_provider("*", ByFirstByte).unwrap();
    assert_ok(&curve(&mut auth, "", &[1; 32]), &encode_z85_key(&[1; 32]));
    assert_eq!(curve(&mut auth, "", &[2; 32]).status_code(), 300);
    assert_denied(&curve(&mut auth, "", &[3; 32]), "Unknown key");
}

#[test]
fn gssapi_only_after_configure_gssapi() {
    let mut auth = Authenticator::new();
    assert_denied(
        &gssapi(&mut auth, "", b"alice@EXAMPLE.ORG"),
        "Unknown domain",
    );
    if !gssapi_available() {
        let err = auth.configure_gssapi("*").unwrap_err();
        assert!(matches!(err, Error::GssapiUnavailable), "{err:?}");
        eprintln!("libzmq has no GSSAPI: only the refusal was checked");
        return;
    }
    auth.configure_gssapi("kerberos").unwrap();
    assert_ok(
        &gssapi(&mut auth, "kerberos", b"alice@EXAMPLE.ORG"),
        "alice@EXAMPLE.ORG",
    );
    assert_denied(
        &gssapi(&mut auth, "other", b"alice@EXAMPLE.ORG"),
        "Unknown domain",
    );
    assert_denied(
        &gssapi(&mut auth, "", b"alice@EXAMPLE.ORG"),
        "Unknown domain",
    );
    // Other mechanisms are not opened by it.
    assert_denied(&curve(&mut auth, "kerberos", &FRIEND), "Unknown domain");
    // "" means "*": every domain.
    auth.configure_gssapi("").unwrap();
    assert_ok(
        &gssapi(&mut auth, "other", b"bob@EXAMPLE.ORG"),
        "bob@EXAMPLE.ORG",
    );
    assert_ok(
        &gssapi(&mut auth, "", b"bob@EXAMPLE.ORG"),
        "bob@EXAMPLE.ORG",
    );
    // The user id is the principal, never a lossy conversion of it (two principals
    // must not share one user id): non-UTF-8 and empty principals are refused.
    assert_ok(&gssapi(&mut auth, "", b"b\xc3\xb6b@X"), "b\u{f6}b@X");
    assert_denied(&gssapi(&mut auth, "", b"adm\xffin@R"), "Invalid principal");
    assert_denied(&gssapi(&mut auth, "", b"adm\xfein@R"), "Invalid principal");
    assert_denied(&gssapi(&mut auth, "", b""), "Invalid principal");
    // Address lists still come first.
    auth.deny(["127.0.0.1"]).unwrap();
    assert_denied(&gssapi(&mut auth, "", b"bob@EXAMPLE.ORG"), "Address denied");
}

// ---------------------------------------------------------------------------------
// 5. certificate directories on disk (§5)

fn rm(path: &Path) {
    std::fs::remove_file(path).unwrap();
}

#[test]
fn certificate_directory_reloads_added_and_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, alice_sec) = create_certificates(dir.path(), "alice", &[]).unwrap();
    let alice = public_key_of(&alice_pub);
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_curve("*", dir.path()).unwrap();
    assert_ok(&curve(&mut auth, "", &alice), &encode_z85_key(&alice));

    // Added: admitted without another configure call.
    let (bob_pub, _) = create_certificates(dir.path(), "bob", &[("name", "Bob")]).unwrap();
    let bob = public_key_of(&bob_pub);
    let r = curve(&mut auth, "", &bob);
    assert_ok(&r, &encode_z85_key(&bob));
    assert_eq!(
        decode_metadata(r.metadata()).unwrap(),
        vec![("name".to_string(), b"Bob".to_vec())]
    );

    // Removed: refused.
    rm(&alice_pub);
    assert_denied(&curve(&mut auth, "", &alice), "Unknown key");
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));

    // A secret file alone does not admit anyone.
    assert!(alice_sec.exists());
    assert_denied(&curve(&mut auth, "", &alice), "Unknown key");

    // Back again.
    let (alice2_pub, _) = create_certificates(dir.path(), "alice2", &[]).unwrap();
    let alice2 = public_key_of(&alice2_pub);
    assert_ok(&curve(&mut auth, "", &alice2), &encode_z85_key(&alice2));

    // Edited in place (same name, new key and metadata): the new key only.
    create_certificates(dir.path(), "bob", &[("name", "Robert")]).unwrap();
    let bob2 = public_key_of(&bob_pub);
    assert_ne!(bob, bob2);
    assert_denied(&curve(&mut auth, "", &bob), "Unknown key");
    let r = curve(&mut auth, "", &bob2);
    assert_ok(&r, &encode_z85_key(&bob2));
    assert_eq!(
        decode_metadata(r.metadata()).unwrap(),
        vec![("name".to_string(), b"Robert".to_vec())]
    );

    // Everything removed: nobody.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        rm(&entry.unwrap().path());
    }
    assert_denied(&curve(&mut auth, "", &alice2), "Unknown key");
    assert_denied(&curve(&mut auth, "", &bob2), "Unknown key");
}

#[test]
fn configure_curve_again_forces_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    create_certificates(dir.path(), "alice", &[]).unwrap();
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::from_secs(3600));
    auth.configure_curve("*", dir.path()).unwrap();
    let (bob_pub, _) = create_certificates(dir.path(), "bob", &[]).unwrap();
    let bob = public_key_of(&bob_pub);
    // With an hour between checks, the new file is not seen yet...
    assert_denied(&curve(&mut auth, "", &bob), "Unknown key");
    // ...until configure_curve is called again.
    auth.configure_curve("*", dir.path()).unwrap();
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));
}

/// Writes a public certificate by hand (ZPL), for keys and metadata of our choosing.
fn write_public_cert(path: &Path, public_z85: &str, metadata: &[(&str, &str)]) {
    let mut text = String::from("#   hand-written test certificate\n");
    if !metadata.is_empty() {
        text.push_str("metadata\n");
        for (k, v) in metadata {
            text.push_str(&format!("    {k} = \"{v}\"\n"));
        }
    }
    text.push_str(&format!("curve\n    public-key = \"{public_z85}\"\n"));
    std::fs::write(path, text).unwrap();
}

#[test]
fn corrupt_and_duplicate_files_do_not_stop_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_pub, _) = create_certificates(dir.path(), "alice", &[]).unwrap();
    let (bob_pub, _) = create_certificates(dir.path(), "bob", &[]).unwrap();
    let alice = public_key_of(&alice_pub);
    let bob = public_key_of(&bob_pub);
    let d = dir.path();
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_curve("*", d).unwrap();
    // Bad files added after configuration admit no one; the rest applies.
    std::fs::write(d.join("corrupt.key"), "this is not ZPL\n\t= at all\n").unwrap();
    std::fs::write(d.join("binary.key"), [0xffu8, 0xfe, 0x00, 0x01]).unwrap();
    std::fs::write(d.join("empty.key"), "").unwrap();
    write_public_cert(&d.join("short.key"), &encode_z85_key(&STRANGER)[..39], &[]);
    write_public_cert(
        &d.join("badchar.key"),
        &format!("~{}", &encode_z85_key(&STRANGER)[1..]),
        &[],
    );
    std::fs::copy(&alice_pub, d.join("alice-copy.key")).unwrap();
    // Files that are not *.key are not read.
    write_public_cert(&d.join("friend.txt"), &encode_z85_key(&FRIEND), &[]);
    write_public_cert(&d.join("friend.key_secret"), &encode_z85_key(&FRIEND), &[]);

    assert_ok(&curve(&mut auth, "", &alice), &encode_z85_key(&alice));
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));
    assert_denied(&curve(&mut auth, "", &STRANGER), "Unknown key");
    // A configuration call with the same files is an error naming one, and changes
    // nothing.
    let err = auth.configure_curve("*", d).unwrap_err().to_string();
    assert!(err.contains(".key"), "{err}");
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));
    assert_denied(&curve(&mut auth, "", &FRIEND), "Unknown key");

    // Removing one of two files with the same key keeps the key...
    rm(&alice_pub);
    assert_ok(&curve(&mut auth, "", &alice), &encode_z85_key(&alice));
    // ...removing the other drops it.
    rm(&d.join("alice-copy.key"));
    assert_denied(&curve(&mut auth, "", &alice), "Unknown key");
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));

    // A corrupt file that gets fixed is picked up.
    write_public_cert(&d.join("corrupt.key"), &encode_z85_key(&FRIEND), &[]);
    assert_ok(&curve(&mut auth, "", &FRIEND), &encode_z85_key(&FRIEND));
    // And one that turns corrupt drops its key.
    std::fs::write(d.join("corrupt.key"), "curve\n    public-key = \"short\"\n").unwrap();
    assert_denied(&curve(&mut auth, "", &FRIEND), "Unknown key");
}

/// Sets every file's mtime in `dir` an hour back, as for certificates installed long
/// before the server started (files written within the last moment are re-read on
/// every pass, which would hide stale state).
fn age_files(dir: &Path) {
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir).unwrap() {
        let f = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        f.set_modified(past).unwrap();
    }
}

#[test]
fn duplicate_key_metadata_follows_the_remaining_file() {
    // §4.4: the metadata is that of the client's certificate. When two files carry
    // the same key and one goes away, the one left is the client's certificate.
    // Both load orders are tried ("0-" sorts before "alice", "z-" after it).
    let mut wrong = Vec::new();
    for copy_name in ["0-copy.key", "z-copy.key"] {
        for copy_meta in [&[("name", "Copy")][..], &[][..]] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let (alice_pub, _) = create_certificates(d, "alice", &[("name", "Alice")]).unwrap();
            let alice = public_key_of(&alice_pub);
            let z = encode_z85_key(&alice);
            write_public_cert(&d.join(copy_name), &z, copy_meta);
            age_files(d);
            let mut auth = Authenticator::new();
            auth.set_reload_interval(Duration::ZERO);
            auth.configure_curve("*", d).unwrap();
            assert_ok(&curve(&mut auth, "", &alice), &z);
            rm(&alice_pub);
            let r = curve(&mut auth, "", &alice);
            assert_ok(&r, &z);
            let expected: Vec<(String, Vec<u8>)> = copy_meta
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect();
            let got = decode_metadata(r.metadata()).unwrap();
            if got != expected {
                wrong.push(format!(
                    "{copy_name} with metadata {copy_meta:?} left: reply metadata {:?}",
                    got.iter()
                        .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v)))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "after removing alice.key (name=Alice), the reply still carries metadata of the \
         removed file instead of the remaining certificate's:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn old_certificate_files_are_reloaded_too() {
    // The same add/remove/edit cycle with files whose mtime is long past.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (alice_pub, _) = create_certificates(d, "alice", &[("name", "A")]).unwrap();
    let (bob_pub, _) = create_certificates(d, "bob", &[]).unwrap();
    let alice = public_key_of(&alice_pub);
    let bob = public_key_of(&bob_pub);
    age_files(d);
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_curve("*", d).unwrap();
    assert_ok(&curve(&mut auth, "", &alice), &encode_z85_key(&alice));
    rm(&alice_pub);
    assert_denied(&curve(&mut auth, "", &alice), "Unknown key");
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));
    let (carol_pub, _) = create_certificates(d, "carol", &[]).unwrap();
    age_files(d);
    let carol = public_key_of(&carol_pub);
    assert_ok(&curve(&mut auth, "", &carol), &encode_z85_key(&carol));
}

#[test]
fn unreadable_certificate_directory_gives_500_then_recovers() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("certs");
    std::fs::create_dir(&dir).unwrap();
    let (alice_pub, _) = create_certificates(&dir, "alice", &[]).unwrap();
    let alice = public_key_of(&alice_pub);
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_curve("*", &dir).unwrap();
    assert_ok(&curve(&mut auth, "", &alice), &encode_z85_key(&alice));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_reply(&curve(&mut auth, "", &alice), 500, "Internal error", "");
    assert_reply(&curve(&mut auth, "", &STRANGER), 500, "Internal error", "");
    // The handler keeps serving other mechanisms.
    assert_ok(&null(&mut auth, "127.0.0.1"), "anonymous");
    // The directory comes back with another certificate.
    std::fs::create_dir(&dir).unwrap();
    let (bob_pub, _) = create_certificates(&dir, "bob", &[]).unwrap();
    let bob = public_key_of(&bob_pub);
    assert_ok(&curve(&mut auth, "", &bob), &encode_z85_key(&bob));
    assert_denied(&curve(&mut auth, "", &alice), "Unknown key");
}

// ---------------------------------------------------------------------------------
// 6. password files (§5)

fn write(path: &PathBuf, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn password_file_is_reloaded_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    write(&path, "# users\n\nalice = one\n");
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_plain_file("*", &path).unwrap();
    assert_ok(&plain(&mut auth, "", "alice", "one"), "alice");
    assert_denied(&plain(&mut auth, "", "bob", "three"), "Invalid username");

    // Rewritten with a different size: new passwords, old ones gone.
    write(&path, "alice=two22\nbob=three\n");
    assert_denied(&plain(&mut auth, "", "alice", "one"), "Invalid password");
    assert_ok(&plain(&mut auth, "", "alice", "two22"), "alice");
    assert_ok(&plain(&mut auth, "", "bob", "three"), "bob");

    // A rewrite with a line the format does not know: that line admits no one, the
    // rest applies (bob is removed, alice's new password counts).
    write(&path, "alice=x\nthis line has no equals sign\n");
    assert_denied(&plain(&mut auth, "", "alice", "two22"), "Invalid password");
    assert_ok(&plain(&mut auth, "", "alice", "x"), "alice");
    assert_denied(&plain(&mut auth, "", "bob", "three"), "Invalid username");

    // Fixed again: loaded.
    write(&path, "carol=c\n");
    assert_ok(&plain(&mut auth, "", "carol", "c"), "carol");
    assert_denied(&plain(&mut auth, "", "alice", "two22"), "Invalid username");

    // Deleted: its users are revoked; PLAIN in the domain answers 500 until it is back.
    std::fs::remove_file(&path).unwrap();
    assert_reply(
        &plain(&mut auth, "", "carol", "c"),
        500,
        "Internal error",
        "",
    );
    // And recreated: read again.
    write(&path, "dave=dddd\nerin=e\n");
    assert_ok(&plain(&mut auth, "", "dave", "dddd"), "dave");
    assert_denied(&plain(&mut auth, "", "carol", "c"), "Invalid username");
}

#[test]
fn password_file_errors_keep_previous_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let mut auth = Authenticator::new();
    auth.configure_plain("*", [("alice", "pw")]).unwrap();

    // Missing file: an error, nothing changed.
    let err = auth
        .configure_plain_file("*", dir.path().join("missing"))
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_ok(&plain(&mut auth, "", "alice", "pw"), "alice");

    // Malformed file: an error (with its line), nothing changed.
    let path = dir.path().join("bad");
    write(&path, "bob=b\n# fine\nbroken line\n");
    let err = auth.configure_plain_file("*", &path).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 3, .. }), "{err:?}");
    assert_ok(&plain(&mut auth, "", "alice", "pw"), "alice");
    assert_denied(&plain(&mut auth, "", "bob", "b"), "Invalid username");

    // Empty user name and a user listed twice are malformed too.
    write(&path, "=pw\n");
    assert!(auth.configure_plain_file("*", &path).is_err());
    write(&path, "bob=1\nbob=2\n");
    assert!(auth.configure_plain_file("*", &path).is_err());
    assert_ok(&plain(&mut auth, "", "alice", "pw"), "alice");

    // A directory is not a password file.
    assert!(auth.configure_plain_file("*", dir.path()).is_err());
    assert_ok(&plain(&mut auth, "", "alice", "pw"), "alice");

    // A file for another domain does not touch "*".
    write(&path, "bob=b\n");
    auth.configure_plain_file("dom", &path).unwrap();
    assert_ok(&plain(&mut auth, "dom", "bob", "b"), "bob");
    assert_ok(&plain(&mut auth, "", "alice", "pw"), "alice");
    assert_denied(&plain(&mut auth, "", "bob", "b"), "Invalid username");
}

#[test]
fn password_file_same_size_rewrite_within_one_timestamp_tick_is_reloaded() {
    // §5: the password file "is reloaded when it changes". File timestamps come from a
    // coarse clock (Linux: the scheduler tick; FAT: 2 s; HFS+: 1 s), so an edit that
    // keeps the size and lands in the same tick as the previous read keeps (size,
    // mtime). The certificate store re-reads such recent files (its GRANULARITY
    // window); the password file must not miss the change forever either. The
    // same-tick timestamp is reproduced deterministically by restoring the mtime.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    write(&path, "alice=aaaa\n");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_plain_file("*", &path).unwrap();
    assert_ok(&plain(&mut auth, "", "alice", "aaaa"), "alice");

    write(&path, "alice=bbbb\n"); // same size
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_ok(&plain(&mut auth, "", "alice", "bbbb"), "alice");
    assert_denied(&plain(&mut auth, "", "alice", "aaaa"), "Invalid password");
}

#[test]
fn certificate_same_size_rewrite_within_one_timestamp_tick_is_reloaded() {
    // The certificate-directory counterpart of the test above: same size, same mtime.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = d.join("client.key");
    let old = [0x11u8; 32];
    let new = [0x22u8; 32];
    write_public_cert(&path, &encode_z85_key(&old), &[("name", "AAAA")]);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut auth = Authenticator::new();
    auth.set_reload_interval(Duration::ZERO);
    auth.configure_curve("*", d).unwrap();
    assert_ok(&curve(&mut auth, "", &old), &encode_z85_key(&old));

    write_public_cert(&path, &encode_z85_key(&new), &[("name", "BBBB")]);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = curve(&mut auth, "", &new);
    assert_ok(&r, &encode_z85_key(&new));
    assert_eq!(
        decode_metadata(r.metadata()).unwrap(),
        vec![("name".to_string(), b"BBBB".to_vec())]
    );
    assert_denied(&curve(&mut auth, "", &old), "Unknown key");
}
