//! Password-file text: `configure_plain_file` (strict) and the re-check of a configured
//! file (lenient), then PLAIN requests decided by the policy built from it, against an
//! independent reading of the format (DESIGN §5, "Fail closed" 2 and 3).
//!
//! Input: `sel ++ text`. The text is written to a file and configured; then a good file
//! is configured, overwritten with the text and re-checked on the next request. For each
//! name the oracle knows, the right password, a wrong one and an unknown user are asked.
//! Maps holding an argon2id hash are parsed but not asked (each check costs a hash).
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use zmq_auth::Authenticator;

/// What the format says a text yields.
struct Expected {
    /// Names that admit, with their password (plaintext entries only).
    users: HashMap<String, String>,
    /// Names configured with a hash-like value (admit or not: not asked).
    hashed: Vec<String>,
    /// A line that is doubtful whatever the hash checks say.
    problem: bool,
}

/// The format (the `configure_plain_file` docs): `str::lines`, trimmed; blank and `#`
/// lines skipped; `name=password` split at the first `=`, both trimmed; a line without
/// `=`, an empty name, an empty password or a repeated name is a problem, and a name
/// with a problem admits no one (all its lines). A `$id$...` value (id: 1 to 32 of
/// `a-z 0-9 -`) is a hash: `$argon2id$` ones are checked as hashes, any other id is a
/// problem (README: "any other `$id$...` value ... is an error").
/// The fixed wording of the password-file errors (src/plain.rs, src/phc.rs): a password
/// that is a piece of it (`argon2id`, found by libFuzzer) is not shown by the error.
const WORDING: &[&str] = &[
    "expected name=password",
    "empty user name",
    "listed twice",
    "has an empty password",
    "has an unusable password hash (a `$...$` value of an algorithm that is not argon2id \
     (only argon2id PHC hashes are accepted: make one with zmq_auth::hash_password or \
     `zmq-auth user add --file`))",
    "not an argon2id PHC hash",
    "not a PHC hash",
    "PHC hash without salt or hash",
    "unusable argon2id parameters",
    "exceed the limits",
];

/// The id of a value that looks like a PHC or crypt(3) hash (`$id$...`).
fn hash_id(value: &str) -> Option<&str> {
    let (id, _) = value.strip_prefix('$')?.split_once('$')?;
    let ok = (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(id)
}

fn expected(text: &str) -> Expected {
    let mut users: HashMap<String, String> = HashMap::new();
    let mut seen: HashMap<String, bool> = HashMap::new(); // name -> poisoned
    let mut hashed = Vec::new();
    let mut problem = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, pw)) = line.split_once('=') else {
            problem = true;
            continue;
        };
        let (name, pw) = (name.trim(), pw.trim());
        if name.is_empty() {
            problem = true;
            continue;
        }
        if seen.contains_key(name) || pw.is_empty() {
            problem = true;
            users.remove(name);
            seen.insert(name.to_string(), true);
            continue;
        }
        match hash_id(pw) {
            // A hash of another kind (bcrypt, crypt, a typo) is never a plaintext
            // password: a problem, and the name admits no one.
            Some(id) if id != "argon2id" => {
                problem = true;
                users.remove(name);
                seen.insert(name.to_string(), true);
            }
            Some(_) => {
                seen.insert(name.to_string(), false);
                hashed.push(name.to_string());
            }
            None => {
                seen.insert(name.to_string(), false);
                users.insert(name.to_string(), pw.to_string());
            }
        }
    }
    hashed.retain(|n| seen.get(n) == Some(&false));
    Expected {
        users,
        hashed,
        problem,
    }
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("zmq-auth-fuzz-pw-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn plain<'a>(id: &'a [u8], user: &'a [u8], pw: &'a [u8]) -> [&'a [u8]; 8] {
    [b"1.0", id, b"", b"127.0.0.1", b"", b"PLAIN", user, pw]
}

/// Asks what `exp` says about every name; `None` users: the file is unusable (500).
fn ask(auth: &mut Authenticator, exp: &Expected, unusable: bool) {
    let status = |auth: &mut Authenticator, u: &[u8], p: &[u8]| {
        let r = auth.handle_zap_message(&plain(b"1", u, p));
        (
            r.status_code(),
            r.status_text().to_string(),
            r.user_id().to_string(),
        )
    };
    if unusable {
        let (code, text, _) = status(auth, b"anyone", b"pw");
        assert_eq!((code, text.as_str()), (500, "Internal error"));
        return;
    }
    if !exp.hashed.is_empty() {
        return;
    }
    for (name, pw) in exp.users.iter().take(8) {
        let got = status(auth, name.as_bytes(), pw.as_bytes());
        assert_eq!(got, (200, "OK".to_string(), name.clone()), "user {name:?}");
        let wrong = format!("{pw}x");
        let got = status(auth, name.as_bytes(), wrong.as_bytes());
        assert_eq!(
            (got.0, got.1.as_str()),
            (400, "Invalid password"),
            "user {name:?}"
        );
        let got = status(auth, name.as_bytes(), b"");
        assert_eq!(got.0, 400, "empty password admitted for {name:?}");
        // The name padded as the file allows: the request's name is taken as it is.
        let padded = format!(" {name}");
        if !exp.users.contains_key(&padded) && !exp.hashed.contains(&padded) {
            let got = status(auth, padded.as_bytes(), pw.as_bytes());
            assert_eq!((got.0, got.1.as_str()), (400, "Invalid username"));
        }
    }
    let unknown = "no such user \u{0}";
    let got = status(auth, unknown.as_bytes(), b"pw");
    assert_eq!((got.0, got.1.as_str()), (400, "Invalid username"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(bytes);
    // Raw bytes (possibly not UTF-8) when sel says so; the oracle then expects an error.
    let raw_bytes = sel & 1 == 1;
    let utf8 = !raw_bytes || std::str::from_utf8(bytes).is_ok();
    let content: &[u8] = if raw_bytes { bytes } else { text.as_bytes() };
    let exp = expected(&text);
    let dir = dir();

    // 1. Strict: any doubtful line is an error, and nothing changes.
    let path = dir.join("strict");
    std::fs::write(&path, content).unwrap();
    let mut auth = Authenticator::new();
    auth.configure_plain("*", [("before", "pw-before")])
        .unwrap();
    let result = auth.configure_plain_file("*", &path);
    if let Err(e) = &result {
        // Errors name the line and the user, never a password.
        let msg = format!("{e} {e:?}");
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('=').map(|(n, _)| n))
            .collect();
        let path_text = format!("{path:?} {}", path.display());
        for pw in exp.users.values().filter(|p| p.len() >= 8) {
            if names.iter().any(|n| n.contains(pw.as_str()))
                || path_text.contains(pw.as_str())
                || WORDING.iter().any(|w| w.contains(pw.as_str()))
            {
                continue;
            }
            assert!(!msg.contains(pw.as_str()), "error shows a password: {msg}");
        }
    }
    match (utf8, exp.problem, exp.hashed.is_empty(), &result) {
        (false, _, _, r) => assert!(r.is_err(), "a file that is not UTF-8 was accepted"),
        (true, true, _, r) => assert!(r.is_err(), "a doubtful line was accepted"),
        (true, false, true, r) => assert!(r.is_ok(), "a good file was refused: {r:?}"),
        _ => {} // depends on the hash checks
    }
    if result.is_ok() {
        ask(&mut auth, &exp, false);
    } else {
        let r = auth.handle_zap_message(&plain(b"1", b"before", b"pw-before"));
        assert_eq!(
            r.status_code(),
            200,
            "a refused configuration changed the policy"
        );
    }

    // 2. Lenient: a configured file rewritten with the text; a doubtful line admits no
    // one, every good line applies.
    let path = dir.join("lenient");
    std::fs::write(&path, "base=pw-base\n").unwrap();
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &path).unwrap();
    auth.set_reload_interval(Duration::ZERO);
    std::fs::write(&path, content).unwrap();
    ask(&mut auth, &exp, !utf8);
    if utf8 && exp.hashed.is_empty() && !exp.users.contains_key("base") {
        let r = auth.handle_zap_message(&plain(b"1", b"base", b"pw-base"));
        assert_eq!(
            r.status_code(),
            400,
            "a user removed from the file still admitted"
        );
    }
});
