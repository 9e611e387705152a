//! The configuration methods of [`Authenticator`]. Each validates everything first and
//! changes nothing on error; sources are loaded here, on the caller's thread.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{domain_key, Authenticator, CurveSource, PlainSource};
use crate::error::{Error, Result};
use crate::keys::require_curve;
use crate::plain::UserMap;
use crate::policy::CredentialsProvider;
use crate::sources::{DirSource, PasswordFile, Versioned};
use crate::store::CredentialStore;
use crate::CURVE_ALLOW_ANY;

/// Collects entries, refusing an empty list: `allow([])` must not mean "allow all".
fn entries<I: IntoIterator<Item = S>, S: AsRef<str>>(addrs: I, what: &str) -> Result<Vec<S>> {
    let v: Vec<S> = addrs.into_iter().collect();
    if v.is_empty() {
        return Err(Error::invalid_config(format!(
            "{what}() with no entries (use clear_address_lists to remove the lists)"
        )));
    }
    Ok(v)
}

impl Authenticator {
    /// Adds addresses or CIDR ranges (`"10.0.0.0/8"`, `"::1"`) to the allow list: from
    /// then on only those addresses are admitted. Every entry is validated first; on
    /// error nothing is added. An error too if a deny list exists, or if no entry is
    /// given ([`Error::InvalidConfig`]: an empty allow list would allow everyone).
    ///
    /// Entries may be in `[...]` and be padded with ASCII spaces. The peer's address is
    /// matched as libzmq reports it (brackets and an IPv6 zone allowed), never trimmed:
    /// a padded one matches nothing.
    ///
    /// IPv6 zones: an entry with a zone (`fe80::1%eth1`, or a network `fe80::%eth1/64`)
    /// matches only peers on that zone, compared as text with what libzmq reports (the
    /// interface name, e.g. `eth1`). An entry without a zone matches the address on any
    /// zone. A zone is accepted only on a link-local address or network (within
    /// `fe80::/10`); elsewhere it is an error, since no peer there reports one.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.allow(["fe80::1%eth1"]).unwrap();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"d", b"fe80::1%eth0", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "Address not allowed");
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"d", b"fe80::1%eth1", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// assert!(auth.allow(["2001:db8::1%eth0"]).is_err());
    /// ```
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.allow(["127.0.0.1", "10.0.0.0/8"]).unwrap();
    /// assert!(auth.deny(["192.168.0.1"]).is_err());
    /// assert!(auth.allow(["not-an-ip"]).is_err());
    /// assert!(auth.allow(Vec::<&str>::new()).is_err());
    /// ```
    pub fn allow<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, addrs: I) -> Result<()> {
        let addrs = entries(addrs, "allow")?;
        if !self.deny.is_empty() {
            return Err(Error::AllowDenyConflict);
        }
        let mut next = (*self.allow).clone();
        let n = next.extend(addrs)?;
        self.allow = Arc::new(next);
        self.changed();
        zlog!(Debug, "allow list: +{n} entries");
        Ok(())
    }

    /// Adds addresses or CIDR ranges to the deny list: those are refused, all others
    /// admitted. Validated first; an error if an allow list exists or no entry is given.
    /// Entries are written as for [`allow`](Self::allow). A peer address that does not
    /// parse (IPC peers, or anything malformed) matches no entry and so is not denied:
    /// to fail closed, use an allow list.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.deny(["192.0.2.0/24"]).unwrap();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"192.0.2.7", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "Address denied");
    /// ```
    pub fn deny<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, addrs: I) -> Result<()> {
        let addrs = entries(addrs, "deny")?;
        if !self.allow.is_empty() {
            return Err(Error::AllowDenyConflict);
        }
        let mut next = (*self.deny).clone();
        let n = next.extend(addrs)?;
        self.deny = Arc::new(next);
        self.changed();
        zlog!(Debug, "deny list: +{n} entries");
        Ok(())
    }

    /// Empties both address lists (after which either kind may be set up again).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.allow(["127.0.0.1"]).unwrap();
    /// let req: [&[u8]; 6] = [b"1.0", b"1", b"", b"192.0.2.1", b"", b"NULL"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 400);
    /// auth.clear_address_lists();
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// auth.deny(["192.0.2.1"]).unwrap(); // no conflict any more
    /// ```
    pub fn clear_address_lists(&mut self) {
        self.allow = Arc::default();
        self.deny = Arc::default();
        self.changed();
    }

    /// Sets the PLAIN passwords (`username → password`) of `domain` (`"*"` or `""`:
    /// every domain without its own), replacing that domain's previous ones.
    ///
    /// A password is plaintext or an argon2id hash in PHC form (`$argon2id$v=19$...`,
    /// made by [`crate::hash_password`] or `zmq-auth user add --file`), so that no
    /// plaintext password need be kept; a hash check costs about 20 ms on the pool (the
    /// [`crate::ThreadAuthenticator`]'s, never its ZAP loop). Any value of the form
    /// `$id$...` (`id` in `a-z 0-9 -`) is taken as a hash, never as a plaintext password:
    /// a bcrypt (`$2b$`), crypt (`$6$`, `$y$`), scrypt or argon2i hash is an error.
    ///
    /// An empty name, an empty password, a name given twice, or a hash that is not a
    /// usable argon2id hash is an [`Error::InvalidConfig`] and nothing changes (libzmq
    /// clients that set only a username do send an empty password).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// let phc = zmq_auth::hash_password("battery-staple").unwrap();
    /// auth.configure_plain("ops", [("root", phc.as_str())]).unwrap();
    /// let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    /// assert!(auth.configure_plain("ops", [("root", bcrypt)]).is_err());
    /// auth.configure_plain("global", [("admin", "correct-horse")]).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"global", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "admin");
    /// // Another domain has no passwords of its own, and there is no `"*"` entry.
    /// let req: [&[u8]; 8] = [b"1.0", b"2", b"other", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "Unknown domain");
    /// assert!(auth.configure_plain("*", [("admin", "")]).is_err());
    /// ```
    pub fn configure_plain<I, K, V>(&mut self, domain: &str, passwords: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let pairs: Vec<(String, String)> = passwords
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let users = UserMap::from_pairs(pairs)?;
        zlog!(Debug, "PLAIN domain {domain:?}: {} users", users.len());
        self.plain
            .insert(domain_key(domain), PlainSource::Map(Arc::new(users)));
        self.changed();
        Ok(())
    }

    /// Sets `domain`'s PLAIN passwords from a file of `name=password` lines (`#`
    /// comments, blank lines allowed; names and passwords trimmed).
    ///
    /// A password may be an argon2id hash in PHC form instead of plaintext, as for
    /// [`configure_plain`](Self::configure_plain): `zmq-auth user add NAME --file F`
    /// writes such a line, or put the result of [`crate::hash_password`] after `name=`.
    /// A `$id$...` value that is not argon2id (bcrypt, crypt, scrypt) is a doubtful line,
    /// never a plaintext password.
    ///
    /// Now: a missing file or any doubtful line (no `=`, empty name, empty password, a
    /// name listed twice, an unusable hash) is an error naming the line, and nothing
    /// changes. Later, the
    /// file is re-checked every reload interval: a doubtful line then admits no one while
    /// every good line (removals included) applies, and a file that is deleted or
    /// unreadable refuses every PLAIN client of the domain (500) until it is back.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("passwords");
    /// std::fs::write(&path, "# users\nadmin=correct-horse\n").unwrap();
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain_file("*", &path).unwrap();
    /// assert!(auth.configure_plain_file("*", dir.path().join("missing")).is_err());
    /// std::fs::write(dir.path().join("empty"), "admin=\n").unwrap();
    /// assert!(auth.configure_plain_file("*", dir.path().join("empty")).is_err());
    /// ```
    pub fn configure_plain_file(&mut self, domain: &str, path: impl AsRef<Path>) -> Result<()> {
        let file = PasswordFile::load(path.as_ref())?;
        zlog!(
            Debug,
            "PLAIN domain {domain:?}: {} users from {}",
            file.users().map_or(0, |u| u.len()),
            path.as_ref().display()
        );
        self.plain.insert(
            domain_key(domain),
            PlainSource::File(Arc::new(Versioned::new(file))),
        );
        self.changed();
        Ok(())
    }

    /// Admits GSSAPI clients (authenticated by Kerberos) in `domain`; their user id is
    /// their principal, which must be valid UTF-8 (a lossy conversion could give two
    /// principals one user id). Unlike pyzmq, GSSAPI peers are refused in domains where
    /// this was not called.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_gssapi("*").unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"GSSAPI", b"alice@EXAMPLE.ORG"];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "alice@EXAMPLE.ORG");
    /// let req: [&[u8]; 7] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"GSSAPI", b"adm\xffin@R"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 400);
    /// ```
    pub fn configure_gssapi(&mut self, domain: &str) -> Result<()> {
        if !zmq::has("gssapi").unwrap_or(false) {
            return Err(Error::GssapiUnavailable);
        }
        self.gssapi.insert(domain_key(domain));
        self.changed();
        Ok(())
    }

    /// Sets how a CURVE client's key becomes its user id (default: the key's 40 Z85
    /// characters). It is user code: [`crate::ThreadAuthenticator`] runs it on its pool,
    /// under the deadline. A panic inside `f` becomes a 500 reply, and so does a result
    /// that is empty or contains NUL (applications read the User-Id as a C string).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.set_curve_user_id(|key| format!("client-{:02x}", key[0]));
    /// # if !zmq_auth::curve_available() { return; }
    /// auth.configure_curve("*", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &[0xab; 32]];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "client-ab");
    /// ```
    pub fn set_curve_user_id(&mut self, f: impl Fn(&[u8; 32]) -> String + Send + Sync + 'static) {
        self.curve_user_id = Some(Arc::new(f));
        self.changed();
    }

    /// How often configured certificate directories and password files are re-checked
    /// (default one second; `Duration::ZERO` re-checks on every request of this
    /// synchronous handler; [`crate::ThreadAuthenticator`]'s watcher waits at least
    /// 10 ms between re-checks). A change is seen at the latest two intervals after it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("passwords");
    /// std::fs::write(&path, "admin=correct-horse\n").unwrap();
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.set_reload_interval(Duration::ZERO);
    /// auth.configure_plain_file("*", &path).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"rotated-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 400);
    /// std::fs::write(&path, "admin=rotated-horse\n").unwrap();
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// ```
    pub fn set_reload_interval(&mut self, interval: Duration) {
        self.reload_interval = interval;
    }

    /// Strict domains: a request whose non-empty domain has no policy of its own for
    /// its mechanism (PLAIN, CURVE, GSSAPI; NULL has no per-domain policy) is refused
    /// with 400 `Unknown domain`, instead of being decided by the `"*"` policy. The
    /// empty domain (a server socket without `ZMQ_ZAP_DOMAIN`) still uses `"*"`. Since
    /// the server socket chooses the domain, such refusals never count towards a peer's
    /// lock-out. Off by default; recommended: a misspelt server domain (`"A"`
    /// where `"a"` is configured, a stray NUL) then fails closed instead of getting the
    /// `"*"` policy, which may be allow-any. Either way the first request of each such
    /// domain is a warning naming it.
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_plain("a", [("admin", "correct-horse")]).unwrap();
    /// auth.configure_plain("*", [("admin", "battery-staple")]).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"A", b"127.0.0.1", b"", b"PLAIN", b"admin", b"battery-staple"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200); // "A" falls back to "*"
    /// auth.strict_domains(true);
    /// assert_eq!(auth.handle_zap_message(&req).status_text(), "Unknown domain");
    /// // The empty domain still means "*".
    /// let req: [&[u8]; 8] = [b"1.0", b"2", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"battery-staple"];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// ```
    pub fn strict_domains(&mut self, strict: bool) {
        self.strict_domains = strict;
        self.changed();
    }

    /// Sets `domain`'s CURVE policy: [`CURVE_ALLOW_ANY`] (`"*"`) admits any client that
    /// completes the handshake; a directory admits the clients whose public
    /// certificates (`*.key`) are in it.
    ///
    /// Now: a missing or unreadable directory, or a `*.key` file in it that does not load,
    /// is an error naming it, and the previous policy stays. Later, the directory is
    /// re-checked every reload interval (every file is stat'ed; changed ones are read
    /// again): added, removed, replaced or rewritten certificates take effect within two
    /// intervals; a file that stops loading admits no one; a directory that becomes
    /// unreadable refuses the domain's CURVE clients (500) until it is back. Duplicate
    /// keys are a warning. Replaces the domain's previous CURVE policy.
    ///
    /// ```
    /// # if !zmq_auth::curve_available() { return; }
    /// let dir = tempfile::tempdir().unwrap();
    /// zmq_auth::create_certificates(dir.path(), "client", &[]).unwrap();
    /// let mut auth = zmq_auth::Authenticator::new();
    /// auth.configure_curve("*", dir.path()).unwrap();
    /// assert!(auth.configure_curve("*", dir.path().join("nope")).is_err());
    /// auth.configure_curve("public", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// ```
    pub fn configure_curve(&mut self, domain: &str, location: impl AsRef<Path>) -> Result<()> {
        require_curve()?;
        let location = location.as_ref();
        let source = if location.as_os_str() == CURVE_ALLOW_ANY {
            zlog!(Debug, "CURVE domain {domain:?}: allow any");
            CurveSource::AllowAny
        } else {
            let dir = DirSource::load(location)?;
            zlog!(
                Debug,
                "CURVE domain {domain:?}: {} keys from {}",
                dir.len(),
                location.display()
            );
            CurveSource::Dir(Arc::new(Versioned::new(dir)))
        };
        self.curve.insert(domain_key(domain), source);
        self.changed();
        Ok(())
    }

    /// Sets `domain`'s CURVE policy to a closure that decides each client key: it gets
    /// the ZAP domain and the key as 40 Z85 characters, and returns whether to admit.
    /// Replaces the domain's previous CURVE policy. For a provider that can also answer
    /// "try later", see [`configure_curve_provider`](Self::configure_curve_provider).
    ///
    /// ```
    /// let mut auth = zmq_auth::Authenticator::new();
    /// # if !zmq_auth::curve_available() { return; }
    /// auth.configure_curve_callback("*", |_domain, key| key.starts_with('a')).unwrap();
    /// let key = zmq_auth::decode_z85_key(&"a".repeat(40)).unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &key];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// ```
    pub fn configure_curve_callback<F>(&mut self, domain: &str, callback: F) -> Result<()>
    where
        F: Fn(&str, &str) -> bool + Send + Sync + 'static,
    {
        self.configure_curve_provider(domain, callback)
    }

    /// Sets `domain`'s CURVE policy to a [`CredentialsProvider`], replacing the domain's
    /// previous CURVE policy.
    ///
    /// ```
    /// use zmq_auth::{CredentialsProvider, CurveDecision};
    /// struct Maintenance;
    /// impl CredentialsProvider for Maintenance {
    ///     fn callback(&self, _: &str, _: &str) -> bool { false }
    ///     fn decide(&self, _: &str, _: &str) -> CurveDecision { CurveDecision::TryLater }
    /// }
    /// let mut auth = zmq_auth::Authenticator::new();
    /// # if !zmq_auth::curve_available() { return; }
    /// auth.configure_curve_provider("*", Maintenance).unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &[3; 32]];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 300);
    /// ```
    pub fn configure_curve_provider(
        &mut self,
        domain: &str,
        provider: impl CredentialsProvider + 'static,
    ) -> Result<()> {
        require_curve()?;
        zlog!(Debug, "CURVE domain {domain:?}: callback");
        self.curve.insert(
            domain_key(domain),
            CurveSource::Provider(Arc::new(provider)),
        );
        self.changed();
        Ok(())
    }

    /// Sets `domain`'s CURVE policy to a credential store ([`crate::store`]): a key is
    /// admitted when the store has it for the request's domain (exactly, else `*`), with
    /// its metadata. Look-ups run on the engine's pool; a store that does not answer in
    /// time gives 300. Replaces the domain's previous CURVE policy.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// # if !zmq_auth::curve_available() { return; }
    /// use zmq_auth::{store::SqliteStore, Authenticator};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
    /// let key = [5u8; 32];
    /// store.add_key("*", &zmq_auth::encode_z85_key(&key), &[]).unwrap();
    /// let mut auth = Authenticator::new();
    /// auth.configure_curve_store("*", store.clone()).unwrap();
    /// let req: [&[u8]; 7] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", &key];
    /// assert_eq!(auth.handle_zap_message(&req).status_code(), 200);
    /// # }
    /// ```
    pub fn configure_curve_store(
        &mut self,
        domain: &str,
        store: impl CredentialStore,
    ) -> Result<()> {
        require_curve()?;
        let handle = store.handle();
        zlog!(
            Debug,
            "CURVE domain {domain:?}: store {}",
            handle.describe()
        );
        self.curve
            .insert(domain_key(domain), CurveSource::Store(handle));
        self.changed();
        Ok(())
    }

    /// Sets `domain`'s PLAIN users to a credential store ([`crate::store`]): a user is
    /// looked up for the request's domain (exactly, else `*`) and the password checked
    /// against its argon2id hash, on the engine's pool. A store that does not answer in
    /// time gives 300. Replaces the domain's previous PLAIN users.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use zmq_auth::{store::SqliteStore, Authenticator};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = SqliteStore::open(dir.path().join("auth.db")).unwrap();
    /// store.set_password("*", "admin", "correct-horse").unwrap();
    /// let mut auth = Authenticator::new();
    /// auth.configure_plain_store("*", store.clone()).unwrap();
    /// let req: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"correct-horse"];
    /// assert_eq!(auth.handle_zap_message(&req).user_id(), "admin");
    /// # }
    /// ```
    pub fn configure_plain_store(
        &mut self,
        domain: &str,
        store: impl CredentialStore,
    ) -> Result<()> {
        let handle = store.handle();
        zlog!(
            Debug,
            "PLAIN domain {domain:?}: store {}",
            handle.describe()
        );
        self.plain
            .insert(domain_key(domain), PlainSource::Store(handle));
        self.changed();
        Ok(())
    }
}
