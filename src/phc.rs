//! argon2id password hashes in PHC string form (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`):
//! what stores keep and password files may hold instead of a plaintext password.
//!
//! Parameters: the `argon2` crate's defaults, argon2id with m = 19 MiB, t = 2, p = 1 (the
//! OWASP recommendation): about 20 ms per check on one core here. A check runs on the
//! engine's pool, never on the ZAP thread. Stored hashes carry their own parameters, so
//! hashes made with other parameters verify too, up to a limit: a peer that knows a
//! username makes the server run that user's hash, so a hash asking for more than
//! [`MAX_MEMORY_KIB`] of memory, [`MAX_TIME`] passes or [`MAX_LANES`] lanes is refused
//! (an error at configuration; at a re-check or from a store, it admits no one).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

/// The most memory (KiB) a stored hash may ask for: 64 MiB per check (the default is
/// 19 MiB; four pool threads then use at most 256 MiB).
pub(crate) const MAX_MEMORY_KIB: u32 = 64 * 1024;
/// The most passes a stored hash may ask for.
pub(crate) const MAX_TIME: u32 = 16;
/// The most lanes a stored hash may ask for.
pub(crate) const MAX_LANES: u32 = 8;

/// The algorithm id of a value that looks like a PHC or crypt(3) hash: `$id$...` with an
/// id of 1 to 32 characters `a-z 0-9 -` (`$argon2id$`, `$2b$`, `$6$`, `$y$`,
/// `$scrypt$`, `$pbkdf2-sha256$`).
fn hash_id(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('$')?;
    let (id, _) = rest.split_once('$')?;
    let ok = (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(id)
}

/// Does this password-file value or stored value look like a hash (rather than a
/// plaintext password)? Any `$id$...` value does, whatever its algorithm: a bcrypt or
/// crypt(3) hash pasted from another system must never become a plaintext password
/// (it is refused by [`validate`] instead).
pub(crate) fn looks_hashed(value: &str) -> bool {
    hash_id(value).is_some()
}

/// Algorithm ids of common PHC and crypt(3) hashes: an error may name these. Any other
/// id is not named: `$...$` may just as well be the start of a plaintext password.
const KNOWN_IDS: &[&str] = &[
    "argon2i",
    "argon2d",
    "1",
    "2",
    "2a",
    "2b",
    "2x",
    "2y",
    "5",
    "6",
    "7",
    "y",
    "gy",
    "md5",
    "sha1",
    "apr1",
    "scrypt",
    "bcrypt",
    "bcrypt-sha256",
    "pbkdf2",
    "pbkdf2-sha256",
    "pbkdf2-sha512",
    "sm3",
];

/// Checks that `value` is an argon2id PHC string this crate can verify. The message
/// never quotes the value (only a known algorithm's id, which is no secret).
pub(crate) fn validate(value: &str) -> std::result::Result<(), String> {
    const FIX: &str = "only argon2id PHC hashes are accepted: \
                       make one with zmq_auth::hash_password or `zmq-auth user add --file`";
    match hash_id(value) {
        Some("argon2id") => {}
        Some(id) if KNOWN_IDS.contains(&id) => {
            return Err(format!("a `${id}$` hash is not argon2id ({FIX})"))
        }
        Some(_) => {
            return Err(format!(
                "a `$...$` value of an algorithm that is not argon2id ({FIX})"
            ))
        }
        None => return Err("not an argon2id PHC hash".to_string()),
    }
    let parsed = PasswordHash::new(value).map_err(|e| format!("not a PHC hash: {e}"))?;
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return Err(format!(
            "hash algorithm {} is not argon2id",
            parsed.algorithm
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("PHC hash without salt or hash".to_string());
    }
    // Parameters only: a full check would cost a hash computation per entry.
    let p = argon2::Params::try_from(&parsed)
        .map_err(|e| format!("unusable argon2id parameters: {e}"))?;
    if p.m_cost() > MAX_MEMORY_KIB || p.t_cost() > MAX_TIME || p.p_cost() > MAX_LANES {
        return Err(format!(
            "argon2id parameters m={}, t={}, p={} exceed the limits m={MAX_MEMORY_KIB}, t={MAX_TIME}, p={MAX_LANES}",
            p.m_cost(),
            p.t_cost(),
            p.p_cost()
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt.
///
/// ```
/// let phc = zmq_auth::hash_password("correct-horse").unwrap();
/// assert!(phc.starts_with("$argon2id$"));
/// // Each hash has its own salt.
/// assert_ne!(phc, zmq_auth::hash_password("correct-horse").unwrap());
/// ```
pub fn hash_password(password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(Error::invalid_config(
            "an empty password is never hashed or accepted",
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid_config(format!("argon2id hashing failed: {e}")))
}

/// A hash (default parameters) of a random password, made once: what an unknown user's
/// password is checked against, so that refusing an unknown user takes as long as
/// refusing a known one.
pub(crate) fn dummy_hash() -> Option<&'static str> {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(salt.as_str().as_bytes(), &salt)
                .ok()
                .map(|h| h.to_string())
        })
        .as_deref()
}

/// Outcome of checking a password against a PHC hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    Match,
    Mismatch,
    /// The stored value is not a usable argon2id hash: it admits no one.
    Unusable,
}

/// Checks `password` against `phc` (slow: about 20 ms; only ever on the pool).
pub(crate) fn verify(phc: &str, password: &[u8]) -> Verify {
    if validate(phc).is_err() {
        return Verify::Unusable;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verify::Unusable;
    };
    if password.is_empty() {
        return Verify::Mismatch;
    }
    match Argon2::default().verify_password(password, &parsed) {
        Ok(()) => Verify::Match,
        Err(argon2::password_hash::Error::Password) => Verify::Mismatch,
        Err(_) => Verify::Unusable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let phc = hash_password("Pw-phc-unit-9f1c").unwrap();
        assert!(looks_hashed(&phc));
        assert_eq!(validate(&phc), Ok(()));
        assert_eq!(verify(&phc, b"Pw-phc-unit-9f1c"), Verify::Match);
        assert_eq!(verify(&phc, b"Pw-phc-unit-9f1d"), Verify::Mismatch);
        assert_eq!(verify(&phc, b""), Verify::Mismatch);
        assert_eq!(verify("$argon2id$nonsense", b"x"), Verify::Unusable);
        assert!(validate("$argon2id$nonsense").is_err());
        // Other algorithms look hashed (never plaintext) and are refused, by name.
        for (value, id) in [
            (
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
                "2b",
            ),
            ("$6$salt$hash", "6"),
            ("$pbkdf2-sha256$29000$s$h", "pbkdf2-sha256"),
            (
                "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$Dd8lbHiFXVwdFGAqSvlyNA",
                "argon2i",
            ),
        ] {
            assert!(looks_hashed(value), "{value}");
            let why = validate(value).unwrap_err();
            assert!(
                why.contains(&format!("`${id}$`")) && !why.contains(value),
                "{why}"
            );
            assert_eq!(verify(value, b"x"), Verify::Unusable);
        }
        // Plaintext passwords that merely contain `$` stay plaintext.
        for value in [
            "$",
            "$$",
            "pa$$word",
            "$ecret",
            "$Secret$1",
            "$a b$",
            "$é$x",
        ] {
            assert!(!looks_hashed(value), "{value}");
        }
        assert!(hash_password("").is_err());
        // A hash asking for 1 GiB per check is refused (peers choose when it runs).
        // (Made from a real hash's text: parameters are read before any hashing.)
        let text = phc.replacen("m=19456", &format!("m={}", 1 << 20), 1);
        assert!(validate(&text).is_err());
        assert_eq!(verify(&text, b"Pw-phc-unit-9f1c"), Verify::Unusable);
    }
}
