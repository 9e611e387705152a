//! Hardening (issue #6): malformed ZAP requests and faults in user code, over the real
//! ZAP endpoint. A DEALER in the same context as a running `ThreadAuthenticator` plays
//! libzmq's part, with and without the REQ-style empty delimiter frame. After every
//! request the thread must still be alive and answer the next valid request correctly.

mod hardening_common;

use hardening_common::{assert_status, short, zap_dealer, zap_roundtrip};
use zmq_auth::{zmq, CredentialsProvider, CurveDecision, Error, ThreadAuthenticator};

/// The one CURVE key the `*` domain's callback admits.
const GOOD_KEY: [u8; 32] = [0x42; 32];
/// A key on which the user-id function panics.
const PANIC_UID_KEY: [u8; 32] = [0xEE; 32];

struct Fixture {
    // Field order: sockets and the authenticator go before the context.
    dealer: zmq::Socket,
    auth: ThreadAuthenticator,
    _ctx: zmq::Context,
    gssapi: bool,
}

/// A provider whose backing store is "down": every key gets `TryLater`.
struct Unavailable;

impl CredentialsProvider for Unavailable {
    fn callback(&self, _domain: &str, _key: &str) -> bool {
        false
    }
    fn decide(&self, _domain: &str, _key: &str) -> CurveDecision {
        CurveDecision::TryLater
    }
}

fn fixture() -> Fixture {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).expect("start");
    auth.deny(["192.0.2.0/24"]).unwrap();
    auth.configure_plain("*", [("admin", "correct-horse")])
        .unwrap();
    let good = zmq_auth::encode_z85_key(&GOOD_KEY);
    auth.configure_curve_callback("*", move |_d: &str, k: &str| k == good)
        .unwrap();
    auth.configure_curve_callback("panic", |_d: &str, _k: &str| -> bool {
        panic!("credentials store exploded")
    })
    .unwrap();
    auth.configure_curve_callback("panic-any", |_d: &str, _k: &str| -> bool {
        std::panic::panic_any(42_u32)
    })
    .unwrap();
    auth.configure_curve_provider("later", Unavailable).unwrap();
    auth.configure_curve_callback("uid", |_d: &str, _k: &str| true)
        .unwrap();
    auth.set_curve_user_id(|k: &[u8; 32]| {
        if *k == PANIC_UID_KEY {
            panic!("user-id function exploded");
        }
        format!("user-{:02x}", k[0])
    })
    .unwrap();
    let gssapi = zmq::has("gssapi").unwrap_or(false);
    if gssapi {
        auth.configure_gssapi("*").unwrap();
    }
    let dealer = zap_dealer(&ctx);
    Fixture {
        dealer,
        auth,
        _ctx: ctx,
        gssapi,
    }
}

impl Fixture {
    /// The thread is alive and answers a valid PLAIN and a valid CURVE request.
    #[track_caller]
    fn assert_serving(&self, after: &str) {
        assert!(self.auth.is_alive(), "thread died after {after}");
        for delimiter in [true, false] {
            let r = zap_roundtrip(
                &self.dealer,
                &[
                    b"1.0",
                    b"ok",
                    b"",
                    b"127.0.0.1",
                    b"",
                    b"PLAIN",
                    b"admin",
                    b"correct-horse",
                ],
                delimiter,
            );
            assert_status(&r, "200", "OK");
            assert_eq!(r[1], b"ok", "request id after {after}");
            assert_eq!(r[4], b"admin", "user id after {after}");
            let r = zap_roundtrip(
                &self.dealer,
                &[b"1.0", b"ok2", b"", b"127.0.0.1", b"", b"CURVE", &GOOD_KEY],
                delimiter,
            );
            assert_status(&r, "200", "OK");
            assert_eq!(r[4], b"user-42", "CURVE user id after {after}");
        }
    }

    /// Sends `frames` with and without the delimiter; checks the echoed request id and,
    /// when given, status and text; then checks that the thread still serves.
    #[track_caller]
    fn check(&self, name: &str, frames: &[&[u8]], expect: Option<(&str, &str)>) {
        let request_id: &[u8] = frames.get(1).copied().unwrap_or(b"");
        for delimiter in [true, false] {
            let r = zap_roundtrip(&self.dealer, frames, delimiter);
            assert_eq!(
                r[1], request_id,
                "{name} (delimiter {delimiter}): request id not echoed"
            );
            if let Some((code, text)) = expect {
                assert_eq!(
                    (&r[2][..], &r[3][..]),
                    (code.as_bytes(), text.as_bytes()),
                    "{name} (delimiter {delimiter}): {:?}",
                    short(&r)
                );
            }
            self.assert_serving(name);
        }
    }
}

#[test]
fn every_frame_count_gets_an_addressed_reply() {
    let f = fixture();
    // An empty delimiter alone: no body at all.
    let r = zap_roundtrip(&f.dealer, &[], true);
    assert_status(&r, "400", "Not enough frames");
    assert!(r[1].is_empty());
    f.assert_serving("an empty delimiter only");

    let key: &[u8] = &GOOD_KEY;
    let curve: Vec<&[u8]> = vec![b"1.0", b"42", b"", b"127.0.0.1", b"ident", b"CURVE", key];
    let plain: Vec<&[u8]> = vec![
        b"1.0",
        b"43",
        b"",
        b"127.0.0.1",
        b"ident",
        b"PLAIN",
        b"admin",
        b"correct-horse",
    ];
    for n in 1..=12 {
        for (mech, base, valid_len) in [("CURVE", &curve, 7), ("PLAIN", &plain, 8)] {
            let mut frames: Vec<&[u8]> = base.iter().copied().take(n).collect();
            while frames.len() < n {
                frames.push(b"extra");
            }
            let expect = if n < 6 {
                ("400", "Not enough frames")
            } else if n == valid_len {
                ("200", "OK")
            } else {
                ("400", "Invalid credentials")
            };
            f.check(&format!("{mech} with {n} frames"), &frames, Some(expect));
        }
    }
    // NULL takes no credentials; extra frames must still get a well-formed reply.
    for n in 6..=12 {
        let mut frames: Vec<&[u8]> = vec![b"1.0", b"44", b"", b"127.0.0.1", b"", b"NULL"];
        frames.resize(n, b"extra");
        f.check(&format!("NULL with {n} frames"), &frames, None);
    }
}

#[test]
fn wrong_version_and_unknown_mechanism() {
    let f = fixture();
    for version in [
        &b"1.1"[..],
        b"2.0",
        b"1.0\0",
        b"1.00",
        b" 1.0",
        b"1",
        b"\xff.0",
    ] {
        f.check(
            &format!("version {version:?}"),
            &[version, b"7", b"", b"127.0.0.1", b"", b"NULL"],
            Some(("400", "Invalid version")),
        );
    }
    for mech in [
        &b"FOO"[..],
        b"null",
        b"",
        b"CURVE ",
        b"PLAIN\0",
        b"\xff\xfe",
        b"GSSAPI\xff",
    ] {
        f.check(
            &format!("mechanism {mech:?}"),
            &[b"1.0", b"8", b"", b"127.0.0.1", b"", mech, b"x"],
            Some(("400", "Unsupported mechanism")),
        );
    }
    let r = zap_roundtrip(
        &f.dealer,
        &[b"1.0", b"9", b"", b"192.0.2.9", b"", b"NULL"],
        true,
    );
    assert_status(&r, "400", "Address denied");
}

#[test]
fn empty_first_frame_with_and_without_delimiter() {
    let f = fixture();
    // With a delimiter, an empty version frame is just a wrong version.
    let r = zap_roundtrip(
        &f.dealer,
        &[b"", b"10", b"", b"127.0.0.1", b"", b"NULL"],
        true,
    );
    assert_status(&r, "400", "Invalid version");
    assert_eq!(r[1], b"10");
    // Without one, an empty first frame cannot be told from a delimiter: the thread
    // takes it as one. The reply must still arrive, well formed after the delimiter.
    f.dealer
        .send_multipart([&b""[..], b"11", b"", b"127.0.0.1", b"", b"NULL"], 0)
        .unwrap();
    let mut r = f.dealer.recv_multipart(0).expect("a reply");
    assert!(r.len() >= 6, "{:?}", short(&r));
    let r = r.split_off(r.len() - 6);
    assert_eq!(r[0], b"1.0");
    assert_eq!(r[2], b"400", "{:?}", short(&r));
    f.assert_serving("an empty first frame without delimiter");
}

#[test]
fn wrong_credentials() {
    let f = fixture();
    let k31 = [0x42u8; 31];
    let k33 = [0x42u8; 33];
    let z85 = zmq_auth::encode_z85_key(&GOOD_KEY);
    let cases: Vec<(&str, Vec<&[u8]>)> = vec![
        ("PLAIN, no credentials", vec![b"PLAIN"]),
        ("PLAIN, one credential", vec![b"PLAIN", b"admin"]),
        (
            "PLAIN, three",
            vec![b"PLAIN", b"admin", b"correct-horse", b"x"],
        ),
        ("CURVE, no key", vec![b"CURVE"]),
        ("CURVE, two keys", vec![b"CURVE", &GOOD_KEY, &GOOD_KEY]),
        ("CURVE, 31-byte key", vec![b"CURVE", &k31]),
        ("CURVE, 33-byte key", vec![b"CURVE", &k33]),
        ("CURVE, empty key", vec![b"CURVE", b""]),
        ("CURVE, Z85 text key", vec![b"CURVE", z85.as_bytes()]),
        ("GSSAPI, no principal", vec![b"GSSAPI"]),
        ("GSSAPI, two", vec![b"GSSAPI", b"a@R", b"b@R"]),
    ];
    for (name, tail) in cases {
        let mut frames: Vec<&[u8]> = vec![b"1.0", b"12", b"", b"127.0.0.1", b""];
        frames.extend(tail);
        f.check(name, &frames, Some(("400", "Invalid credentials")));
    }
    f.check(
        "PLAIN, wrong password",
        &[
            b"1.0",
            b"13",
            b"",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"",
        ],
        Some(("400", "Invalid password")),
    );
    f.check(
        "CURVE, unknown key",
        &[b"1.0", b"14", b"", b"127.0.0.1", b"", b"CURVE", &[7u8; 32]],
        Some(("400", "Unknown key")),
    );
}

#[test]
fn non_utf8_in_every_text_frame() {
    let f = fixture();
    let bad: &[u8] = b"\xff\xfe\xc3(\x80";
    let key: &[u8] = &GOOD_KEY;
    let plain = |i: usize, v: &'static [u8]| {
        let mut fr: Vec<&[u8]> = vec![
            b"1.0",
            b"15",
            b"",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"correct-horse",
        ];
        fr[i] = v;
        fr
    };
    let bad_static: &'static [u8] = b"\xff\xfe\xc3(\x80";
    f.check(
        "version",
        &plain(0, bad_static),
        Some(("400", "Invalid version")),
    );
    // Request ids are opaque bytes: echoed exactly (checked by `check`).
    f.check("request id", &plain(1, bad_static), Some(("200", "OK")));
    // An unparsable domain falls back to the `*` policies.
    f.check("domain", &plain(2, bad_static), Some(("200", "OK")));
    // An unparsable address matches no deny entry ...
    f.check("address", &plain(3, bad_static), Some(("200", "OK")));
    f.check("identity", &plain(4, bad_static), Some(("200", "OK")));
    f.check(
        "mechanism",
        &plain(5, bad_static),
        Some(("400", "Unsupported mechanism")),
    );
    f.check(
        "username",
        &plain(6, bad_static),
        Some(("400", "Invalid username")),
    );
    f.check(
        "password",
        &plain(7, bad_static),
        Some(("400", "Invalid password")),
    );
    f.check(
        "CURVE domain",
        &[b"1.0", b"16", bad, b"127.0.0.1", b"", b"CURVE", key],
        Some(("200", "OK")),
    );
    // ... and no allow entry.
    f.auth.clear_address_lists().unwrap();
    f.auth.allow(["127.0.0.1", "::1"]).unwrap();
    f.check(
        "address with an allow list",
        &plain(3, bad_static),
        Some(("400", "Address not allowed")),
    );
    f.auth.clear_address_lists().unwrap();
    f.auth.deny(["192.0.2.0/24"]).unwrap();
    // A GSSAPI principal that is not UTF-8 is refused: a lossy user id could be shared
    // by two principals (finding 8 of the engine issue).
    let frames: Vec<&[u8]> = vec![
        b"1.0",
        b"17",
        b"",
        b"127.0.0.1",
        b"",
        b"GSSAPI",
        b"user\xff@REALM",
    ];
    if f.gssapi {
        let r = zap_roundtrip(&f.dealer, &frames, true);
        assert_status(&r, "400", "Invalid principal");
        assert!(r[4].is_empty());
    } else {
        f.check("GSSAPI principal", &frames, Some(("400", "Unknown domain")));
    }
    f.assert_serving("non-UTF-8 frames");
}

#[test]
fn huge_frames_and_many_frames() {
    let f = fixture();
    let mib = vec![b'a'; 1 << 20];
    let mib_bin: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + 3) as u8).collect();
    // A password of its own: the peer's address and domain may be logged, and the
    // suite's secret audit (tests/suite_audit.rs) would find the password there.
    let mib_password: Vec<u8> = (0..1u32 << 20).map(|i| (i * 11 + 5) as u8).collect();
    let m: &[u8] = &mib;
    let b: &[u8] = &mib_bin;
    let p: &[u8] = &mib_password;
    let r = zap_roundtrip(
        &f.dealer,
        &[b"1.0", m, b"", b"127.0.0.1", b"", b"NULL"],
        true,
    );
    assert_status(&r, "200", "OK");
    assert_eq!(r[1].len(), 1 << 20, "a 1 MiB request id is echoed whole");
    f.check(
        "1 MiB version",
        &[m, b"1", b"", b"127.0.0.1", b"", b"NULL"],
        Some(("400", "Invalid version")),
    );
    f.check(
        "1 MiB domain",
        &[
            b"1.0",
            b"1",
            b,
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b"admin",
            b"correct-horse",
        ],
        Some(("200", "OK")),
    );
    f.check(
        "1 MiB address",
        &[b"1.0", b"1", b"", b, b"", b"NULL"],
        Some(("200", "OK")),
    );
    f.check(
        "1 MiB mechanism",
        &[b"1.0", b"1", b"", b"127.0.0.1", b"", m],
        Some(("400", "Unsupported mechanism")),
    );
    f.check(
        "1 MiB username",
        &[
            b"1.0",
            b"1",
            b"",
            b"127.0.0.1",
            b"",
            b"PLAIN",
            b,
            b"correct-horse",
        ],
        Some(("400", "Invalid username")),
    );
    f.check(
        "1 MiB password",
        &[b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", p],
        Some(("400", "Invalid password")),
    );
    f.check(
        "1 MiB CURVE key",
        &[b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", b],
        Some(("400", "Invalid credentials")),
    );

    let mut many: Vec<&[u8]> = vec![b"1.0", b"2", b"", b"127.0.0.1", b"", b"PLAIN"];
    many.resize(10_000, b"x");
    f.check("10,000 frames", &many, Some(("400", "Invalid credentials")));
    let versions: Vec<&[u8]> = vec![b"1.0"; 10_000];
    f.check(
        "10,000 version frames",
        &versions,
        Some(("400", "Unsupported mechanism")),
    );
    let empties: Vec<&[u8]> = vec![b""; 10_000];
    let r = zap_roundtrip(&f.dealer, &empties, true);
    assert_status(&r, "400", "Invalid version");
    f.assert_serving("10,000 empty frames");
}

#[test]
fn panicking_callback_gives_500_and_the_thread_survives() {
    let f = fixture();
    for domain in [&b"panic"[..], b"panic-any"] {
        for round in 0..3 {
            f.check(
                &format!("panicking callback {domain:?} #{round}"),
                &[
                    b"1.0",
                    b"20",
                    domain,
                    b"127.0.0.1",
                    b"",
                    b"CURVE",
                    &GOOD_KEY,
                ],
                Some(("500", "Internal error")),
            );
        }
    }
}

#[test]
fn panicking_user_id_function_gives_500_and_the_thread_survives() {
    let f = fixture();
    for round in 0..3 {
        f.check(
            &format!("panicking user-id function #{round}"),
            &[
                b"1.0",
                b"21",
                b"uid",
                b"127.0.0.1",
                b"",
                b"CURVE",
                &PANIC_UID_KEY,
            ],
            Some(("500", "Internal error")),
        );
    }
    let r = zap_roundtrip(
        &f.dealer,
        &[
            b"1.0",
            b"22",
            b"uid",
            b"127.0.0.1",
            b"",
            b"CURVE",
            &[1u8; 32],
        ],
        true,
    );
    assert_status(&r, "200", "OK");
    assert_eq!(r[4], b"user-01");
}

#[test]
fn try_later_provider_gives_300() {
    let f = fixture();
    f.check(
        "TryLater provider",
        &[
            b"1.0",
            b"23",
            b"later",
            b"127.0.0.1",
            b"",
            b"CURVE",
            &GOOD_KEY,
        ],
        Some(("300", "Try later")),
    );
}

#[test]
fn panicking_configuration_closure_is_an_error_and_the_thread_survives() {
    let f = fixture();
    let r = f.auth.configure(|_| panic!("configuration exploded"));
    assert!(matches!(r, Err(Error::Panicked(_))), "{r:?}");
    f.assert_serving("a panicking configuration closure");
}

#[test]
fn a_flooding_peer_does_not_starve_others() {
    let f = fixture();
    // Subscribed (events are built from the first `events()` call on), never read.
    let _events = f.auth.events();
    let ctx2 = &f._ctx;
    let flooder = ctx2.socket(zmq::DEALER).unwrap();
    flooder.set_linger(0).unwrap();
    flooder.set_sndhwm(100_000).unwrap();
    flooder.connect(zmq_auth::ZAP_ENDPOINT).unwrap();
    // 20,000 valid NULL requests whose replies are never read (so the thread's replies
    // hit the high-water mark and are dropped), and whose events nobody reads.
    let mut sent = 0;
    for i in 0..20_000u32 {
        let id = i.to_string();
        let frames: [&[u8]; 7] = [b"", b"1.0", id.as_bytes(), b"", b"127.0.0.1", b"", b"NULL"];
        if flooder.send_multipart(frames, zmq::DONTWAIT).is_ok() {
            sent += 1;
        }
    }
    assert!(sent > 1000, "only {sent} requests queued");
    let t = std::time::Instant::now();
    f.assert_serving("a flood of unread requests");
    eprintln!(
        "{sent} flood requests; a valid request answered in {:?}; {} events dropped",
        t.elapsed(),
        f.auth.events_dropped()
    );
    // Let the flood drain; the unread event stream overflows without blocking.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.auth.events_dropped() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        f.auth.events_dropped() > 0,
        "the event stream never overflowed"
    );
    f.assert_serving("an overflowing event stream");
}
