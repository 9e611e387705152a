//! `key add|revoke|list` and `user add|remove --store`: CURVE keys and PLAIN users in a
//! credential store (`zmq_auth::store`), SQLite or PostgreSQL.

use std::fmt::Write as _;
use std::path::Path;

#[cfg(feature = "postgres")]
use zmq_auth::store::PostgresStore;
use zmq_auth::store::{SqliteStore, StoredKey};
use zmq_auth::{decode_z85_key, encode_z85_key, load_certificate, Certificate};

use crate::cli::{KeyAddArgs, KeyListArgs, KeyRevokeArgs, StoreArg};
use crate::{json, keys, password, trustdir, Fail, Outcome, Run};

/// An open store, whichever kind `--store` named.
pub(crate) enum Store {
    Sqlite(SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// Whether opening may create the store (an SQLite file that does not exist yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Yes,
    No,
}

/// The domain of `--domain`, `*` when not given.
fn domain(d: Option<&str>) -> Result<&str, Fail> {
    match d {
        None => Ok("*"),
        Some("") => Err(Fail(
            "--domain: empty (use * for every domain without its own entry)".into(),
        )),
        Some(d) => Ok(d),
    }
}

/// What `--store` names.
#[derive(Debug, PartialEq, Eq)]
enum Spec<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

/// Does `spec` read as a PostgreSQL key=value connection string (its first word is
/// `keyword=...`)?
fn looks_like_conninfo(spec: &str) -> bool {
    let first = spec.split_whitespace().next().unwrap_or_default();
    first.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

/// Reads `--store`: `sqlite:PATH`; a `postgres://` or `postgresql://` URL; a key=value
/// connection string; otherwise (or when a file of that name exists) an SQLite path.
/// Never quotes the value in an error (it may hold a password).
fn classify(spec: &str) -> Result<Spec<'_>, Fail> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(Fail("--store sqlite:PATH: the path is empty".into()));
        }
        return Ok(Spec::Sqlite(Path::new(path)));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(Spec::Postgres(spec));
    }
    if spec.is_empty() || spec.contains("://") {
        return Err(Fail(
            "--store: expected an SQLite file (PATH or sqlite:PATH), a postgres:// or \
             postgresql:// URL, or a key=value PostgreSQL connection string"
                .into(),
        ));
    }
    if looks_like_conninfo(spec) && std::fs::symlink_metadata(spec).is_err() {
        return Ok(Spec::Postgres(spec));
    }
    Ok(Spec::Sqlite(Path::new(spec)))
}

impl Store {
    /// Opens `--store` (see [`classify`]). The value is never printed back (it may hold
    /// a password); the library's errors name a PostgreSQL store without its password.
    pub(crate) fn open(spec: &str, create: Create) -> Result<Store, Fail> {
        match classify(spec)? {
            Spec::Sqlite(path) => Store::open_sqlite(path, create),
            Spec::Postgres(conninfo) => Store::open_postgres(conninfo),
        }
    }

    fn open_sqlite(path: &Path, create: Create) -> Result<Store, Fail> {
        if create == Create::No && std::fs::symlink_metadata(path).is_err() {
            return Err(Fail(format!(
                "--store: {}: no such SQLite file",
                path.display()
            )));
        }
        if path.is_dir() {
            return Err(Fail(format!(
                "--store: {}: a directory, not an SQLite file",
                path.display()
            )));
        }
        SqliteStore::open(path)
            .map(Store::Sqlite)
            .map_err(|e| Fail(format!("--store: {e}")))
    }

    #[cfg(feature = "postgres")]
    fn open_postgres(conninfo: &str) -> Result<Store, Fail> {
        PostgresStore::connect(conninfo)
            .map(Store::Postgres)
            .map_err(|e| Fail(format!("--store: {e}")))
    }

    #[cfg(not(feature = "postgres"))]
    fn open_postgres(_conninfo: &str) -> Result<Store, Fail> {
        Err(Fail(
            "--store: a PostgreSQL store, but this zmq-auth was built without PostgreSQL \
             support (install it with --features cli-postgres)"
                .into(),
        ))
    }

    fn add_key(&self, domain: &str, key: &str, meta: &[(&str, &str)]) -> zmq_auth::Result<()> {
        match self {
            Store::Sqlite(s) => s.add_key(domain, key, meta),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.add_key(domain, key, meta),
        }
    }

    fn revoke_key(&self, domain: &str, key: &str) -> zmq_auth::Result<zmq_auth::store::Revocation> {
        match self {
            Store::Sqlite(s) => s.revoke_key(domain, key),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.revoke_key(domain, key),
        }
    }

    fn keys(&self, domain: Option<&str>) -> zmq_auth::Result<Vec<StoredKey>> {
        match self {
            Store::Sqlite(s) => s.keys(domain),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.keys(domain),
        }
    }

    fn users(&self, domain: Option<&str>) -> zmq_auth::Result<Vec<(String, String)>> {
        match self {
            Store::Sqlite(s) => s.users(domain),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.users(domain),
        }
    }

    fn set_password(&self, domain: &str, user: &str, password: &str) -> zmq_auth::Result<()> {
        match self {
            Store::Sqlite(s) => s.set_password(domain, user, password),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.set_password(domain, user, password),
        }
    }

    fn remove_user(&self, domain: &str, user: &str) -> zmq_auth::Result<bool> {
        match self {
            Store::Sqlite(s) => s.remove_user(domain, user),
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.remove_user(domain, user),
        }
    }
}

pub(crate) fn key_add(a: &KeyAddArgs) -> Run {
    let dom = domain(a.store.domain.as_deref())?;
    let text = trustdir::read_cert_text(&a.file)?;
    let cert = Certificate::from_zpl(&a.file, &text)?;
    if cert.secret_key().is_some() {
        return Err(Fail(format!(
            "{}: holds a secret key; add its public certificate (NAME.key) instead",
            a.file.display()
        )));
    }
    let meta: Vec<(&str, &str)> = cert
        .metadata()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let store = Store::open(&a.store.store, Create::Yes)?;
    store
        .add_key(dom, cert.public_key(), &meta)
        .map_err(|e| Fail(format!("{}: {e}", a.file.display())))?;
    say!(
        "added {} to domain {dom} ({} metadata propert{})",
        cert.public_key(),
        meta.len(),
        if meta.len() == 1 { "y" } else { "ies" }
    );
    Ok(Outcome::Ok)
}

pub(crate) fn key_revoke(a: &KeyRevokeArgs) -> Run {
    let dom = domain(a.store.domain.as_deref())?;
    let arg = Path::new(&a.key_or_file);
    // A file wins over a key.
    let from_file = std::fs::symlink_metadata(arg).is_ok();
    let key = if from_file {
        *load_certificate(arg)?.public_key_bytes()
    } else {
        decode_z85_key(&a.key_or_file).map_err(|m| {
            Fail(format!(
                "KEY_OR_FILE is neither an existing file nor a Z85 public key ({m})"
            ))
        })?
    };
    let key = encode_z85_key(&key);
    let store = Store::open(&a.store.store, Create::No)?;
    if !from_file {
        // A key typed on the command line may be a secret key pasted by mistake: it is
        // never printed, nor sent to the store, unless the store has it (so it is a
        // public key).
        let all = store
            .keys(None)
            .map_err(|e| Fail(format!("--store: {e}")))?;
        if !all.iter().any(|k| k.public_key == key) {
            if let Some(public) = keys::public_if_secret(&a.key_or_file) {
                if all.iter().any(|k| k.public_key == public) {
                    return Err(keys::secret_given("the store"));
                }
            }
            say!(
                "nothing to revoke: the store has no such key in domain {dom} (a key \
                 given on the command line is not repeated: it may be a secret key)"
            );
            return Ok(Outcome::No);
        }
    }
    let done = store
        .revoke_key(dom, &key)
        .map_err(|e| Fail(format!("--store: {e}")))?;
    if done.removed {
        say!("revoked {key} in domain {dom}");
    } else {
        say!("nothing to revoke: the store has no key {key} in domain {dom}");
    }
    if done.still_admitted_through_wildcard {
        // A domain's own keys override `*`; with none left, `*` applies to it again.
        say!(
            "but {key} is still admitted in domain {dom}: the domain has no keys of its \
             own, so the key's * row applies there; revoke it with --domain '*' too (or \
             give the domain a key of its own)"
        );
        return Ok(Outcome::No);
    }
    Ok(if done.removed {
        Outcome::Ok
    } else {
        Outcome::No
    })
}

pub(crate) fn key_list(a: &KeyListArgs) -> Run {
    let dom = match &a.store.domain {
        None => None,
        Some(d) => Some(domain(Some(d))?),
    };
    let store = Store::open(&a.store.store, Create::No)?;
    let keys = store.keys(dom).map_err(|e| Fail(format!("--store: {e}")))?;
    if a.json {
        say!("[");
        for (i, k) in keys.iter().enumerate() {
            let comma = if i + 1 < keys.len() { "," } else { "" };
            say!("  {}{comma}", key_json(k));
        }
        say!("]");
        return Ok(Outcome::Ok);
    }
    if keys.is_empty() {
        say!("no keys");
        return Ok(Outcome::Ok);
    }
    for k in &keys {
        let mut line = format!(
            "{}  {}  added {}  expires {}",
            k.domain,
            k.public_key,
            utc(k.created),
            k.expires.map_or_else(|| "never".to_string(), utc)
        );
        for (n, v) in &k.metadata {
            let _ = write!(line, "  {n}={v:?}");
        }
        say!("{line}");
    }
    Ok(Outcome::Ok)
}

fn key_json(k: &StoredKey) -> String {
    let meta = k
        .metadata
        .iter()
        .map(|(n, v)| format!("{}:{}", json::string(n), json::string(v)))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{{\"domain\":{},\"public_key\":{},\"metadata\":{{{meta}}},\"created\":{},\"expires\":{}}}",
        json::string(&k.domain),
        json::string(&k.public_key),
        k.created,
        k.expires
            .map_or_else(|| "null".to_string(), |t| t.to_string())
    )
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `user add NAME --store`: the password from the terminal or stdin, hashed by the store.
pub(crate) fn user_add(name: &str, store: &StoreArg) -> Run {
    let dom = domain(store.domain.as_deref())?;
    check_user_name(name, false)?;
    let s = Store::open(&store.store, Create::Yes)?;
    let pw = password::read_new(name)?;
    s.set_password(dom, name, pw.as_str())
        .map_err(|e| Fail(format!("--store: {e}")))?;
    say!("set the password of user {name:?} in domain {dom} (stored as an argon2id hash)");
    Ok(Outcome::Ok)
}

/// `user remove NAME --store`.
pub(crate) fn user_remove(name: &str, store: &StoreArg) -> Run {
    let dom = domain(store.domain.as_deref())?;
    let s = Store::open(&store.store, Create::No)?;
    if s.remove_user(dom, name)
        .map_err(|e| Fail(format!("--store: {e}")))?
    {
        say!("removed user {name:?} from domain {dom}");
        Ok(Outcome::Ok)
    } else {
        say!("nothing to remove: the store has no user {name:?} in domain {dom}");
        Ok(Outcome::No)
    }
}

/// `user list --store`: `DOMAIN  NAME` lines, by domain and name; never a hash.
pub(crate) fn user_list(store: &StoreArg) -> Run {
    let dom = match &store.domain {
        None => None,
        Some(d) => Some(domain(Some(d))?),
    };
    let s = Store::open(&store.store, Create::No)?;
    let mut users = s.users(dom).map_err(|e| Fail(format!("--store: {e}")))?;
    // Byte order whatever the database's collation.
    users.sort();
    if users.is_empty() {
        say!("no users");
    }
    for (d, name) in &users {
        say!("{}  {}", shown(d), shown(name));
    }
    Ok(Outcome::Ok)
}

/// A name as printed: as it is, or quoted and escaped when it holds a control
/// character (one name per line, whatever it holds).
pub(crate) fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    if name.chars().any(char::is_control) {
        format!("{name:?}").into()
    } else {
        name.into()
    }
}

/// A user name a store (or, `for_file`, a password file) can hold and a PLAIN client can
/// send.
pub(crate) fn check_user_name(name: &str, for_file: bool) -> Result<(), Fail> {
    if name.is_empty() || name.len() > 255 {
        return Err(Fail("NAME: a PLAIN user name is 1 to 255 bytes".into()));
    }
    if !for_file {
        return Ok(());
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) || name.contains('=') {
        return Err(Fail(format!(
            "NAME {name:?}: no spaces, control characters or '='"
        )));
    }
    if name.starts_with('#') {
        return Err(Fail(format!(
            "NAME {name:?}: a name starting with '#' would be a comment in a password file"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{classify, Spec};
    use std::path::Path;

    #[test]
    fn store_forms() {
        let sqlite = |s| Spec::Sqlite(Path::new(s));
        assert_eq!(classify("sqlite:a.db").unwrap(), sqlite("a.db"));
        assert_eq!(classify("auth.db").unwrap(), sqlite("auth.db"));
        assert_eq!(
            classify("/var/lib/x/auth.db").unwrap(),
            sqlite("/var/lib/x/auth.db")
        );
        assert_eq!(classify("./a=b.db").unwrap(), sqlite("./a=b.db"));
        for pg in [
            "postgres://u@h/db",
            "postgresql://h/db",
            "host=db user=auth dbname=auth",
            "dbname=auth",
        ] {
            assert_eq!(classify(pg).unwrap(), Spec::Postgres(pg));
        }
        for bad in ["", "mysql://u:pw@h/db", "sqlite:"] {
            let e = classify(bad).unwrap_err();
            assert!(!e.0.contains("pw@"), "{}", e.0);
        }
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
