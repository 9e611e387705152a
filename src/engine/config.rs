//! The configuration methods of [`ThreadAuthenticator`]: each runs one
//! [`Authenticator`] setter through [`ThreadAuthenticator::configure`], on the caller's
//! thread, and swaps the new snapshot in.

use std::path::Path;
use std::time::Duration;

use super::ThreadAuthenticator;
use crate::error::Result;
use crate::policy::CredentialsProvider;

// Only named in intra-doc links.
#[cfg(doc)]
use crate::authenticator::Authenticator;

impl ThreadAuthenticator {
    /// [`Authenticator::allow`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.allow(["127.0.0.1", "::1", "10.0.0.0/8"]).unwrap();
    /// assert!(matches!(auth.allow(["10.1.2.3/8"]), Err(zmq_auth::Error::InvalidAddress(_))));
    /// ```
    pub fn allow<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, addrs: I) -> Result<()> {
        self.configure(|a| a.allow(addrs))
    }

    /// [`Authenticator::deny`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.deny(["192.0.2.0/24"]).unwrap();
    /// assert!(matches!(auth.allow(["127.0.0.1"]), Err(zmq_auth::Error::AllowDenyConflict)));
    /// ```
    pub fn deny<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, addrs: I) -> Result<()> {
        self.configure(|a| a.deny(addrs))
    }

    /// [`Authenticator::clear_address_lists`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.deny(["192.0.2.1"]).unwrap();
    /// auth.clear_address_lists().unwrap();
    /// auth.allow(["127.0.0.1"]).unwrap(); // the deny list is gone
    /// ```
    pub fn clear_address_lists(&self) -> Result<()> {
        self.configure(|a| {
            a.clear_address_lists();
            Ok(())
        })
    }

    /// [`Authenticator::configure_plain`] on the running thread.
    ///
    /// ```
    /// use zmq_auth::{zmq, ThreadAuthenticator};
    /// let ctx = zmq::Context::new();
    /// let auth = ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain("*", [("admin", "correct-horse")]).unwrap();
    ///
    /// let server = ctx.socket(zmq::PULL).unwrap();
    /// server.set_plain_server(true).unwrap();
    /// server.set_rcvtimeo(5000).unwrap();
    /// server.bind("tcp://127.0.0.1:*").unwrap();
    /// let client = ctx.socket(zmq::PUSH).unwrap();
    /// client.set_plain_username(Some("admin")).unwrap();
    /// client.set_plain_password(Some("correct-horse")).unwrap();
    /// client.connect(&server.get_last_endpoint().unwrap().unwrap()).unwrap();
    /// client.send("hi", 0).unwrap();
    /// let mut msg = server.recv_msg(0).unwrap();
    /// assert_eq!(msg.gets("User-Id"), Some("admin"));
    /// ```
    pub fn configure_plain<I, K, V>(&self, domain: &str, passwords: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.configure(|a| a.configure_plain(domain, passwords))
    }

    /// [`Authenticator::configure_plain_file`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("passwords");
    /// std::fs::write(&path, "admin=correct-horse\nguest=guest\n").unwrap();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain_file("*", &path).unwrap();
    /// std::fs::write(dir.path().join("broken"), "no equals sign\n").unwrap();
    /// assert!(matches!(
    ///     auth.configure_plain_file("*", dir.path().join("broken")),
    ///     Err(zmq_auth::Error::Parse { line: 1, .. })
    /// ));
    /// ```
    pub fn configure_plain_file(&self, domain: &str, path: impl AsRef<Path>) -> Result<()> {
        self.configure(|a| a.configure_plain_file(domain, path))
    }

    /// [`Authenticator::configure_curve`] on the running thread.
    ///
    /// ```
    /// # if !zmq_auth::curve_available() { return; }
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let certs = tempfile::tempdir().unwrap();
    /// zmq_auth::create_certificates(certs.path(), "client", &[]).unwrap();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_curve("*", certs.path()).unwrap();
    /// auth.configure_curve("public", zmq_auth::CURVE_ALLOW_ANY).unwrap();
    /// assert!(matches!(
    ///     auth.configure_curve("*", certs.path().join("missing")),
    ///     Err(zmq_auth::Error::Io { .. })
    /// ));
    /// ```
    pub fn configure_curve(&self, domain: &str, location: impl AsRef<Path>) -> Result<()> {
        self.configure(|a| a.configure_curve(domain, location))
    }

    /// [`Authenticator::configure_curve_callback`] on the running thread. The closure
    /// runs on the engine's pool, under its deadline.
    ///
    /// ```
    /// # if !zmq_auth::curve_available() { return; }
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// let trusted = zmq_auth::encode_z85_key(&[1u8; 32]);
    /// auth.configure_curve_callback("*", move |_domain, key| key == trusted).unwrap();
    /// ```
    pub fn configure_curve_callback<F>(&self, domain: &str, callback: F) -> Result<()>
    where
        F: Fn(&str, &str) -> bool + Send + Sync + 'static,
    {
        self.configure(|a| a.configure_curve_callback(domain, callback))
    }

    /// [`Authenticator::configure_curve_provider`] on the running thread. The provider
    /// runs on the engine's pool, under its deadline.
    ///
    /// ```
    /// # if !zmq_auth::curve_available() { return; }
    /// use zmq_auth::{CredentialsProvider, CurveDecision};
    /// struct Directory;
    /// impl CredentialsProvider for Directory {
    ///     fn callback(&self, _: &str, key: &str) -> bool { key.starts_with('x') }
    ///     fn decide(&self, d: &str, key: &str) -> CurveDecision {
    ///         // e.g. CurveDecision::TryLater while a backing store is down
    ///         if self.callback(d, key) { CurveDecision::Allow } else { CurveDecision::Deny }
    ///     }
    /// }
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_curve_provider("*", Directory).unwrap();
    /// ```
    pub fn configure_curve_provider(
        &self,
        domain: &str,
        provider: impl CredentialsProvider + 'static,
    ) -> Result<()> {
        self.configure(|a| a.configure_curve_provider(domain, provider))
    }

    /// [`Authenticator::configure_gssapi`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// match auth.configure_gssapi("kerberos") {
    ///     Ok(()) => {}
    ///     // libzmq built without GSSAPI support
    ///     Err(e) => assert!(matches!(e, zmq_auth::Error::GssapiUnavailable)),
    /// }
    /// ```
    pub fn configure_gssapi(&self, domain: &str) -> Result<()> {
        self.configure(|a| a.configure_gssapi(domain))
    }

    /// [`Authenticator::set_curve_user_id`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.set_curve_user_id(|key| format!("{:02x}{:02x}", key[0], key[1]))
    ///     .unwrap();
    /// ```
    pub fn set_curve_user_id(
        &self,
        f: impl Fn(&[u8; 32]) -> String + Send + Sync + 'static,
    ) -> Result<()> {
        self.configure(|a| {
            a.set_curve_user_id(f);
            Ok(())
        })
    }

    /// [`Authenticator::set_reload_interval`] on the running thread.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.set_reload_interval(std::time::Duration::from_millis(100)).unwrap();
    /// ```
    pub fn set_reload_interval(&self, interval: Duration) -> Result<()> {
        self.configure(|a| {
            a.set_reload_interval(interval);
            Ok(())
        })
    }

    /// [`Authenticator::configure_curve_store`] on the running authenticator.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// # if !zmq_auth::curve_available() { return; }
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = zmq_auth::store::SqliteStore::open(dir.path().join("auth.db")).unwrap();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_curve_store("*", store.clone()).unwrap();
    /// # }
    /// ```
    pub fn configure_curve_store(
        &self,
        domain: &str,
        store: impl crate::store::CredentialStore,
    ) -> Result<()> {
        self.configure(|a| a.configure_curve_store(domain, store))
    }

    /// [`Authenticator::configure_plain_store`] on the running authenticator.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = zmq_auth::store::SqliteStore::open(dir.path().join("auth.db")).unwrap();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.configure_plain_store("*", store.clone()).unwrap();
    /// # }
    /// ```
    pub fn configure_plain_store(
        &self,
        domain: &str,
        store: impl crate::store::CredentialStore,
    ) -> Result<()> {
        self.configure(|a| a.configure_plain_store(domain, store))
    }

    /// Locks out guessing peers: a peer with `max_failures` failed authentications
    /// within any interval of length `window` (the window slides) is refused with 400
    /// `Too many failures` for `ban`, without its credentials being checked; other peers
    /// are unaffected. IPv4 addresses count one by one; IPv6 addresses too, and beside
    /// that each /64 with a limit 16 times higher (a host can rotate through its /64,
    /// but one guessing host must not lock out its neighbours; see
    /// [`limit_failures_ipv6_network`](Self::limit_failures_ipv6_network)); IPC peers by uid.
    /// Refusals of credentials count (wrong password, unknown user or key, malformed
    /// credentials); address-list refusals, 300 and 500 do not. Any duration is
    /// accepted (`Duration::MAX` saturates). At most 65,536 keys are tracked (a sweep of
    /// addresses cannot grow memory further: old counts are dropped first, bans last).
    /// Each lock-out is a warning and the metric `zmq_auth_lockouts_total`; refused
    /// requests are decisions with reason `Too many failures`. Calling it again changes
    /// the settings and keeps bans, and counts unless the window changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.limit_failures(5, Duration::from_secs(60), Duration::from_secs(15 * 60)).unwrap();
    /// assert!(auth.limit_failures(0, Duration::from_secs(1), Duration::from_secs(1)).is_err());
    /// ```
    pub fn limit_failures(&self, max_failures: u32, window: Duration, ban: Duration) -> Result<()> {
        self.configure(|a| a.limit_failures(max_failures, window, ban))
    }

    /// [`Authenticator::limit_failures_ipv6_network`] on the running thread: the IPv6
    /// network counted beside each address (default /64, at 16 times the limit).
    ///
    /// ```
    /// use std::time::Duration;
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.limit_failures(5, Duration::from_secs(60), Duration::from_secs(900)).unwrap();
    /// auth.limit_failures_ipv6_network(56, 8).unwrap();
    /// ```
    pub fn limit_failures_ipv6_network(&self, prefix: u8, factor: u32) -> Result<()> {
        self.configure(|a| a.limit_failures_ipv6_network(prefix, factor))
    }

    /// Turns the lock-out off; bans in force are lifted.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.clear_failure_limit().unwrap();
    /// ```
    pub fn clear_failure_limit(&self) -> Result<()> {
        self.configure(|a| {
            a.clear_failure_limit();
            Ok(())
        })
    }

    /// [`Authenticator::strict_domains`] on the running thread: refuse (400
    /// `Unknown domain`) a non-empty domain that has no policy of its own instead of
    /// using the `"*"` policy. Recommended.
    ///
    /// ```
    /// # let ctx = zmq_auth::zmq::Context::new();
    /// let auth = zmq_auth::ThreadAuthenticator::start(&ctx).unwrap();
    /// auth.strict_domains(true).unwrap();
    /// auth.configure_plain("global", [("admin", "correct-horse")]).unwrap();
    /// ```
    pub fn strict_domains(&self, strict: bool) -> Result<()> {
        self.configure(|a| {
            a.strict_domains(strict);
            Ok(())
        })
    }
}
