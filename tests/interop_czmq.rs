//! Interoperability with CZMQ (Debian `libczmq-dev`, CZMQ 4.2.1): certificate files in
//! both directions, and a directory of CZMQ certificates guarding a CURVE server.
//!
//! CZMQ's side is `tests/interop/czmq_cert.c`, compiled at test time into the test's
//! temporary directory with `cc … -lczmq -lzmq` (`$CC` overrides the compiler). When
//! the compiler or CZMQ is missing the tests are skipped with a message, unless
//! `CI=true`, where that is a failure.

#[path = "interop/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{bind_server, cert_metadata, field, lines, metadata, next_event, recv_within, run};
use support::{QUIET, STEP};
use tempfile::TempDir;
use zmq_auth::{
    create_certificates, load_certificate, load_certificates, zmq, AuthEvent, Certificate,
    Mechanism, StatusCode, ThreadAuthenticator,
};

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/czmq_cert.c");
/// Z85 of 32 zero bytes: what `zcert_secret_txt` prints for a public-only certificate.
const NO_SECRET: &str = "0000000000000000000000000000000000000000";

/// The compiled helper, in a temporary directory that also holds the test's files.
struct Czmq {
    dir: TempDir,
    bin: PathBuf,
}

/// A certificate as CZMQ's `zcert_load`/`zcert_save` reported it.
#[derive(Debug, PartialEq, Eq)]
struct CzCert {
    public: String,
    secret: String,
    metadata: BTreeMap<String, String>,
}

fn parse_cert(out: &str) -> CzCert {
    CzCert {
        public: field(out, "public").to_string(),
        secret: field(out, "secret").to_string(),
        metadata: metadata(out),
    }
}

fn compiler() -> String {
    std::env::var("CC")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cc".into())
}

fn cc(out: &Path, src: &Path) -> Command {
    let mut cmd = Command::new(compiler());
    cmd.arg("-o").arg(out).arg(src).args(["-lczmq", "-lzmq"]);
    cmd
}

impl Czmq {
    /// Compiles the helper, or returns `None` (after `support::skip`) when the compiler
    /// or CZMQ's headers/library are missing.
    fn build(test: &str) -> Option<Czmq> {
        let cc_name = compiler();
        if Command::new(&cc_name)
            .arg("--version")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            support::skip(test, &format!("no C compiler (`{cc_name}`) on PATH"));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        // Probe first, so a missing CZMQ skips but a broken helper source fails.
        let probe = dir.path().join("probe.c");
        std::fs::write(
            &probe,
            "#include <czmq.h>\nint main (void) { zcert_t *c = zcert_new (); zcert_destroy (&c); return 0; }\n",
        )
        .unwrap();
        let probed = run(&mut cc(&dir.path().join("probe"), &probe));
        if !probed.status.success() {
            support::skip(
                test,
                &format!(
                    "cannot build against CZMQ (Debian: apt-get install libczmq-dev):\n{}",
                    probed.stderr
                ),
            );
            return None;
        }
        let bin = dir.path().join("czmq_cert");
        let mut build = cc(&bin, Path::new(SOURCE));
        build.args(["-Wall", "-Wextra", "-Werror"]);
        run(&mut build).ok("compiling tests/interop/czmq_cert.c");
        Some(Czmq { dir, bin })
    }

    /// A fresh subdirectory of the test's temporary directory.
    fn subdir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir(&p).unwrap();
        p
    }

    fn cmd(&self) -> Command {
        Command::new(&self.bin)
    }

    /// `zcert_new` + metadata + `zcert_save(path)`.
    fn save(&self, path: &Path, meta: &[(&str, &str)]) -> CzCert {
        let mut cmd = self.cmd();
        cmd.arg("save").arg(path);
        for (k, v) in meta {
            cmd.arg(format!("{k}={v}"));
        }
        parse_cert(&run(&mut cmd).ok("czmq_cert save").stdout)
    }

    /// `zcert_load(path)`; `None` when CZMQ refuses the file.
    fn try_load(&self, path: &Path) -> Option<CzCert> {
        let out = run(self.cmd().arg("load").arg(path));
        match out.status.code() {
            Some(0) => Some(parse_cert(&out.stdout)),
            Some(2) => None,
            _ => panic!("czmq_cert load crashed: {out:?}"),
        }
    }

    fn load(&self, path: &Path) -> CzCert {
        self.try_load(path)
            .unwrap_or_else(|| panic!("zcert_load refused {}", support::show(path)))
    }

    /// Which of `keys` a `zcertstore` over `dir` knows.
    fn store_lookup(&self, dir: &Path, keys: &[&str]) -> Vec<bool> {
        let out = run(self.cmd().arg("store").arg(dir).args(keys)).ok("czmq_cert store");
        let found = lines(&out.stdout, "found");
        assert_eq!(found.len(), keys.len(), "{out:?}");
        found.iter().map(|f| f[1] == "1").collect()
    }
}

fn meta_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Metadata with spaces, a `#`, a single quote and non-ASCII: all survive both writers.
const META: &[(&str, &str)] = &[
    ("name", "Bob Builder"),
    ("email", "bob@example.org"),
    ("note", "a # b"),
    ("quote", "it's"),
    ("city", "Zoë"),
];

fn assert_same(ours: &Certificate, theirs: &CzCert, file: &Path, with_secret: bool) {
    let ctx = support::show(file);
    assert_eq!(ours.public_key(), theirs.public, "public key of\n{ctx}");
    if with_secret {
        assert_eq!(
            ours.secret_key(),
            Some(theirs.secret.as_str()),
            "secret of\n{ctx}"
        );
    }
    assert_eq!(cert_metadata(ours), theirs.metadata, "metadata of\n{ctx}");
}

/// `zcert_save` output (`NAME` + `NAME_secret`, quoted metadata) loads here with the
/// same keys and metadata; `load_certificates` takes only the `*.key` files.
#[test]
fn czmq_certificates_load_here() {
    let Some(cz) = Czmq::build("czmq_certificates_load_here") else {
        return;
    };
    let certs = cz.subdir("certs");

    let bob = cz.save(&certs.join("bob.key"), META);
    assert_eq!(bob.metadata, meta_map(META), "CZMQ's own view of bob");
    let public = load_certificate(certs.join("bob.key")).unwrap();
    assert_same(&public, &bob, &certs.join("bob.key"), false);
    assert_eq!(public.secret_key(), None);
    let secret = load_certificate(certs.join("bob.key_secret")).unwrap();
    assert_same(&secret, &bob, &certs.join("bob.key_secret"), true);

    // Saved without `.key`: CZMQ's own naming, an empty `metadata` section.
    let carol = cz.save(&certs.join("carol"), &[]);
    let carol_public = load_certificate(certs.join("carol")).unwrap();
    assert_same(&carol_public, &carol, &certs.join("carol"), false);
    assert_eq!(carol_public.secret_key(), None);
    let carol_secret = load_certificate(certs.join("carol_secret")).unwrap();
    assert_same(&carol_secret, &carol, &certs.join("carol_secret"), true);

    let keys = load_certificates(&certs).unwrap();
    assert_eq!(
        keys.into_iter().collect::<Vec<_>>(),
        vec![(bob.public.clone(), true)],
        "only bob.key is a `*.key` file"
    );
}

/// Certificates written here load in CZMQ (`zcert_load`, `zcertstore`) with the same
/// keys and metadata, from the secret file and from the public file alone.
#[test]
fn our_certificates_load_in_czmq() {
    let Some(cz) = Czmq::build("our_certificates_load_in_czmq") else {
        return;
    };
    let certs = cz.subdir("certs");
    let (public_path, secret_path) = create_certificates(&certs, "dave", META).unwrap();
    let ours = load_certificate(&secret_path).unwrap();
    assert_eq!(cert_metadata(&ours), meta_map(META));

    // zcert_load("dave.key") reads "dave.key_secret" first when it exists.
    assert_same(&ours, &cz.load(&public_path), &secret_path, true);
    assert_same(&ours, &cz.load(&secret_path), &secret_path, true);

    // The public file by itself.
    let alone = cz.subdir("public-only").join("dave.key");
    std::fs::copy(&public_path, &alone).unwrap();
    let theirs = cz.load(&alone);
    assert_same(&ours, &theirs, &alone, false);
    assert_eq!(theirs.secret, NO_SECRET, "a public file carries no secret");

    // A CZMQ certificate store over our directory (it skips `*_secret` files).
    let (erin, _) = create_certificates(&certs, "erin", &[]).unwrap();
    let erin = load_certificate(erin).unwrap();
    let stranger = zmq_auth::encode_z85_key(&zmq::CurveKeyPair::new().unwrap().public_key);
    assert_eq!(
        cz.store_lookup(&certs, &[ours.public_key(), erin.public_key(), &stranger]),
        vec![true, true, false]
    );
}

fn curve_client(ctx: &zmq::Context, server_public: &[u8], cert: &Certificate) -> zmq::Socket {
    let sock = ctx.socket(zmq::PUSH).unwrap();
    sock.set_linger(0).unwrap();
    sock.set_curve_serverkey(server_public).unwrap();
    sock.set_curve_publickey(cert.public_key_bytes()).unwrap();
    sock.set_curve_secretkey(cert.secret_key_bytes().unwrap())
        .unwrap();
    sock
}

/// A directory of CZMQ certificates named `*.key` guards a CURVE server through
/// `configure_curve`: a listed client gets in with its key as User-Id and its
/// certificate's metadata as message properties; a CZMQ certificate saved without
/// `.key` in the same directory is not listed, so its owner is refused.
#[test]
fn czmq_key_directory_guards_curve_server() {
    let Some(cz) = Czmq::build("czmq_key_directory_guards_curve_server") else {
        return;
    };
    let certs = cz.subdir("authorized");
    let bob = cz.save(
        &certs.join("bob.key"),
        &[("name", "Bob Builder"), ("email", "bob@example.org")],
    );
    let carol = cz.save(&certs.join("carol"), &[("name", "Carol")]);
    let server_dir = cz.subdir("server");
    cz.save(&server_dir.join("server.key"), &[]);
    let server_cert = load_certificate(server_dir.join("server.key_secret")).unwrap();
    let bob_cert = load_certificate(certs.join("bob.key_secret")).unwrap();
    let carol_cert = load_certificate(certs.join("carol_secret")).unwrap();
    assert_eq!(bob_cert.public_key(), bob.public);
    assert_eq!(carol_cert.public_key(), carol.public);

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", &certs).unwrap();
    let events = auth.events();
    let (server, endpoint) = bind_server(&ctx, zmq::PULL, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(server_cert.secret_key_bytes().unwrap())
            .unwrap();
    });

    // bob.key is listed.
    let client = curve_client(&ctx, server_cert.public_key_bytes(), &bob_cert);
    client.connect(&endpoint).unwrap();
    client.send("hello from bob", 0).unwrap();
    let mut msg = recv_within(&server, STEP).expect("bob (listed in bob.key) was not let in");
    assert_eq!(msg.as_str(), Some("hello from bob"));
    assert_eq!(msg.gets("User-Id"), Some(bob.public.as_str()));
    assert_eq!(
        msg.gets("name"),
        Some("Bob Builder"),
        "certificate metadata"
    );
    assert_eq!(
        msg.gets("email"),
        Some("bob@example.org"),
        "certificate metadata"
    );
    assert_eq!(
        next_event(&events, "bob"),
        AuthEvent {
            domain: String::new(),
            address: "127.0.0.1".into(),
            mechanism: Mechanism::Curve,
            status: StatusCode::Success,
            user_id: bob.public.clone(),
            reason: "OK".into(),
            identity: bob.public.clone(),
        }
    );
    drop(client);

    // `carol` (no `.key`) is not listed.
    let client = curve_client(&ctx, server_cert.public_key_bytes(), &carol_cert);
    client.connect(&endpoint).unwrap();
    client.send("hello from carol", 0).unwrap();
    let ev = next_event(&events, "carol");
    assert_eq!(
        (
            ev.mechanism,
            ev.status,
            ev.reason.as_str(),
            ev.user_id.as_str()
        ),
        (
            Mechanism::Curve,
            StatusCode::AuthenticationFailure,
            "Unknown key",
            ""
        ),
        "carol's certificate is not a `*.key` file: {ev:?}"
    );
    assert!(
        recv_within(&server, QUIET).is_none(),
        "a message from carol (not listed) arrived"
    );
    drop(client);
    drop(server);
    drop(auth);
}

/// Tricky-but-valid ZPL, as pyzmq writes it (unquoted values with spaces, `#`, `=`)
/// and as people edit it: our reader and CZMQ's `zconfig` read the same metadata.
#[test]
fn zpl_reading_agrees_with_czmq() {
    let Some(cz) = Czmq::build("zpl_reading_agrees_with_czmq") else {
        return;
    };
    let key = zmq_auth::encode_z85_key(&zmq::CurveKeyPair::new().unwrap().public_key);
    let curve = format!("curve\n    public-key = \"{key}\"\n");
    let cases: Vec<(&str, String)> = vec![
        (
            "pyzmq layout, unquoted values",
            format!(
                "#   ****  Generated on 2026-11-29 19:46:54.123456 by pyzmq  ****\n\
                 #   ZeroMQ CURVE **Secret** Certificate\n\n\
                 metadata\n    name = Alice Liddell\n    email = alice@example.org\n{curve}"
            ),
        ),
        (
            "unquoted value cut at #",
            format!("metadata\n    name = Alice # Liddell\n{curve}"),
        ),
        (
            "unquoted value with = and trailing spaces",
            format!("metadata\n    eq = a=b\n    trail = value   \n{curve}"),
        ),
        ("empty value", format!("metadata\n    empty =\n{curve}")),
        (
            "single quotes",
            format!("metadata\n    sq = 'single q'\n{curve}"),
        ),
        (
            "quoted # and a trailing comment",
            format!("metadata\n    dq = \"x # y\"   # comment\n{curve}"),
        ),
        (
            "curve before metadata",
            format!("{curve}metadata\n    name = last\n"),
        ),
        ("no metadata section", curve.clone()),
        (
            "comment lines inside sections",
            format!("metadata\n    # a comment\n    name = x\n# another\n{curve}"),
        ),
        (
            "CRLF line ends",
            format!("metadata\n    name = x\n{curve}").replace('\n', "\r\n"),
        ),
        (
            "a quote inside an unquoted value",
            format!("metadata\n    v = x\"y\n{curve}"),
        ),
        // pyzmq writes any value unquoted; these make a file both readers refuse.
        (
            "text after a quoted value",
            format!("metadata\n    v = \"quoted\" tail\n{curve}"),
        ),
        (
            "an unterminated quote",
            format!("metadata\n    v = '\n{curve}"),
        ),
    ];
    let dir = cz.subdir("zpl");
    let mut disagreements = Vec::new();
    for (i, (what, text)) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.key"));
        std::fs::write(&path, text).unwrap();
        let ours = load_certificate(&path)
            .map(|c| (c.public_key().to_string(), cert_metadata(&c)))
            .map_err(|e| e.to_string());
        let theirs = cz
            .try_load(&path)
            .map(|c| (c.public, c.metadata))
            .ok_or_else(|| "zcert_load failed".to_string());
        // Both refusing the file is agreement, whatever the messages say.
        let agree = match (&ours, &theirs) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !agree {
            disagreements.push(format!(
                "{what}:\n  ours: {ours:?}\n  czmq: {theirs:?}\n{text}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "our ZPL reader and CZMQ disagree:\n{}",
        disagreements.join("\n")
    );
}
