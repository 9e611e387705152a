//! The ZAP request → decision path: `Authenticator::handle_zap_message` on frames split
//! from the input, checked against an independent oracle of the expected reply.
//!
//! Input: `sel[4] ++ frames`, each frame a length byte (255: a big-endian u16 length
//! follows) and that many bytes. Every input is decided twice: as raw frames, and as a
//! request built from `sel` (tables of valid versions, domains, addresses, mechanisms and
//! credentials, so the deep paths are reached without a dictionary).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use zmq_auth::{
    create_certificates, decode_metadata, encode_z85_key, load_certificate, split_envelope,
    Authenticator, CredentialsProvider, CurveDecision, ZapReply,
};

struct State {
    auth: Authenticator,
    alice: [u8; 32],
    bob: [u8; 32],
    gssapi: bool,
}

/// The `cb` domain's provider: `key[0] % 3` → allow, deny, try later.
struct ByFirstByte;

fn provider_rule(key: &[u8; 32]) -> CurveDecision {
    match key[0] % 3 {
        0 => CurveDecision::Allow,
        1 => CurveDecision::Deny,
        _ => CurveDecision::TryLater,
    }
}

impl CredentialsProvider for ByFirstByte {
    fn callback(&self, _domain: &str, _key: &str) -> bool {
        unreachable!("decide is overridden")
    }
    fn decide(&self, _domain: &str, key: &str) -> CurveDecision {
        let key = zmq_auth::decode_z85_key(key).expect("the handler passes 40 valid Z85");
        provider_rule(&key)
    }
}

// ("empty", "") would be refused by configure_plain: an empty password never admits.
const STAR_USERS: [(&str, &str); 1] = [("admin", "secret")];
const GLOBAL_USERS: [(&str, &str); 1] = [("g", "pw")];

fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        // Created once per fuzzing process.
        let dir = std::env::temp_dir().join(format!("zmq-auth-fuzz-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (alice, _) =
            create_certificates(&dir, "alice", &[("name", "Alice"), ("email", "a@x")]).unwrap();
        let (bob, _) = create_certificates(&dir, "bob", &[]).unwrap();
        let alice = *load_certificate(alice).unwrap().public_key_bytes();
        let bob = *load_certificate(bob).unwrap().public_key_bytes();

        let mut auth = Authenticator::new();
        auth.allow(["127.0.0.1", "::1", "10.0.0.0/8"]).unwrap();
        auth.configure_plain("*", STAR_USERS).unwrap();
        auth.configure_plain("global", GLOBAL_USERS).unwrap();
        auth.configure_curve("*", &dir).unwrap();
        // A broken file added later admits no one (configure_curve would refuse it).
        std::fs::write(
            dir.join("broken.key"),
            "curve\n    public-key = \"short\"\n",
        )
        .unwrap();
        auth.configure_curve("any", zmq_auth::CURVE_ALLOW_ANY)
            .unwrap();
        auth.configure_curve_provider("cb", ByFirstByte).unwrap();
        let gssapi = auth.configure_gssapi("krb").is_ok();
        Mutex::new(State {
            auth,
            alice,
            bob,
            gssapi,
        })
    })
}

/// Splits the input into frames (at most 64).
fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while let Some((&n, rest)) = data.split_first() {
        if frames.len() == 64 {
            break;
        }
        data = rest;
        let len = if n == 255 && data.len() >= 2 {
            let l = u16::from_be_bytes([data[0], data[1]]) as usize;
            data = &data[2..];
            l
        } else {
            n as usize
        };
        let (frame, rest) = data.split_at(len.min(data.len()));
        frames.push(frame);
        data = rest;
    }
    frames
}

/// Is this ZAP address in the allow list (127.0.0.1, ::1, 10.0.0.0/8), v4-mapped
/// addresses counting as their IPv4 address? An address may be in `[...]` and an IPv6
/// one may carry a `%zone`; nothing else (no padding) is accepted. Unparsable addresses
/// never match.
fn address_allowed(addr: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(addr) else {
        return false;
    };
    let text = match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => inner,
        None => text,
    };
    let text = match text.split_once('%') {
        Some((ip, _zone)) if ip.contains(':') => ip,
        _ => text,
    };
    let Ok(ip) = text.parse::<IpAddr>() else {
        return false;
    };
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST || v4.octets()[0] == 10,
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// The reply the design (§4, §5) requires: status, text, user id, metadata props.
type Expected = (u16, &'static str, Vec<u8>, Vec<(String, Vec<u8>)>);

fn expected(st: &State, f: &[&[u8]]) -> Expected {
    let no = |text| (400, text, Vec::new(), Vec::new());
    if f.len() < 6 {
        return no("Not enough frames");
    }
    if f[0] != b"1.0" {
        return no("Invalid version");
    }
    if !address_allowed(f[3]) {
        return no("Address not allowed");
    }
    let (domain, creds) = (f[2], &f[6..]);
    match f[5] {
        b"NULL" => (200, "OK", b"anonymous".to_vec(), Vec::new()),
        b"PLAIN" => {
            let [user, pass] = creds else {
                return no("Invalid credentials");
            };
            let users: &[(&str, &str)] = if domain == b"global" {
                &GLOBAL_USERS
            } else {
                &STAR_USERS
            };
            match users.iter().find(|(u, _)| u.as_bytes() == *user) {
                None => no("Invalid username"),
                Some((_, p)) if p.as_bytes() != *pass => no("Invalid password"),
                Some(_) => (200, "OK", user.to_vec(), Vec::new()),
            }
        }
        b"CURVE" => {
            let key: [u8; 32] = match creds {
                [k] => match <[u8; 32]>::try_from(*k) {
                    Ok(k) => k,
                    Err(_) => return no("Invalid credentials"),
                },
                _ => return no("Invalid credentials"),
            };
            let ok = |meta| (200, "OK", encode_z85_key(&key).into_bytes(), meta);
            match domain {
                b"any" => ok(Vec::new()),
                b"cb" => match provider_rule(&key) {
                    CurveDecision::Allow => ok(Vec::new()),
                    CurveDecision::Deny => no("Unknown key"),
                    CurveDecision::TryLater => (300, "Try later", Vec::new(), Vec::new()),
                },
                _ if key == st.alice => ok(vec![
                    ("name".into(), b"Alice".to_vec()),
                    ("email".into(), b"a@x".to_vec()),
                ]),
                _ if key == st.bob => ok(Vec::new()),
                _ => no("Unknown key"),
            }
        }
        b"GSSAPI" => match creds {
            [p] if domain == b"krb" && st.gssapi => match std::str::from_utf8(p) {
                // A NUL would cut the user id short for C readers (issue 21).
                Ok(s) if !s.is_empty() && !s.contains('\0') => {
                    (200, "OK", s.as_bytes().to_vec(), Vec::new())
                }
                _ => no("Invalid principal"),
            },
            [_] => no("Unknown domain"),
            _ => no("Invalid credentials"),
        },
        _ => no("Unsupported mechanism"),
    }
}

fn check(st: &mut State, frames: &[&[u8]]) {
    let reply: ZapReply = st.auth.handle_zap_message(frames);
    let wire = reply.frames();
    assert_eq!(wire.len(), 6);
    assert_eq!(wire[0], b"1.0");
    assert_eq!(reply.request_id(), frames.get(1).copied().unwrap_or(b""));
    let (code, text, user_id, meta) = expected(st, frames);
    let mut got_meta = decode_metadata(reply.metadata()).expect("reply metadata decodes");
    // A PLAIN admission carries the credential's version (for still_admits_version), a
    // 10-character URL-safe base64 fingerprint that never is the password; nothing else.
    if reply.status_code() == 200 && frames.get(5).copied() == Some(&b"PLAIN"[..]) {
        let version = got_meta
            .iter()
            .position(|(name, _)| name == "Credential-Version")
            .map(|i| got_meta.remove(i).1)
            .expect("a PLAIN admission carries Credential-Version");
        assert!(
            version.len() == 10
                && version
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        );
        assert_ne!(Some(&version[..]), frames.get(7).copied());
    }
    assert_eq!(
        (
            reply.status_code(),
            reply.status_text(),
            reply.user_id().as_bytes(),
            &got_meta
        ),
        (code, text, &user_id[..], &meta),
        "frames: {frames:?}"
    );
    assert_eq!(wire[2], code.to_string().as_bytes());
}

const VERSIONS: [&[u8]; 1] = [b"1.0"];
const DOMAINS: [&[u8]; 7] = [b"", b"*", b"global", b"any", b"cb", b"krb", b"other"];
const ADDRESSES: [&[u8]; 7] = [
    b"127.0.0.1",
    b"::ffff:127.0.0.1",
    b"10.9.8.7",
    b"::1",
    b"192.0.2.1",
    b"",
    b":0:0:1",
];
const MECHANISMS: [&[u8]; 5] = [b"NULL", b"PLAIN", b"CURVE", b"GSSAPI", b"CURVE"];

fuzz_target!(|data: &[u8]| {
    let mut st = state().lock().unwrap_or_else(|e| e.into_inner());
    let st = &mut *st;

    // 1. The raw frames, as given and after a ROUTER envelope split.
    let raw = split(data);
    check(st, &raw);
    let (env, body) = split_envelope(&raw);
    assert_eq!(env.len() + body.len(), raw.len());
    check(st, body);

    // 2. A request built from tables, to reach every decision.
    let Some((sel, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let raw = split(rest);
    let mut it = raw.iter().copied();
    let mut next = move || it.next().unwrap_or(b"");
    let version: &[u8] = if sel[0] & 1 == 0 { VERSIONS[0] } else { next() };
    let request_id = next();
    let i = sel[1] as usize % (DOMAINS.len() + 1);
    let domain: &[u8] = if i < DOMAINS.len() {
        DOMAINS[i]
    } else {
        next()
    };
    let i = sel[2] as usize % (ADDRESSES.len() + 1);
    let address: &[u8] = if i < ADDRESSES.len() {
        ADDRESSES[i]
    } else {
        next()
    };
    let identity = next();
    let i = sel[3] as usize % (MECHANISMS.len() + 1);
    let mechanism: &[u8] = if i < MECHANISMS.len() {
        MECHANISMS[i]
    } else {
        next()
    };
    let (alice, bob) = (st.alice, st.bob);
    let mut frames: Vec<&[u8]> = vec![version, request_id, domain, address, identity, mechanism];
    match (sel[0] >> 1) % 8 {
        0 => {
            while let f @ [_, ..] = next() {
                frames.push(f);
            }
        }
        1 => frames.push(&alice),
        2 => frames.push(&bob),
        3 => frames.extend([&b"admin"[..], b"secret"]),
        4 => frames.extend([&b"empty"[..], b""]),
        5 => frames.extend([&b"g"[..], b"pw"]),
        6 => frames.extend([next(), next()]),
        _ => frames.push(next()),
    }
    check(st, &frames);
});
