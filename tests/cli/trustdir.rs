//! `check`, `trust` and `revoke`: trusted-key directories.

use super::*;

// ---------------------------------------------------------------------------- check

#[test]
fn check_passes_a_clean_directory() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let out = tool(["check", p(&d.trusted)]).expect(0);
    assert!(
        out.stdout.contains("2 certificate(s), 0 problem(s)"),
        "{out:?}"
    );
    let out = tool(["check", p(&d.trusted), "--json"]).expect(0);
    assert!(out.stdout.contains("\"ok\":true"), "{out:?}");
    assert!(out.stdout.contains("\"problems\":[]"), "{out:?}");
    // Progress goes to a terminal only: nothing on a pipe.
    assert_eq!(out.stderr, "");
}

/// One problem planted in a clean directory: its name, what plants it, the file the
/// report must name, the kind, and the line (for parse errors).
type Plant = fn(&Dirs) -> PathBuf;

#[test]
fn check_finds_each_kind_of_problem_and_names_the_file() {
    if !zmq_auth::curve_available() {
        return;
    }
    let cases: Vec<(&str, Plant, &str, Option<usize>)> = vec![
        (
            "unparsable file",
            |d| {
                let f = d.trusted.join("broken.key");
                std::fs::write(&f, "curve\n    public-key = \"unterminated\n").unwrap();
                f
            },
            "parse",
            Some(2),
        ),
        (
            "bad key",
            |d| {
                let f = d.trusted.join("short.key");
                std::fs::write(&f, "metadata\ncurve\n    public-key = \"abc\"\n").unwrap();
                f
            },
            "bad-key",
            Some(3),
        ),
        (
            "invalid Z85 of the right length",
            |d| {
                let f = d.trusted.join("z85.key");
                let text = format!("curve\n    public-key = \"{}\"\n", "~".repeat(40));
                std::fs::write(&f, text).unwrap();
                f
            },
            "bad-key",
            Some(2),
        ),
        (
            "same key twice",
            |d| {
                let f = d.trusted.join("zz-alice-copy.key");
                std::fs::copy(d.keys.join("alice.key"), &f).unwrap();
                f
            },
            "duplicate",
            None,
        ),
        (
            "secret key in a .key file",
            |d| {
                let f = d.trusted.join("spare.key");
                std::fs::copy(d.keys.join("spare.key_secret"), &f).unwrap();
                f
            },
            "secret-key",
            None,
        ),
        (
            "secret certificate beside the public ones",
            |d| {
                let f = d.trusted.join("spare.key_secret");
                std::fs::copy(d.keys.join("spare.key_secret"), &f).unwrap();
                f
            },
            "secret-key",
            None,
        ),
        (
            "world-writable file",
            |d| {
                let f = d.trusted.join("alice.key");
                #[cfg(unix)]
                set_mode(&f, 0o666);
                f
            },
            "permissions",
            None,
        ),
        (
            "group-writable directory",
            |d| {
                #[cfg(unix)]
                set_mode(&d.trusted, 0o775);
                d.trusted.clone()
            },
            "permissions",
            None,
        ),
        (
            "symlink out of the directory",
            |d| {
                let f = d.trusted.join("outside.key");
                #[cfg(unix)]
                std::os::unix::fs::symlink(d.keys.join("spare.key"), &f).unwrap();
                f
            },
            "symlink",
            None,
        ),
        (
            "dangling symlink",
            |d| {
                let f = d.trusted.join("gone.key");
                #[cfg(unix)]
                std::os::unix::fs::symlink(d.trusted.join("nothing-here"), &f).unwrap();
                f
            },
            "symlink",
            None,
        ),
        (
            "certificate not named *.key",
            |d| {
                let f = d.trusted.join("spare.pub");
                std::fs::copy(d.keys.join("spare.key"), &f).unwrap();
                f
            },
            "misnamed",
            None,
        ),
    ];
    for (what, plant, kind, line) in cases {
        let d = dirs();
        let file = plant(&d);
        let out = tool(["check", p(&d.trusted)]).expect(1);
        let prefix = match line {
            Some(n) => format!("{}:{n}: {kind}: ", file.display()),
            None => format!("{}: {kind}: ", file.display()),
        };
        assert!(
            out.stdout.lines().any(|l| l.starts_with(&prefix)),
            "{what}: expected a line starting with {prefix:?} in:\n{}",
            out.stdout
        );
        let json = tool(["check", p(&d.trusted), "--json"]).expect(1);
        assert!(json.stdout.contains("\"ok\":false"), "{what}: {json:?}");
        assert!(
            json.stdout.contains(&format!("\"kind\":\"{kind}\"")),
            "{what}: {json:?}"
        );
        // No secret key of the directory's files ever shows.
        let spare = load_certificate(d.keys.join("spare.key_secret")).unwrap();
        assert!(!out.all().contains(spare.secret_key().unwrap()), "{what}");
    }
}

#[test]
fn check_of_a_missing_directory_is_exit_2() {
    let out = tool(["check", "/nonexistent/trusted"]).expect(2);
    assert!(out.stderr.contains("/nonexistent/trusted"), "{out:?}");
}

// -------------------------------------------------------------------- trust, revoke

#[test]
fn trust_then_revoke_by_key_and_by_file() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let t = p(&d.trusted);
    let spare = load_certificate(d.keys.join("spare.key")).unwrap();
    let out = tool(["trust", p(&d.keys.join("spare.key")), "--dir", t]).expect(0);
    assert!(out.stdout.contains(spare.public_key()), "{out:?}");
    let keys = load_certificates(&d.trusted).unwrap();
    assert!(keys.contains_key(spare.public_key()));
    assert_eq!(keys.len(), 3);
    assert_eq!(
        std::fs::read(d.trusted.join("spare.key")).unwrap(),
        std::fs::read(d.keys.join("spare.key")).unwrap()
    );
    // No temporary file is left behind; trusting again changes nothing.
    assert_eq!(std::fs::read_dir(&d.trusted).unwrap().count(), 3);
    let again = tool(["trust", p(&d.keys.join("spare.key")), "--dir", t]).expect(0);
    assert!(again.stdout.contains("already trusted"), "{again:?}");
    assert_eq!(std::fs::read_dir(&d.trusted).unwrap().count(), 3);
    tool(["check", t]).expect(0);

    // A secret certificate is refused, and nothing is written.
    let out = tool(["trust", p(&d.keys.join("alice.key_secret")), "--dir", t]).expect(2);
    assert!(out.stderr.contains("alice.key_secret"), "{out:?}");
    assert_eq!(std::fs::read_dir(&d.trusted).unwrap().count(), 3);

    // Revoke by Z85 key.
    tool(["revoke", spare.public_key(), "--dir", t]).expect(0);
    assert!(!load_certificates(&d.trusted)
        .unwrap()
        .contains_key(spare.public_key()));
    let out = tool(["revoke", spare.public_key(), "--dir", t]).expect(1);
    assert!(out.stdout.contains("nothing to revoke"), "{out:?}");

    // Revoke by file (here the secret half kept elsewhere: its public key is meant).
    let alice = load_certificate(d.keys.join("alice.key")).unwrap();
    tool(["revoke", p(&d.keys.join("alice.key_secret")), "--dir", t]).expect(0);
    let left = load_certificates(&d.trusted).unwrap();
    assert!(!left.contains_key(alice.public_key()));
    assert_eq!(left.len(), 1);
    assert!(
        d.keys.join("alice.key_secret").exists(),
        "only the trusted copy goes"
    );

    // Z85 keys may begin with `-`: still a key, not an option.
    let mut dash = [7u8; 32];
    dash[..4].copy_from_slice(&(63u32 * 85u32.pow(4)).to_be_bytes());
    let dash = zmq_auth::encode_z85_key(&dash);
    assert!(dash.starts_with('-'), "{dash}");
    tool(["revoke", &dash, "--dir", t]).expect(1);

    // Neither a file nor a key: exit 2, and the argument is not echoed.
    let out = tool(["revoke", "not-a-key-not-a-file", "--dir", t]).expect(2);
    assert!(!out.all().contains("not-a-key-not-a-file"), "{out:?}");
}

#[test]
fn trust_adds_the_key_suffix_and_refuses_a_taken_name() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    // A CZMQ-style public certificate named without .key.
    let czmq = Path::new(FIXTURES).join("czmq/carol");
    tool(["trust", p(&czmq), "--dir", p(&d.trusted)]).expect(0);
    let carol = load_certificate(d.trusted.join("carol.key")).unwrap();
    assert_eq!(carol.public_key(), FIXTURE_KEYS[2].1);
    // Another key under a name already in use.
    let other = d.keys.join("renamed");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(d.keys.join("spare.key"), other.join("alice.key")).unwrap();
    let out = tool(["trust", p(&other.join("alice.key")), "--dir", p(&d.trusted)]).expect(2);
    assert!(out.stderr.contains("alice.key"), "{out:?}");
    let alice = load_certificate(d.keys.join("alice.key")).unwrap();
    assert_eq!(
        load_certificate(d.trusted.join("alice.key"))
            .unwrap()
            .public_key(),
        alice.public_key()
    );
}

#[test]
fn revoke_names_a_secret_key_for_what_it_is() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let alice = load_certificate(d.keys.join("alice.key_secret")).unwrap();
    let secret = alice.secret_key().unwrap();
    let out = tool(["revoke", secret, "--dir", p(&d.trusted)]).expect(2);
    assert!(
        !out.all().contains(secret),
        "echoed the secret key: {out:?}"
    );
    assert!(out.stderr.contains("secret key"), "{out:?}");
    assert!(load_certificates(&d.trusted)
        .unwrap()
        .contains_key(alice.public_key()));
}
